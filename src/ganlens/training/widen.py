"""Grow a trained StyleGAN2 generator (and its discriminator) to more channels without changing a single
image or logit (Net2Net-style); :func:`widen_discriminator` covers D.

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
from ganlens.generators.layers import EqualizedLinear
from ganlens.training.discriminator import DConv, DiscriminatorConfig, StyleGAN2Discriminator


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
    discriminator_widening: DiscriminatorWidenResult | None = None  # None: D copied unchanged, or none


def _refuse_narrowing(before: dict[int, int], after: dict[int, int], widths: str, network: str) -> None:
    """Raise naming every resolution (in the dicts' order) that ``after`` gives fewer channels."""
    worst = ", ".join(f"{r} px {before[r]} → {after[r]}" for r in before if after[r] < before[r])
    if worst:
        raise GanlensError(f"{widths} would narrow the {network} ({worst}); widening only adds channels")


def _param_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


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
    _refuse_narrowing(before, after, f"channel_base {channel_base} / channel_max {channel_max}", "generator")
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
            if ".torgb." in name or ".skip." in name:  # weight gain 1/√I: keep the old products
                new[:, : old.shape[1]] *= math.sqrt(new.shape[1] / old.shape[1])
    wide.load_state_dict(new_state, strict=True)
    wide.eval().requires_grad_(False)
    diff = _max_image_diff(G, wide, check_samples, seed) if check_samples > 0 else float("nan")
    return WidenResult(wide, before, after, _param_count(G), _param_count(wide), diff)


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
    channel_base: int | None = None,
    channel_max: int | None = None,
    d_channel_base: int | None = None,
    d_channel_max: int | None = None,
    seed: int = 0,
    max_mb: float = 25.0,
    overwrite: bool = False,
    tolerance: float = 1e-4,
) -> WidenResult:
    """Widen a zoo or exported StyleGAN2 and write it (``config.json`` + ``model.safetensors``), with
    its ``discriminator/`` (widened too where ``d_channel_base``/``d_channel_max`` say so, else
    copied) where it has one, so that ``--init-g OUT`` trains on from it. A width left at None keeps
    the model's.

    Raises:
        GanlensError: as :func:`widen_stylegan2` and :func:`widen_discriminator`; D widths for a
            model without a discriminator; the result exceeds ``max_mb`` (fp32, 10^6 bytes) or draws
            images (or gives logits) more than ``tolerance`` away from the model's; ``out_dir`` holds
            a model and ``overwrite`` is False.
    """
    from ganlens.training.export import DISCRIMINATOR_DIR, check_size, load_model_and_discriminator

    G, D = load_model_and_discriminator(model)
    if G.arch != "stylegan2":
        raise GanlensError(f"widening needs a stylegan2 generator; {str(model)!r} is a {G.arch}")
    if D is None and (d_channel_base is not None or d_channel_max is not None):
        raise GanlensError(f"{str(model)!r} has no {DISCRIMINATOR_DIR}/ folder, so there is no D to widen")
    r = widen_stylegan2(
        G,
        channel_base=channel_base if channel_base is not None else G.config.channel_base,
        channel_max=channel_max if channel_max is not None else G.config.channel_max,
        seed=seed,
    )
    check_size("the widened G", r.generator, max_mb)
    if not r.max_abs_diff <= tolerance:
        raise GanlensError(  # a bug, not a user error: the copy must draw the same images
            f"the widened generator draws different images (largest difference {r.max_abs_diff:.2e})"
        )
    dr = None
    if D is not None and (d_channel_base is not None or d_channel_max is not None):
        dr = widen_discriminator(
            D,
            channel_base=d_channel_base if d_channel_base is not None else D.config.channel_base,
            channel_max=d_channel_max if d_channel_max is not None else D.config.channel_max,
            seed=seed,
        )
        check_size("the widened D", dr.discriminator, max_mb)
        if not dr.max_abs_diff <= tolerance:
            raise GanlensError(
                f"the widened discriminator scores differently (largest difference {dr.max_abs_diff:.2e})"
            )
        D = dr.discriminator
    r.generator.save_pretrained(str(out_dir), overwrite=overwrite)
    if D is not None:
        D.save_pretrained(Path(out_dir) / DISCRIMINATOR_DIR, overwrite=overwrite)
    return replace(
        r,
        discriminator=Path(out_dir) / DISCRIMINATOR_DIR if D is not None else None,
        discriminator_widening=dr,
    )


@dataclass(frozen=True)
class DiscriminatorWidenResult:
    """The widened discriminator, its channels per resolution before and after, and the check."""

    discriminator: StyleGAN2Discriminator
    channels_before: dict[int, int]
    channels_after: dict[int, int]
    params_before: int
    params_after: int
    max_abs_diff: float  # largest |logit difference| over the check's images


