"""The NVIDIA projector schedule for style-based generators (SPEC §4.2), written from the spec.

* w statistics from ``w_avg_samples`` z drawn with ``RandomState(123)``: ``w_avg`` (mean) and
  ``w_std = sqrt(Σ ||w − w_avg||² / n)``.
* Variables: one w per image (init ``w_avg``; or a w+ with ``w_plus=True``) and, when
  ``optimize_noise``, the generator's stored noise maps (re-initialised N(0, 1)). Adam (0.9, 0.999).
* For ``t = step / steps``: ``lr = initial_lr · ramp``, ``ramp = min(1, (1 − t)/0.25)`` through
  ``0.5 − 0.5 cos(π ramp)``, times ``min(1, t/0.05)`` (:func:`projector_lr`).
* Latent noise ``N(0, 1) · w_std · 0.05 · max(0, 1 − t/0.75)²`` added to w each step
  (:func:`latent_noise_scale`).
* Loss = reconstruction loss (LPIPS in the original) + 1e5 × :func:`noise_regularizer`; after each
  step every noise map is renormalised to zero mean and unit variance.

Noise maps are shared by a whole batch, so with ``optimize_noise`` the images are projected one
at a time. The generator's noise buffers are restored afterwards; the optimised maps are returned
in ``result.extra["noise"]`` (one list per image) because the reconstruction depends on them.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from ganlens.errors import GanlensError
from ganlens.generators.base import Generator
from ganlens.inversion.common import (
    check_positive_int,
    check_target,
    default_degradation,
    default_loss,
    resolve_device,
)
from ganlens.inversion.degradations import Degradation, Inpaint
from ganlens.inversion.losses import ReconstructionLoss
from ganlens.inversion.result import InversionResult


def projector_lr(t: float, *, initial_lr: float = 0.1, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """Learning rate at progress ``t`` in [0, 1]: cosine ramp-down over the last ``rampdown``,
    linear ramp-up over the first ``rampup``."""
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / rampup)
    return initial_lr * ramp


def latent_noise_scale(
    t: float, w_std: float, *, initial_noise_factor: float = 0.05, ramp_length: float = 0.75
) -> float:
    """Std of the noise added to w at progress ``t``: ``w_std · factor · max(0, 1 − t/ramp)²``."""
    return w_std * initial_noise_factor * max(0.0, 1.0 - t / ramp_length) ** 2


def noise_regularizer(noise_maps: list[Tensor]) -> Tensor:
    """Σ over maps and pyramid levels of the squared mean auto-correlation at a 1-px shift in x and y.

    Each map is viewed as (1, 1, H, W); after each level it is 2×2 average-pooled until ≤ 8 px.
    """
    reg = torch.zeros(())
    for v in noise_maps:
        x = v.reshape(1, 1, v.shape[-2], v.shape[-1])
        reg = reg.to(x.device)
        while True:
            reg = reg + (x * torch.roll(x, shifts=1, dims=3)).mean() ** 2
            reg = reg + (x * torch.roll(x, shifts=1, dims=2)).mean() ** 2
            if x.shape[2] <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    return reg


def renormalize_noise(noise_maps: list[Tensor]) -> None:
    """In place: every map to zero mean, unit variance."""
    with torch.no_grad():
        for v in noise_maps:
            v -= v.mean()
            v *= v.square().mean().rsqrt()


def w_statistics(
    G: Generator, *, samples: int = 10_000, seed: int = 123, device=None
) -> tuple[Tensor, float]:
    """(w_avg (w_dim,), w_std) from ``samples`` z drawn by ``RandomState(seed)`` (NVIDIA's way)."""
    check_positive_int("w_avg_samples", samples, lo=2)
    z = torch.from_numpy(np.random.RandomState(seed).randn(samples, G.z_dim)).float().to(device or G.device)
    with torch.no_grad():
        ws = torch.cat([G.mapping(c)[:, 0] for c in z.split(1000)])  # (samples, w_dim)
    w_avg = ws.mean(dim=0)
    w_std = float(((ws - w_avg).square().sum() / samples).sqrt())
    return w_avg, w_std


def project(
    G: Generator,
    target: Tensor,
    *,
    steps: int = 1000,
    initial_lr: float = 0.1,
    w_avg_samples: int = 10_000,
    initial_noise_factor: float = 0.05,
    noise_ramp_length: float = 0.75,
    lr_rampdown_length: float = 0.25,
    lr_rampup_length: float = 0.05,
    regularize_noise_weight: float = 1e5,
    w_plus: bool = False,
    optimize_noise: bool = True,
    loss: ReconstructionLoss | None = None,
    degradation: Degradation | None = None,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    callback=None,
) -> InversionResult:
    """Project images into w (or w+) with the NVIDIA schedule.

    Args:
        G: a style-based generator.
        target: (N, 3, R, R) in [-1, 1].
        steps: optimisation steps (NVIDIA: 1000).
        loss: reconstruction term (NVIDIA: LPIPS; pass ``ReconstructionLoss(perceptual=1,
            perceptual_model=LPIPS.from_file(...))``). Default pixel MSE.
        w_plus: optimise a w+ (rosinality's ``--w_plus``) instead of one w.
        optimize_noise: optimise the stored noise maps (images are then projected one by one).
        generator: torch.Generator for the latent noise and noise-map initialisation.
        callback: ``callback(step, lr, noise_scale)`` called every step (for tests and plots).

    Returns:
        InversionResult (method "projector"); ``extra["w_std"]``, ``extra["noise"]``.
    """
    t0 = time.perf_counter()
    if not G.style_based:
        raise GanlensError(
            f"the projector needs a style-based model (w space); {G.arch} has only z — use space z"
        )
    check_positive_int("steps", steps)
    device = resolve_device(device, G)
    degradation = default_degradation(degradation).to(device)
    loss = default_loss(loss)
    tgt = check_target(G, target, degradation, device)
    w_avg, w_std = w_statistics(G, samples=w_avg_samples, device=device)
    noise_bufs = [b for b in G.noise_buffers()] if optimize_noise else []
    saved = [b.detach().clone() for b in noise_bufs]
    groups = [list(range(tgt.shape[0]))] if not noise_bufs else [[i] for i in range(tgt.shape[0])]
    codes, raws, histories, finals, noises = [], [], [], [], []
    try:
        for idx in groups:
            deg = degradation.select(idx) if isinstance(degradation, Inpaint) else degradation
            ws, hist, final, noise = _project_batch(
                G,
                tgt[idx],
                deg,
                loss,
                w_avg,
                w_std,
                noise_bufs,
                steps=steps,
                initial_lr=initial_lr,
                initial_noise_factor=initial_noise_factor,
                noise_ramp_length=noise_ramp_length,
                lr_rampdown_length=lr_rampdown_length,
                lr_rampup_length=lr_rampup_length,
                regularize_noise_weight=regularize_noise_weight,
                w_plus=w_plus,
                generator=generator,
                progress=progress,
                callback=callback,
            )
            with torch.no_grad():
                raws.append(G.synthesis(ws, noise_mode="const").cpu())
            codes.append(ws.cpu())
            histories.append(hist)
            finals.append(final.cpu())
            noises.append(noise)
    finally:
        with torch.no_grad():
            for b, s in zip(noise_bufs, saved):
                b.requires_grad_(False)
                b.copy_(s)
    raw = torch.cat(raws)
    images = degradation.postprocess(raw.to(device), target.to(device)).cpu()
    history = [float(np.mean(v)) for v in zip(*histories)]
    return InversionResult(
        codes=torch.cat(codes),
        images=images,
        method="projector",
        losses=history,
        seconds=time.perf_counter() - t0,
        final_losses=torch.cat(finals),
        raw_images=raw,
        extra={"w_std": w_std, "noise": noises if noise_bufs else None, "w_plus": w_plus},
    )


def _project_batch(
    G,
    tgt,
    degradation,
    loss,
    w_avg,
    w_std,
    noise_bufs,
    *,
    steps,
    initial_lr,
    initial_noise_factor,
    noise_ramp_length,
    lr_rampdown_length,
    lr_rampup_length,
    regularize_noise_weight,
    w_plus,
    generator,
    progress,
    callback,
):
    n = tgt.shape[0]
    shape = (n, G.num_ws, G.w_dim) if w_plus else (n, 1, G.w_dim)
    w_opt = w_avg.detach().view(1, 1, -1).expand(shape).clone().requires_grad_(True)
    with torch.no_grad():
        for b in noise_bufs:
            b.copy_(torch.randn(b.shape, generator=generator).to(b))
            b.requires_grad_(True)
    opt = torch.optim.Adam([w_opt, *noise_bufs], betas=(0.9, 0.999), lr=initial_lr)
    hist: list[float] = []
    per = None
    for step in tqdm(range(steps), desc="project", disable=not progress, leave=False):
        t = step / steps
        scale = latent_noise_scale(
            t, w_std, initial_noise_factor=initial_noise_factor, ramp_length=noise_ramp_length
        )
        lr = projector_lr(t, initial_lr=initial_lr, rampdown=lr_rampdown_length, rampup=lr_rampup_length)
        for group in opt.param_groups:
            group["lr"] = lr
        if callback is not None:
            callback(step, lr, scale)
        w_noise = torch.randn(w_opt.shape, generator=generator).to(w_opt) * scale
        ws = (w_opt + w_noise).expand(n, G.num_ws, G.w_dim)
        img = G.synthesis(ws, noise_mode="const")
        per = loss.per_sample(degradation(img), tgt)
        total = per.sum()
        if noise_bufs:
            total = total + regularize_noise_weight * noise_regularizer(noise_bufs)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        renormalize_noise(noise_bufs)
        hist.append(float(per.detach().mean()))
    ws = w_opt.detach().expand(n, G.num_ws, G.w_dim).clone()
    with torch.no_grad():
        final = loss.per_sample(degradation(G.synthesis(ws, noise_mode="const")), tgt)
    noise = [b.detach().cpu().clone() for b in noise_bufs]
    return ws, hist, final, noise
