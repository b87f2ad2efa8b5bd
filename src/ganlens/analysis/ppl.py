"""Perceptual path length (PPL; Karras et al. 2019, StyleGAN §4.2; the StyleGAN2 metric).

How much the image changes, perceptually, for a small step along a latent path: for pairs of
latents (z0, z1) and t ∈ [0, 1] (``sampling="full"``) or t = 0 (``"end"``), the distance between
the images at t and t + ε, divided by ε². In W the path is a straight line between the mapped
codes; in Z it is a great circle (slerp), as in the official metric. The per-pair values are heavy
tailed, so the reported PPL is their mean after dropping those below the 1st and above the 99th
percentile. The distance is LPIPS-VGG16 in the official metric (``--lpips PATH``: its weights are
not shipped); any ``distance(a, b) → (N,)`` works in the library.

As in the official code: each pair shares its noise maps (``noise_const``, redrawn per batch), images
are drawn in float32, optionally centre-cropped (``crop``: the FFHQ face crop, rows 3/8–7/8 and
columns 2/8–6/8), averaged down to at most 256 px by an integer factor, and a 1-channel image is
repeated to 3 channels. Conditional models draw a random class per pair.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from ganlens.errors import GanlensError

SPACES = ("w", "z")
SAMPLINGS = ("end", "full")


@dataclass
class PPLResult:
    """``value``: the PPL; ``distances``: every pair's d/ε² (before the percentile filter)."""

    value: float
    distances: np.ndarray
    space: str
    sampling: str
    epsilon: float
    crop: bool
    seconds: float

    def to_dict(self) -> dict:
        d = self.distances
        return {
            "ppl": self.value,
            "space": self.space,
            "sampling": self.sampling,
            "epsilon": self.epsilon,
            "crop": self.crop,
            "n": int(len(d)),
            "median": float(np.median(d)),
            "p1": float(np.percentile(d, 1)),
            "p99": float(np.percentile(d, 99)),
            "seconds": round(self.seconds, 1),
        }


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between the directions of ``a`` and ``b`` (N, D), unit-length result."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    ortho = b - cos * a  # the part of b orthogonal to a
    ortho = ortho / ortho.norm(dim=-1, keepdim=True)
    angle = t * torch.acos(cos)
    out = a * torch.cos(angle) + ortho * torch.sin(angle)
    return out / out.norm(dim=-1, keepdim=True)


def filtered_mean(distances: np.ndarray) -> float:
    """Mean of the values between the 1st (lower) and 99th (higher) percentiles, both kept."""
    lo = np.percentile(distances, 1, method="lower")
    hi = np.percentile(distances, 99, method="higher")
    return float(distances[(distances >= lo) & (distances <= hi)].mean())


def prepare_for_distance(img: Tensor, *, crop: bool) -> Tensor:
    """The official pre-processing: optional face crop, integer-factor average down to ≤ 256 px,
    gray to RGB. (N, C, R, R) → (N, 3, r, r)."""
    if crop:
        c = img.shape[2] // 8
        img = img[:, :, 3 * c : 7 * c, 2 * c : 6 * c]
    factor = img.shape[2] // 256
    if factor > 1:
        n, ch, h, w = img.shape
        img = img.reshape(n, ch, h // factor, factor, w // factor, factor).mean(dim=(3, 5))
    return img.repeat(1, 3, 1, 1) if img.shape[1] == 1 else img


@torch.no_grad()
def perceptual_path_length(
    G,
    distance: Callable[[Tensor, Tensor], Tensor],
    *,
    n: int = 100_000,
    space: str = "w",
    sampling: str = "end",
    epsilon: float = 1e-4,
    crop: bool = False,
    batch_size: int = 16,
    seed: int = 0,
    c: int | None = None,
    progress: bool = True,
) -> PPLResult:
    """PPL of ``G`` under ``distance`` over ``n`` latent pairs (see the module docstring).

    Args:
        G: any ganlens generator; ``space="w"`` needs a style-based one.
        distance: (a, b) images in [-1, 1] → (N,) distances, e.g. :class:`ganlens.inversion.losses.LPIPS`.
        n: pairs (the official metric uses 100,000; ≥ 100 here so the percentiles mean something).
        space: ``"w"`` (a line between mapped codes) or ``"z"`` (slerp between the z).
        sampling: ``"end"`` (t = 0, the StyleGAN2 paper's) or ``"full"`` (t ~ U(0, 1)).
        epsilon: the step (1e-4).
        crop: the FFHQ face crop before the distance.
        seed: seeds the latents, t, classes and noise maps.
        c: conditional models: this class for every pair (None: a random class per pair).
    """
    if space not in SPACES:
        raise GanlensError(f"PPL space {space!r} is not allowed; use {' or '.join(SPACES)}")
    if sampling not in SAMPLINGS:
        raise GanlensError(f"PPL sampling {sampling!r} is not allowed; use {' or '.join(SAMPLINGS)}")
    if space == "w" and not G.style_based:
        raise GanlensError(f"{G.arch} has no w space; use space 'z'")
    if not (isinstance(n, int) and n >= 100):
        raise GanlensError(f"number of pairs {n!r} must be an integer >= 100")
    if not 0 < epsilon <= 0.1:
        raise GanlensError(f"epsilon {epsilon!r} must be in (0, 0.1]")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise GanlensError(f"batch size {batch_size!r} must be a positive integer")
    gen = torch.Generator().manual_seed(int(seed))
    dev = G.device
    c_dim = G.c_dim
    if c is not None and not c_dim:
        raise GanlensError(f"class {c}: this model is unconditional; a class is for conditional models")
    if c is not None:
        G.labels(c, 1)  # a one-line error for a class out of range
    noise = list(G.noise_buffers())
    saved = [b.clone() for b in noise]
    out: list[np.ndarray] = []
    t0 = time.perf_counter()
    try:
        for s in tqdm(range(0, n, batch_size), desc="PPL", unit="batch", disable=not progress):
            b = min(batch_size, n - s)
            t = torch.rand(b, 1, generator=gen) if sampling == "full" else torch.zeros(b, 1)
            z0, z1 = torch.randn(2, b, G.z_dim, generator=gen)
            kw = {}
            if c_dim:
                cls = torch.full((b,), c) if c is not None else torch.randint(0, c_dim, (b,), generator=gen)
                kw = {"c": cls.repeat(2)}
            for buf in noise:  # the pair shares its noise maps; a new draw per batch
                buf.copy_(torch.randn(buf.shape, generator=gen))
            if space == "w":
                w = G.mapping(torch.cat([z0, z1]).to(dev), **kw)  # (2b, num_ws, w_dim)
                w0, w1 = w[:b], w[b:]
                tt = t.to(dev).view(b, 1, 1)
                codes = torch.cat([w0.lerp(w1, tt), w0.lerp(w1, tt + epsilon)])
            else:
                zt = torch.cat([slerp(z0, z1, t), slerp(z0, z1, t + epsilon)]).to(dev)
                codes = G.mapping(zt, **kw)
            img = G.synthesis(codes, noise_mode="const").float()
            img = prepare_for_distance(img, crop=crop)
            d = distance(img[:b], img[b:]).float().reshape(-1) / epsilon**2
            out.append(d.cpu().numpy().astype(np.float64))
    finally:
        for buf, old in zip(noise, saved):
            buf.copy_(old)
    distances = np.concatenate(out)
    return PPLResult(
        value=filtered_mean(distances),
        distances=distances,
        space=space,
        sampling=sampling,
        epsilon=float(epsilon),
        crop=crop,
        seconds=time.perf_counter() - t0,
    )