def _d_channels(config: DiscriminatorConfig) -> dict[int, int]:
    """Feature maps per resolution of a discriminator, from its input resolution down to 4 px."""
    r, out = config.resolution, {}
    while r >= 4:
        out[r] = config.channels(r)
        r //= 2
    return out


def widen_discriminator(
    D: StyleGAN2Discriminator,
    *,
    channel_base: int,
    channel_max: int,
    seed: int = 0,
    check_images: int = 16,
) -> DiscriminatorWidenResult:
    """A copy of the residual StyleGAN2 ``D`` with ``channel_base``/``channel_max``, giving the same logits.

    As for the generator, new channels are computed with fresh weights and read with zero weights;
    kept weights are scaled by √(fan_in' / fan_in) against the equalised-lr gain. Two places need
    more: the epilogue's conv reads the minibatch-stddev maps after the features, so their columns
    move to the end of the wider input; and that stddev feature is a mean over all 4-px channels,
    so the new 4-px channels are copies of the old ones (the mean is then unchanged), which is why
    the 4-px width must grow by a whole factor.

    Args:
        D: the discriminator, on the CPU.
        channel_base, channel_max: the new widths, ``min(channel_base // r, channel_max)`` at r px.
        seed: seeds the fresh weights and the check's images.
        check_images: random images (a multiple of the mbstd group) scored by both; 0 skips the check.

    Raises:
        GanlensError: the new widths are narrower somewhere, or the 4-px width grows by a
            non-integer factor while the minibatch-stddev layer is on.
    """
    cfg = D.config
    new_cfg = replace(cfg, channel_base=int(channel_base), channel_max=int(channel_max))
    before, after = _d_channels(cfg), _d_channels(new_cfg)
    _refuse_narrowing(
        before, after, f"d channel_base {channel_base} / channel_max {channel_max}", "discriminator"
    )
    c4, c4_new = before[4], after[4]
    if cfg.mbstd_num_channels > 0 and c4_new % c4 != 0:
        raise GanlensError(
            f"d channel_base {channel_base} / channel_max {channel_max} gives {c4_new} channels at 4 px; "
            f"with the minibatch-stddev layer on it must be a multiple of the current {c4}"
        )
    torch.manual_seed(seed)
    wide = StyleGAN2Discriminator(new_cfg)
    old_mods, last = dict(D.named_modules()), f"b{min(D.block_resolutions)}"
    mbstd = cfg.mbstd_num_channels
    with torch.no_grad():
        for name, new in wide.named_modules():
            if not isinstance(new, (DConv, EqualizedLinear)):
                continue
            old = old_mods[name]
            w_old, w_new = old.weight.detach().float(), new.weight
            o, i = w_old.shape[:2]
            o2, i2 = w_new.shape[:2]
            if name == "b4.fc":  # reads the (C, 4, 4) map flattened: widen per channel
                w_old, w_new = w_old.reshape(o, c4, -1), w_new.view(o2, c4_new, -1)
            cols = list(range(w_old.shape[1]))  # where the old input columns go
            if name == "b4.conv" and mbstd:  # features, then the stddev maps
                cols = list(range(c4)) + [c4_new + f for f in range(mbstd)]
            scale = math.sqrt(i2 / i)
            rows = w_new[:o]
            rows.zero_()
            rows[:, cols] = w_old * scale
            if name in (f"{last}.conv1", f"{last}.skip"):  # 4-px outputs: copies, for the stddev mean
                for j in range(o, o2):
                    w_new[j].zero_()
                    w_new[j][cols] = w_old[j % o] * scale
            if getattr(old, "bias", None) is not None:
                new.bias[:o] = old.bias.detach().float()
                if name == f"{last}.conv1":
                    new.bias[o:] = old.bias.detach().float()[torch.arange(o, o2) % o]
    wide.eval().requires_grad_(False)
    diff = _max_logit_diff(D, wide, check_images, seed) if check_images > 0 else float("nan")
    return DiscriminatorWidenResult(wide, before, after, _param_count(D), _param_count(wide), diff)


@torch.no_grad()
def _max_logit_diff(a: StyleGAN2Discriminator, b: StyleGAN2Discriminator, n: int, seed: int) -> float:
    c = a.config
    n = max(n // c.mbstd_group_size, 1) * c.mbstd_group_size
    gen = torch.Generator().manual_seed(seed)
    img = torch.rand(n, c.img_channels, c.resolution, c.resolution, generator=gen) * 2 - 1
    was_training = a.training
    a.eval()
    diff = float((a(img) - b(img)).abs().max())
    a.train(was_training)
    return diff
