"""Safe file writing and image conversion helpers shared by every tool."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganlens.errors import GanlensError


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    A crash mid-write never leaves a truncated file at ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files (and so do some writers that replace the file, e.g. safetensors);
    # give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask
    os.chmod(tmp_path, mode)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """``tensors`` (and string ``metadata``) in the safetensors format, the same bytes every time.

    The safetensors library writes the metadata entries in a random order (a hash map), so two
    saves of the same weights would differ and so would their sha256. Here the header is written
    again with the metadata first and sorted; the tensors' data is left as it is."""
    from safetensors.torch import save

    raw = save(tensors, metadata=metadata or None)
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    canonical = ({"__metadata__": dict(sorted(meta.items()))} if meta else {}) | header
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data that follows starts 8-byte aligned
    return len(text).to_bytes(8, "little") + text + raw[8 + n :]


def write_safetensors(
    path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Write :func:`safetensors_bytes` to ``path`` atomically."""
    write_bytes(path, safetensors_bytes(tensors, metadata))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def load_npz(path: str | os.PathLike[str], what: str) -> dict[str, np.ndarray]:
    """Every array of an .npz file (no pickles), or a one-line error naming ``what`` it should be.

    Raises:
        GanlensError: the file does not exist or is not a readable .npz.
    """
    path = Path(path)
    if not path.is_file():
        raise GanlensError(f"{what} {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise GanlensError(f"{what} {str(path)!r} is not a readable .npz: {e}") from None


def prepare_out_dir(out: str | os.PathLike[str], *, overwrite: bool, resume: bool = False) -> Path:
    """Create an output folder, refusing to reuse a non-empty one unless asked.

    Raises:
        GanlensError: the folder exists, is not empty, and neither ``overwrite`` nor ``resume`` is set.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GanlensError(f"output path {str(out)!r} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not (overwrite or resume):
        raise GanlensError(f"output folder {str(out)!r} is not empty; pass --overwrite to replace its files")
    out.mkdir(parents=True, exist_ok=True)
    return out


def to_uint8(img: torch.Tensor, *, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """Convert images from [lo, hi] to uint8 HWC (or NHWC), the official way: scale, +0.5, clip.

    Args:
        img: (C, H, W) or (N, C, H, W) float tensor.
    """
    x = img.detach().float().cpu()
    x = (x - lo) * (255.0 / (hi - lo)) + 0.5
    x = x.clamp(0, 255).to(torch.uint8)
    if x.ndim == 4:
        return x.permute(0, 2, 3, 1).numpy()
    return x.permute(1, 2, 0).numpy()


def save_image(path: str | os.PathLike[str], img: torch.Tensor | np.ndarray) -> None:
    """Save one (C, H, W) [-1, 1] tensor or an HWC uint8 array as PNG/JPEG, atomically."""
    arr = to_uint8(img) if isinstance(img, torch.Tensor) else img
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    with atomic_path(path) as tmp:
        fmt = "JPEG" if Path(path).suffix.lower() in (".jpg", ".jpeg") else "PNG"
        Image.fromarray(arr).save(tmp, format=fmt)


def make_grid(imgs: torch.Tensor, *, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """Tile (N, C, H, W) images into one (C, H', W') image (a torchvision-free make_grid)."""
    n, c, h, w = imgs.shape
    ncol = min(nrow, n)
    nrows = (n + ncol - 1) // ncol
    grid = imgs.new_full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, y : y + h, x : x + w] = imgs[i]
    return grid
