"""What a direction does: render distance sweeps and measure where and how much the image changes.

For each direction k, sample i and distance d (d ≠ 0) the change is ``|G(edit(c_i, k, d)) − G(c_i)|``
in 8-bit units (0–255), divided by |d|:

* ``change``: mean over pixels, channels, samples and all non-zero distances (per unit distance);
* ``change_plus`` / ``change_minus``: the same over positive / negative distances only;
* ``heatmap`` (H, W): mean over channels, samples and non-zero distances, so it shows *where*
  the direction acts (pose moves edges everywhere, colour changes big flat areas, background
  directions light up the border).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from ganlens.errors import GanlensError
from ganlens.sefa.directions import Directions
from ganlens.sefa.edit import edit_codes, synthesize
from ganlens.sefa.factorize import LayerSpec
from ganlens.utils.io import save_npz, to_uint8


@dataclass
class Sweep:
    """Rendered edits of N samples along K directions at S distances, plus change measurements.

    Attributes:
        indices: (K,) direction indices that were rendered.
        distances: (S,) distances (the columns).
        images: (K, N, S, H, W, C) uint8, downscaled to at most ``max_size`` pixels.
        base: (N, H, W, C) uint8 images of the unedited codes (same size as ``images``).
        change, change_plus, change_minus: (K,) mean |Δpixel| per unit distance, 0–255 scale.
        heatmaps: (K, H, W) float32 mean |Δpixel| per unit distance, 0–255 scale.
    """

    indices: np.ndarray
    distances: np.ndarray
    images: np.ndarray
    base: np.ndarray
    change: np.ndarray
    change_plus: np.ndarray
    change_minus: np.ndarray
    heatmaps: np.ndarray

    def metrics(self) -> dict[str, list[float]]:
        return {
            "change_per_unit": [float(v) for v in self.change],
            "change_per_unit_plus": [float(v) for v in self.change_plus],
            "change_per_unit_minus": [float(v) for v in self.change_minus],
        }


def check_distances(start: float, end: float, steps: int) -> np.ndarray:
    """``linspace(start, end, steps)`` after checking the range (official sefa.py sweep)."""
    if not (isinstance(steps, int) and steps >= 2):
        raise GanlensError(f"steps {steps!r} must be an integer >= 2")
    if steps > 101:
        raise GanlensError(f"steps {steps} is too many for a report; allowed 2 to 101")
    if not (np.isfinite(start) and np.isfinite(end)) or start >= end:
        raise GanlensError(f"distance range {start} to {end} is not allowed; start must be smaller than end")
    return np.linspace(start, end, steps)


def _shrink(x: Tensor, max_size: int) -> Tensor:
    """Downscale (N, C, H, W) so that H ≤ max_size (area filter); no-op if already small."""
    h = x.shape[-1]
    if h <= max_size:
        return x
    return F.interpolate(x, size=(max_size, max_size), mode="area")


@torch.no_grad()
def render_sweep(
    G,
    codes: Tensor,
    directions: Directions,
    *,
    indices: Sequence[int] | None = None,
    distances: Sequence[float] = tuple(np.linspace(-3, 3, 11)),
    layers: LayerSpec = None,
    batch_size: int = 32,
    max_size: int = 256,
    noise_mode: str = "const",
    progress: bool = True,
    cache_dir: str | Path | None = None,
    cache_key: str = "",
) -> Sweep:
    """Render every (direction, sample, distance) image and measure the change.

    Args:
        G: generator; ``codes`` (N, *code_shape) are on its device.
        directions: directions to render; ``indices`` picks which (default: all).
        distances: the sweep (columns).
        layers: w+ rows to edit (default: the directions' layers).
        batch_size: images per synthesis call.
        max_size: stored images are downscaled to at most this size.
        cache_dir: if given, each finished direction is saved there (atomically) and reused by a
            later call with the same ``cache_key`` (makes long renders resumable).
        cache_key: identifies the settings; a cached direction with another key is recomputed.

    Returns:
        :class:`Sweep`.
    """
    idx = (
        list(range(len(directions))) if indices is None else [directions.check_index(int(i)) for i in indices]
    )
    dist = np.asarray(list(distances), dtype=np.float64)
    if dist.ndim != 1 or len(dist) == 0:
        raise GanlensError("distances must be a non-empty list of numbers")
    N, S, K = len(codes), len(dist), len(idx)
    base_f = synthesize(G, codes, batch_size=batch_size, noise_mode=noise_mode)  # (N, C, R, R) in [-1, 1]
    scale = 255.0 / (G.image_range[1] - G.image_range[0])
    base_small = _shrink(base_f, max_size)
    base = to_uint8(base_small, lo=G.image_range[0], hi=G.image_range[1])
    h = base.shape[1]
    images = np.zeros((K, N, S, h, h, base.shape[3]), dtype=np.uint8)
    heat = np.zeros((K, h, h), dtype=np.float64)
    plus, minus, both = np.zeros(K), np.zeros(K), np.zeros(K)
    nz = np.abs(dist) > 1e-12
    n_plus, n_minus = int(np.sum(dist > 1e-12)), int(np.sum(dist < -1e-12))

    # all (direction, distance) codes for one direction at once, synthesised in batches
    bar = tqdm(total=K * N * S, desc="render", unit="img", disable=not progress, leave=False)
    for a, k in enumerate(idx):
        part = None if cache_dir is None else Path(cache_dir) / f"direction_{k:04d}.npz"
        if part is not None and _load_part(part, cache_key, a, images, heat, (plus, minus, both)):
            bar.update(N * S)
            continue
        edited = torch.cat(
            [edit_codes(G, codes, directions, index=k, distance=float(d), layers=layers) for d in dist]
        )  # (S·N, *code_shape), distance-major
        for s0 in range(0, len(edited), batch_size):
            img = G.synthesis(edited[s0 : s0 + batch_size], noise_mode=noise_mode).float().cpu()
            rows = torch.arange(s0, s0 + len(img))
            s_idx, n_idx = (rows // N).numpy(), (rows % N).numpy()
            images[a, n_idx, s_idx] = to_uint8(
                _shrink(img, max_size), lo=G.image_range[0], hi=G.image_range[1]
            )
            delta = (img - base_f[n_idx]).abs() * scale  # (B, C, R, R) in 0..255 units
            per_img = delta.mean(dim=(1, 2, 3)).numpy()
            d_abs = np.abs(dist[s_idx])
            ok = nz[s_idx]
            if ok.any():
                w = 1.0 / d_abs[ok]
                both[a] += float(np.sum(per_img[ok] * w))
                plus[a] += float(np.sum((per_img[ok] * w)[dist[s_idx][ok] > 0]))
                minus[a] += float(np.sum((per_img[ok] * w)[dist[s_idx][ok] < 0]))
                hm = _shrink(delta[torch.from_numpy(ok)].mean(dim=1, keepdim=True), max_size)[:, 0]
                heat[a] += (hm.numpy() * w[:, None, None]).sum(0)
            bar.update(len(img))
        if part is not None:
            save_npz(part, key=np.array(cache_key), images=images[a], heat=heat[a],
                     sums=np.array([plus[a], minus[a], both[a]]))  # fmt: skip
    bar.close()
    n_nz = max(int(nz.sum()) * N, 1)
    return Sweep(
        indices=np.asarray(idx),
        distances=dist,
        images=images,
        base=base,
        change=both / n_nz,
        change_plus=plus / max(n_plus * N, 1),
        change_minus=minus / max(n_minus * N, 1),
        heatmaps=(heat / n_nz).astype(np.float32),
    )


def _load_part(path: Path, key: str, a: int, images: np.ndarray, heat: np.ndarray, sums: tuple) -> bool:
    """Fill row ``a`` from a cached direction if it exists and matches; False otherwise."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key or f["images"].shape != images[a].shape:
                return False
            images[a], heat[a] = f["images"], f["heat"]
            for arr, v in zip(sums, f["sums"]):
                arr[a] = float(v)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return False  # a damaged cache file is simply recomputed
    return True


def heatmap_overlay(
    heat: np.ndarray,
    background: np.ndarray,
    *,
    vmax: float | None = None,
    alpha: float = 0.65,
    size: int = 128,
    cmap: str = "inferno",
) -> np.ndarray:
    """Colour-map a (H, W) heat map and blend it over a grey version of ``background`` (H, W, C uint8).

    Returns an (S, S, 3) uint8 image, upscaled (nearest) to at least ``size`` pixels.
    """
    from matplotlib import colormaps

    vmax = float(heat.max()) if vmax is None else float(vmax)
    norm = np.clip(heat / vmax, 0, 1) if vmax > 0 else np.zeros_like(heat)
    colour = colormaps[cmap](norm)[..., :3]  # (H, W, 3) in [0, 1]
    bg = background.astype(np.float64) / 255.0
    grey = bg.mean(axis=2, keepdims=True) if bg.shape[2] == 3 else bg
    out = alpha * colour + (1 - alpha) * np.repeat(grey, 3, axis=2)
    out = (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
    rep = max(1, -(-size // out.shape[0]))
    return np.repeat(np.repeat(out, rep, axis=0), rep, axis=1)
