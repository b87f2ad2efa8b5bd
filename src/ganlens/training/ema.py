"""Exponential moving average of generator weights, with ADA's half-life and ramp-up, its
post-hoc form (a run's generator re-averaged from its checkpoints with another half-life), and the
uniform average of several generators of one config (a "model soup")."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from ganlens.generators.base import Generator


def ema_beta(*, batch_size: int, cur_nimg: int, ema_kimg: float, ema_rampup: float | None) -> float:
    """Per-step decay so that the EMA has a half-life of ``ema_kimg`` thousand images.

    With ``ema_rampup`` the half-life is capped at ``cur_nimg · ema_rampup`` early in training
    (β = 0 at the very first step, i.e. G_ema starts as a copy of G), as in ADA.
    """
    ema_nimg = ema_kimg * 1000.0
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """``p_ema ← p + β (p_ema − p)`` for parameters; buffers (w_avg, noise maps) are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


@dataclass(frozen=True)
class PosthocEMA:
    """A generator re-averaged from a run's checkpoints (:func:`posthoc_ema`) and where it came from."""

    generator: Generator
    half_life_kimg: float
    checkpoints: tuple[Path, ...]
    kimg: tuple[float, ...]

    @property
    def start_share(self) -> float:
        """The weight of the oldest checkpoint's G_ema in the result: the part of the average that
        still comes from the run's original half-life (before the kept checkpoints)."""
        return 0.5 ** ((self.kimg[-1] - self.kimg[0]) / self.half_life_kimg)


@torch.no_grad()
def posthoc_ema(checkpoints: Sequence[str | Path], half_life_kimg: float) -> PosthocEMA:
    """Re-average a run's generator with another half-life after training, from its checkpoints
    (oldest first): start from the first checkpoint's G_ema, then for each later checkpoint fold in
    the raw G of the interval, taken as the mean of the raw Gs at its two ends (the trapezoid rule),
    with ``β = 0.5^(Δkimg / half_life_kimg)``. Buffers (``w_avg``) are the last raw G's, as in
    :func:`update_ema`.

    Training updates G_ema every step; this sees G only at the checkpoints and weighs each interval
    evenly, so it is close when the spacing is small against the half-life.
    With the run's own half-life it reproduces the run's G_ema: on a ToonFaces run with checkpoints
    4 kimg apart and a 20-kimg half-life, to within 6 % of how far G_ema moved over them. A longer
    half-life than the run's is not a true EMA (the oldest G_ema already holds its history at the
    run's rate, so a longer half-life re-weights only what came after it), and the shorter the
    half-life, the less the oldest G_ema weighs (:attr:`PosthocEMA.start_share`).

    Raises:
        GanlensError: fewer than 2 checkpoints, a half-life that is not positive, checkpoints out of
            order or repeated, or generators of different configs.
    """
    from ganlens.errors import GanlensError
    from ganlens.training.checkpoint import checkpoint_generator, read_checkpoint_state

    if not half_life_kimg > 0:
        raise GanlensError(f"half-life {half_life_kimg!r} kimg must be positive")
    if len(checkpoints) < 2:
        raise GanlensError(f"post-hoc EMA needs at least 2 checkpoints; got {len(checkpoints)}")
    states = [read_checkpoint_state(c) for c in checkpoints]
    kimg = [ck.nimg / 1000.0 for ck in states]
    for a, b in zip(states, states[1:], strict=False):
        if b.nimg <= a.nimg:
            raise GanlensError(
                f"checkpoints must be in training order: {b.path.name} ({b.nimg / 1000:.2f} kimg) comes after "
                f"{a.path.name} ({a.nimg / 1000:.2f} kimg)"
            )
        if b.state.get("g_config") != a.state.get("g_config"):
            raise GanlensError(f"{a.path.name} and {b.path.name} hold generators of different configs")
    avg = checkpoint_generator(states[0].path, "G_ema")
    prev = checkpoint_generator(states[0].path, "G")
    for i in range(1, len(states)):
        cur = checkpoint_generator(states[i].path, "G")
        beta = 0.5 ** ((kimg[i] - kimg[i - 1]) / half_life_kimg)
        for p_avg, p0, p1 in zip(avg.parameters(), prev.parameters(), cur.parameters(), strict=True):
            p_avg.copy_(torch.lerp((p0 + p1) / 2, p_avg, beta))
        prev = cur
    for b_avg, b in zip(avg.buffers(), prev.buffers(), strict=True):
        b_avg.copy_(b)
    return PosthocEMA(avg.eval(), float(half_life_kimg), tuple(ck.path for ck in states), tuple(kimg))


@torch.no_grad()
def average_generators(generators: Sequence[Generator]) -> Generator:
    """The uniform weight average of generators of one config (a "model soup", Wortsman et al.
    2022): every parameter and buffer (``w_avg`` too) is the mean of theirs, summed in float64 and
    cast back to its dtype. It only makes sense for generators that share a recent ancestor, e.g.
    exports of runs restarted from the same weights; unrelated generators average to noise.

    Raises:
        GanlensError: fewer than 2 generators, or generators of different architectures or configs.
    """
    from ganlens.errors import GanlensError

    if len(generators) < 2:
        raise GanlensError(f"an average needs at least 2 generators; got {len(generators)}")
    first = generators[0]
    for i, g in enumerate(generators[1:], start=1):
        if g.arch != first.arch or g.config != first.config:
            raise GanlensError(
                f"generator {i + 1} ({g.arch}) has a different config from generator 1 ({first.arch}); "
                "only generators of one config can be averaged"
            )
    avg = copy.deepcopy(first).eval()
    states = [g.state_dict() for g in generators]
    for name, t in avg.state_dict().items():
        if t.is_floating_point():
            t.copy_((sum(s[name].double() for s in states) / len(states)).to(t.dtype))
    return avg
