"""mGANprior: multi-code GAN inversion with adaptive channel importance (SPEC §4.5).

The generator is split at composition layer ℓ (``G.synthesis_head`` / ``G.synthesis_tail``).
N codes give N features ``F_n = head(code_n, ℓ)`` of shape (C, H, W); each has a channel
importance ``α_n ∈ R^C`` (per image, shape (B, N, C), initialised to 1/N). The image is::

    x = tail( Σ_n F_n ⊙ α_n / N , tail_code, ℓ )

The ``/ N`` is kept from the official code for bit-compatibility: with α = 1/N the composed
feature is the mean feature divided by N. For PGGAN this global scale is harmless (pixel norm
follows); for generators without such normalisation (DCGAN with frozen BatchNorm statistics)
the optimisation simply learns larger α. ``alpha_init="one"`` starts α at 1 instead (composed =
mean feature), which converges faster on such models.

Style-based models: each code is a w+ (``space="w+"``) or one w broadcast to all rows
(``space="w"``); the tail layers (which need styles too) take the **mean of the N codes**
(``tail_code="mean"``, our choice, unconfirmed against the paper) or their own learned code
(``tail_code="learned"``, initialised to the mean). Projection models (DCGAN/PGGAN) optimise z
and ignore the tail code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ganlens.errors import GanlensError
from ganlens.generators.base import Generator
from ganlens.inversion.common import (
    check_lr,
    check_positive_int,
    check_target,
    default_degradation,
    default_loss,
    make_optimizer,
    resolve_device,
)
from ganlens.inversion.degradations import Degradation
from ganlens.inversion.losses import ReconstructionLoss
from ganlens.inversion.optimize import check_space, initial_latents, latents_to_codes
from ganlens.inversion.result import InversionResult

TAIL_CODES = ("mean", "learned")
ALPHA_INITS = ("1/n", "one")


@dataclass(frozen=True)
class MganpriorPreset:
    """Official script defaults per task (PGGAN-256 layer numbering) [MGP task scripts]."""

    layer: int
    n_codes: int
    steps: int
    vgg: float = 1.0


# SPEC §4.5 table: script defaults ℓ / N / iterations (inpainting uses vgg 0.1).
OFFICIAL_PRESETS = {
    "reconstruction": MganpriorPreset(layer=6, n_codes=30, steps=3000),
    "colorization": MganpriorPreset(layer=4, n_codes=20, steps=1500),
    "super-resolution": MganpriorPreset(layer=6, n_codes=30, steps=2000),
    "inpainting": MganpriorPreset(layer=4, n_codes=30, steps=3000, vgg=0.1),
}


def default_layer(G: Generator, task: str = "reconstruction") -> int:
    """A composition layer for this model when none is given, following the official defaults.

    The official PGGAN-256 scripts compose at ℓ = 6 (a 16×16 feature, R/16) for reconstruction
    and super-resolution and at ℓ = 4 (8×8, R/32) for colorization and inpainting. We pick the
    last layer whose feature is at most that wide (layer 1 when even the first is wider), so
    the same rule gives ℓ = 6 / 4 on PGGAN-256 and ℓ = 1 (4×4) on a 64-px DCGAN.
    """
    want = G.resolution // (32 if task in ("colorization", "inpainting") else 16)
    best = 1
    for layer in range(1, G.num_split_layers):
        if G.feature_shape(layer)[-1] <= want:
            best = layer
    return best


def compose(
    G: Generator,
    codes: Tensor,
    alpha: Tensor,
    layer: int,
    *,
    tail_code: Tensor | None = None,
    noise_mode: str = "const",
) -> Tensor:
    """Render mGANprior images.

    Args:
        codes: (B, N, *code_shape).
        alpha: (B, N, C) channel importance (C = ``G.feature_shape(layer)[0]``).
        layer: composition layer ℓ.
        tail_code: (B, *code_shape) styles for the tail; default the mean of ``codes``.

    Returns:
        (B, 3, R, R) images.
    """
    G.check_split_layer(layer)
    b, n = codes.shape[:2]
    c = G.feature_shape(layer)[0]
    if tuple(codes.shape[2:]) != tuple(G.code_shape):
        raise GanlensError(
            f"multi-codes have shape {tuple(codes.shape)}; "
            f"expected (B, N, {', '.join(map(str, G.code_shape))})"
        )
    if tuple(alpha.shape) != (b, n, c):
        raise GanlensError(
            f"alpha has shape {tuple(alpha.shape)}; expected (B, N, C) = ({b}, {n}, {c}) at layer {layer}"
        )
    feats = G.synthesis_head(codes.reshape(b * n, *codes.shape[2:]), layer, noise_mode=noise_mode)
    feats = feats.view(b, n, *feats.shape[1:])  # (B, N, C, H, W)
    composed = (feats * alpha[..., None, None]).sum(dim=1) / n  # (B, C, H, W), official /N
    if tail_code is None:
        tail_code = codes.mean(dim=1)
    return G.synthesis_tail(composed, tail_code, layer, noise_mode=noise_mode)


def mganprior_invert(
    G: Generator,
    target: Tensor,
    *,
    n_codes: int = 20,
    layer: int | None = None,
    steps: int = 300,
    lr: float | None = None,
    alpha_lr: float | None = None,
    optimizer: str = "adam",
    space: str | None = None,
    tail_code: str = "mean",
    alpha_init: str = "1/n",
    loss: ReconstructionLoss | None = None,
    degradation: Degradation | None = None,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> InversionResult:
    """Multi-code inversion of a batch of images.

    Args:
        G: generator with ``synthesis_head``/``synthesis_tail``.
        target: (B, 3, R, R) in [-1, 1] (or an observation in the degradation's space).
        n_codes: N, codes per image.
        layer: composition layer ℓ (default :func:`default_layer`).
        steps: optimisation steps.
        lr: learning rate of the codes (Adam default 0.1, tuned on digiface-dcgan64; SGD 1.0, official).
        alpha_lr: learning rate of α (default: ``lr``).
        optimizer: "adam" or "sgd" (official: SGD, lr 1).
        space: optimised space per code: "z" (projection models, default) or "w"/"w+" (style-based,
            default "w+").
        tail_code: style-based tail styles: "mean" of the codes or a "learned" code.
        alpha_init: "1/n" (official) or "one".
        loss, degradation, device, generator, progress: as :func:`ganlens.inversion.optimize.invert`.

    Returns:
        InversionResult with ``multi_codes`` (B, N, *code_shape), ``alpha`` (B, N, C), ``layer``,
        ``codes`` = the mean code (an approximation for single-code tools) and ``images``.
    """
    t0 = time.perf_counter()
    check_positive_int("n_codes", n_codes)
    check_positive_int("steps", steps, lo=0)
    space = space or ("w+" if G.style_based else "z")
    check_space(G, space)
    if tail_code not in TAIL_CODES:
        raise GanlensError(f"tail code {tail_code!r} is not allowed; use one of {', '.join(TAIL_CODES)}")
    if alpha_init not in ALPHA_INITS:
        raise GanlensError(f"alpha init {alpha_init!r} is not allowed; use one of {', '.join(ALPHA_INITS)}")
    layer = default_layer(G) if layer is None else layer
    G.check_split_layer(layer)
    lr = check_lr(lr if lr is not None else (1.0 if optimizer == "sgd" else 0.1))
    alpha_lr = check_lr(alpha_lr if alpha_lr is not None else lr)
    device = resolve_device(device, G)
    degradation = default_degradation(degradation).to(device)
    loss = default_loss(loss)
    tgt = check_target(G, target, degradation, device)
    b = tgt.shape[0]
    c = G.feature_shape(layer)[0]

    lat = initial_latents(G, space, b * n_codes, init="random", generator=generator, device=device)
    lat = lat.view(b, n_codes, *lat.shape[1:]).requires_grad_(True)
    a0 = 1.0 / n_codes if alpha_init == "1/n" else 1.0
    alpha = torch.full((b, n_codes, c), a0, device=device, requires_grad=True)
    params = [{"params": [lat], "lr": lr}, {"params": [alpha], "lr": alpha_lr}]
    tail = None
    if tail_code == "learned" and G.style_based:
        with torch.no_grad():
            tail = _codes(G, space, lat).mean(dim=1)
        tail.requires_grad_(True)
        params.append({"params": [tail], "lr": lr})
    opt = make_optimizer(optimizer, params, lr)

    history: list[float] = []
    best_loss = torch.full((b,), float("inf"), device=device)
    best_lat, best_alpha = lat.detach().clone(), alpha.detach().clone()
    best_tail = tail.detach().clone() if tail is not None else None
    for _ in tqdm(range(steps), desc=f"mganprior N={n_codes} l={layer}", disable=not progress, leave=False):
        opt.zero_grad(set_to_none=True)
        img = compose(G, _codes(G, space, lat), alpha, layer, tail_code=tail)
        per = loss.per_sample(degradation(img), tgt)
        with torch.no_grad():
            better = per < best_loss
            best_loss = torch.where(better, per.detach(), best_loss)
            best_lat[better], best_alpha[better] = lat.detach()[better], alpha.detach()[better]
            if tail is not None:
                best_tail[better] = tail.detach()[better]
        history.append(float(per.detach().mean()))
        per.sum().backward()
        opt.step()
    with torch.no_grad():
        img = compose(G, _codes(G, space, lat), alpha, layer, tail_code=tail)
        per = loss.per_sample(degradation(img), tgt)
        better = per < best_loss
        best_loss = torch.where(better, per, best_loss)
        best_lat[better], best_alpha[better] = lat[better], alpha[better]
        if tail is not None:
            best_tail[better] = tail[better]
        codes = _codes(G, space, best_lat)  # (B, N, *code_shape)
        raw = compose(G, codes, best_alpha, layer, tail_code=best_tail)
        images = degradation.postprocess(raw, target.to(device))
    return InversionResult(
        codes=codes.mean(dim=1).cpu(),
        images=images.cpu(),
        method="mganprior",
        losses=history,
        seconds=time.perf_counter() - t0,
        multi_codes=codes.cpu(),
        alpha=best_alpha.cpu(),
        layer=layer,
        final_losses=best_loss.cpu(),
        raw_images=raw.cpu(),
        extra={
            "space": space,
            "n_codes": n_codes,
            "optimizer": optimizer,
            "lr": lr,
            "alpha_lr": alpha_lr,
            "tail_code": best_tail.cpu() if best_tail is not None else None,
        },
    )


def _codes(G: Generator, space: str, lat: Tensor) -> Tensor:
    """(B, N, *latent) → (B, N, *code_shape)."""
    b, n = lat.shape[:2]
    return latents_to_codes(G, space, lat.reshape(b * n, *lat.shape[2:])).reshape(b, n, *G.code_shape)
