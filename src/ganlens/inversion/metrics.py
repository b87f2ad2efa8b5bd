"""Image-quality metrics on uint8 pictures, as saved (SPEC §4.6).

* PSNR = 10·log10(255² / MSE) on uint8 RGB after the same conversion as saved images
  (:func:`ganlens.utils.io.to_uint8`); identical images give ``inf`` (JSON writers store
  ``null``), see :func:`psnr`.
* SSIM (Wang et al. 2004) on RGB: Gaussian window 11 (σ 1.5, truncate 3.5), K1 0.01, K2 0.03,
  data range 255, population covariance, reflect padding, border of 5 px dropped, mean over the
  three channels — the same as ``skimage.metrics.structural_similarity(a, b, channel_axis=-1,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ganlens.errors import GanlensError
from ganlens.utils.io import to_uint8


def _as_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """(C, H, W)/(N, C, H, W) tensor in [-1, 1] or HWC/NHWC uint8 → uint8 array (HWC or NHWC)."""
    if isinstance(img, torch.Tensor):
        return to_uint8(img)
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise GanlensError(f"metric inputs must be uint8 arrays or [-1, 1] tensors, got {arr.dtype}")
    return arr


def psnr(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float | list[float]:
    """PSNR in dB between two images (one float) or two batches (a list), on uint8.

    Identical images give ``math.inf``.
    """
    x, y = _as_uint8(a).astype(np.float64), _as_uint8(b).astype(np.float64)
    if x.shape != y.shape:
        raise GanlensError(f"cannot compare images of shapes {x.shape} and {y.shape}")
    if x.ndim == 4:
        return [psnr_uint8(xi, yi) for xi, yi in zip(x, y)]
    return psnr_uint8(x, y)


def psnr_uint8(x: np.ndarray, y: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float | list[float]:
    """SSIM between two images (one float) or two batches (a list), on uint8 RGB."""
    x, y = _as_uint8(a), _as_uint8(b)
    if x.shape != y.shape:
        raise GanlensError(f"cannot compare images of shapes {x.shape} and {y.shape}")
    if x.ndim == 4:
        return [ssim_uint8(xi, yi) for xi, yi in zip(x, y)]
    return ssim_uint8(x, y)


def gaussian_filter(v: np.ndarray, *, sigma: float, truncate: float) -> np.ndarray:
    """2-D separable Gaussian blur with half-sample symmetric borders (scipy.ndimage's "reflect")."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    p = np.pad(v, radius, mode="symmetric")
    n = 2 * radius + 1
    rows = sum(k[i] * p[i : i + p.shape[0] - n + 1, :] for i in range(n))  # (H, W + 2r)
    return sum(k[i] * rows[:, i : i + rows.shape[1] - n + 1] for i in range(n))


def ssim_uint8(x: np.ndarray, y: np.ndarray, *, data_range: float = 255.0, sigma: float = 1.5) -> float:
    """SSIM of two HWC (or HW) arrays, mean over channels."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    truncate = 3.5
    pad = int(truncate * sigma + 0.5)  # window 11 for σ 1.5
    if min(x.shape[:2]) < 2 * pad + 1:
        raise GanlensError(
            f"images of size {x.shape[1]}×{x.shape[0]} are too small for SSIM (need ≥ {2 * pad + 1} px)"
        )
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for ch in range(x.shape[2]):
        a, b = x[..., ch], y[..., ch]

        def f(v: np.ndarray) -> np.ndarray:
            return gaussian_filter(v, sigma=sigma, truncate=truncate)

        ua, ub = f(a), f(b)
        vaa, vbb, vab = f(a * a) - ua * ua, f(b * b) - ub * ub, f(a * b) - ua * ub
        s = ((2 * ua * ub + c1) * (2 * vab + c2)) / ((ua**2 + ub**2 + c1) * (vaa + vbb + c2))
        vals.append(s[pad:-pad, pad:-pad].mean())
    return float(np.mean(vals))


def finite_or_none(v: float) -> float | None:
    """For JSON: ``inf``/``nan`` become None."""
    return None if not math.isfinite(v) else round(float(v), 4)
