"""Grow a trained StyleGAN2 generator to more channels without changing a single image (Net2Net-style).

A short training budget (a lent GPU for minutes, a CPU session) cannot train a wider generator from
scratch to the quality of a narrow one that has trained for a million images. Widening keeps what
the narrow one learnt and adds capacity: every new channel is computed (fresh random weights, as a
new layer would start) but read with zero weights, so the widened generator draws exactly the same
images until training moves those zeros.

Per conv layer, with old widths (O, I) and new (O', I'):

* ``weight`` (O', I', 3, 3): the old block in ``[:O, :I]``, zeros in ``[:O, I:]`` (old outputs
  ignore the new inputs, and their demodulation sums are unchanged), fresh rows in ``[O:]``;
* ``affine`` rows and ``bias`` entries of the new channels: fresh (affine bias 1, conv bias 0);
* ToRGB: zeros on the new inputs, and the old weights times √(I'/I), because ToRGB scales its
  styles by 1/√I (``ToRGBLayer.weight_gain``);
* the 4×4 ``const``: the old channels, then fresh ones.

The mapping network, ``w_avg`` and the noise buffers are copied unchanged (w_dim does not change).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ganlens.errors import GanlensError
from ganlens.generators import build_generator
from ganlens.generators.base import Generator


@dataclass(frozen=True)
class WidenResult:
    """The widened generator, its channels per resolution before and after, the check, and (from
    :func:`write_widened`) where the copied discriminator went (None: not written, or none to copy)."""

    generator: Generator
    channels_before: dict[int, int]
    channels_after: dict[int, int]
    params_before: int
    params_after: int
    max_abs_diff: float  # largest |image difference| over the check's samples, in [-1, 1] units
    discriminator: Path | None = None


def _channels(config) -> dict[int, int]:
    """Feature maps per block resolution of a StyleGAN2 config."""
    return {r: config.nf(r) for r in config.block_resolutions}


def widen_stylegan2(
    G: Generator,
    *,
    channel_base: int,
    channel_max: int,
    seed: int = 0,
    check_samples: int = 8,
) -> WidenResult:
    """A copy of the StyleGAN2 ``G`` with ``channel_base``/``channel_max``, drawing the same images.

    Args:
        G: a StyleGAN2 generator (any resolution), on the CPU.
        channel_base, channel_max: the new widths, ``min(channel_base // r, channel_max)`` at r px;
            no resolution may get fewer channels than it has.
        seed: seeds the fresh weights of the new channels.
        check_samples: images (z from ``seed``, a different w per layer so that every ws row is
            checked) compared between ``G`` and the result; 0 skips the check.

    Returns:
        :class:`WidenResult`; ``generator`` is in eval mode, on the CPU, float32.

    Raises:
        GanlensError: ``G`` is not a StyleGAN2, or the new widths are narrower somewhere.
    """
    if G.arch != "stylegan2":
        raise GanlensError(f"widening needs a stylegan2 generator; this one is a {G.arch}")
    try:
        config = replace(G.config, channel_base=int(channel_base), channel_max=int(channel_max))
    except GanlensError as e:
        raise GanlensError(f"channel_base {channel_base} / channel_max {channel_max}: {e}") from None
    before, after = _channels(G.config), _channels(config)
    narrower = {r: (before[r], after[r]) for r in before if after[r] < before[r]}
    if narrower:
        worst = ", ".join(f"{r} px {a} → {b}" for r, (a, b) in sorted(narrower.items()))
        raise GanlensError(
            f"channel_base {channel_base} / channel_max {channel_max} would narrow the generator ({worst}); "
            "widening only adds channels"
        )
    torch.manual_seed(seed)  # the fresh weights of the new channels
    wide = build_generator(config.to_dict())
    old_state = {k: v.detach().float().cpu() for k, v in G.state_dict().items()}
    new_state = wide.state_dict()
    for name, new in new_state.items():
        old = old_state[name]
        if old.shape == new.shape:
            new.copy_(old)
            continue
        if old.ndim != new.ndim or any(o > n for o, n in zip(old.shape, new.shape)):
            raise GanlensError(f"cannot widen {name}: {tuple(old.shape)} → {tuple(new.shape)}")
        lead = tuple(slice(0, s) for s in old.shape)
        new[lead] = old
        if name.endswith(".weight") and new.ndim == 4:  # a conv layer's or a ToRGB's (O, I, k, k)
            new[: old.shape[0], old.shape[1] :] = 0.0  # old outputs ignore the new inputs
            if ".torgb." in name:
                new[:, : old.shape[1]] *= math.sqrt(new.shape[1] / old.shape[1])
    wide.load_state_dict(new_state, strict=True)
    wide.eval().requires_grad_(False)
    diff = _max_image_diff(G, wide, check_samples, seed) if check_samples > 0 else float("nan")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return WidenResult(wide, before, after, count(G), count(wide), diff)


@torch.no_grad()
def _max_image_diff(a: Generator, b: Generator, n: int, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n * a.num_ws, a.z_dim, generator=gen)
    was_training = a.training
    a.eval()
    ws = a.mapping(z)[:, 0].reshape(n, a.num_ws, -1)  # (n, num_ws, w_dim): a different w on every row
    img_a = a.synthesis(ws, noise_mode="const")
    img_b = b.synthesis(ws, noise_mode="const")
    a.train(was_training)
    return float((img_a - img_b).abs().max())


def write_widened(
    model: str | Path,
    out_dir: str | Path,
    *,
    channel_base: int,
    channel_max: int,
    seed: int = 0,
    max_mb: float = 25.0,
    overwrite: bool = False,
    tolerance: float = 1e-4,
) -> WidenResult:
    """Widen a zoo or exported StyleGAN2 and write it (``config.json`` + ``model.safetensors``), with a
    copy of the model's ``discriminator/`` where it has one, so that ``--init-g OUT`` trains on from it.

    Raises:
        GanlensError: as :func:`widen_stylegan2`; the result exceeds ``max_mb`` (fp32, 10^6 bytes) or
            draws images more than ``tolerance`` away from the model's; ``out_dir`` holds a model
            and ``overwrite`` is False.
    """
    from ganlens.training.export import DISCRIMINATOR_DIR, check_size, model_discriminator
    from ganlens.zoo import load_model

    G = load_model(model)
    r = widen_stylegan2(G, channel_base=channel_base, channel_max=channel_max, seed=seed)
    check_size("the widened G", r.generator, max_mb)
    if not r.max_abs_diff <= tolerance:
        raise GanlensError(  # a bug, not a user error: the copy must draw the same images
            f"the widened generator draws different images (largest difference {r.max_abs_diff:.2e})"
        )
    D = model_discriminator(model)
    r.generator.save_pretrained(str(out_dir), overwrite=overwrite)
    if D is not None:
        D.save_pretrained(Path(out_dir) / DISCRIMINATOR_DIR, overwrite=overwrite)
    return replace(r, discriminator=Path(out_dir) / DISCRIMINATOR_DIR if D is not None else None)
