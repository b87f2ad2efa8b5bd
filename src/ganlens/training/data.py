"""Training images as one uint8 tensor, and a resumable, shardable minibatch order.

Accepted inputs: a ToonFaces render (folder or zip; read with its cached uint8 loader
:func:`ganlens.data.toonfaces.load_images_tensor`), a folder of images (PNG/JPEG, searched
recursively, sorted by path; a folder with ``images/`` beside ``labels/``/``sketches/``, e.g. a
render still in progress, uses ``images/`` only), a ``.zip`` of images, or a ``.npy`` / ``.npz``
(key ``images``) uint8 array of shape (N, H, W, C) or (N, C, H, W).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ganlens.errors import GanlensError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def _from_array(arr: np.ndarray, source: str) -> Tensor:
    if arr.ndim != 4 or arr.dtype != np.uint8:
        raise GanlensError(
            f"{source!r} holds an array of shape {arr.shape} and dtype {arr.dtype}; "
            "expected uint8 (N, H, W, C)"
        )
    if arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    arr = np.ascontiguousarray(arr)
    with warnings.catch_warnings():  # a read-only memory map is fine: training never writes to the images
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)  # (N, C, H, W)


def image_root(path: Path) -> Path:
    """A ToonFaces-like folder trains on ``images/`` only, not on the label maps and sketches."""
    if (path / "images").is_dir() and any((path / n).exists() for n in ("labels", "sketches")):
        return path / "images"
    return path


def _decode(data: bytes | Path, *, mode: str, resolution: int, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
            a = np.asarray(im.convert(mode))
    except OSError as e:
        raise GanlensError(f"cannot read image {name!r}: {e}") from None
    if a.shape[0] != resolution or a.shape[1] != resolution:
        raise GanlensError(
            f"image {name!r} is {a.shape[1]}x{a.shape[0]}; this run needs {resolution}x{resolution}"
        )
    return a if a.ndim == 3 else a[:, :, None]


def load_images(
    path: str | Path,
    *,
    resolution: int,
    img_channels: int = 3,
    shard: tuple[int, int] = (0, 1),
    progress: bool = False,
) -> Tensor:
    """Load training images as a uint8 tensor (N, C, R, R).

    Args:
        path: image folder, ``.zip``, or ``.npy`` / ``.npz`` file.
        resolution: required size; every image must be ``resolution`` × ``resolution``.
        img_channels: 3 (RGB) or 1 (grayscale).
        shard: ``(rank, world_size)``: keep images ``rank, rank + world, ...`` (DDP data shards).
    Raises:
        GanlensError: missing path, no images, wrong size or channels.
    """
    path = Path(path)
    rank, world = shard
    mode = "RGB" if img_channels == 3 else "L"
    if is_toonfaces(path):
        from ganlens.data.toonfaces import load_images_tensor

        images = load_images_tensor(path, progress=progress)[rank::world]
        return _check(images, path, resolution=resolution, img_channels=img_channels, shard=shard)
    if not path.exists():
        raise GanlensError(
            f"training data {str(path)!r} does not exist; give an image folder or a .npy/.npz file"
        )
    if path.is_file():
        try:
            if path.suffix == ".zip":
                images = _load_zip(path, mode=mode, resolution=resolution, shard=shard, progress=progress)
                rank, world = 0, 1
            elif path.suffix == ".npz":
                with np.load(path) as z:
                    if "images" not in z:
                        raise GanlensError(f"{str(path)!r} has no 'images' array; keys: {list(z.keys())}")
                    images = _from_array(z["images"], str(path))
            elif path.suffix == ".npy":
                images = _from_array(np.load(path, mmap_mode="r")[rank::world], str(path))
                rank, world = 0, 1
            else:
                raise GanlensError(f"training data {str(path)!r} is not a folder, .zip, .npy or .npz")
        except (ValueError, OSError, zipfile.BadZipFile) as e:
            raise GanlensError(f"cannot read training data {str(path)!r}: {e}") from None
        images = images[rank::world]
    else:
        root = image_root(path)
        files = folder_images(root)[rank::world]
        if not files:
            raise GanlensError(f"training folder {str(root)!r} has no images ({', '.join(IMAGE_SUFFIXES)})")
        images = _stack(files, lambda f: f, mode=mode, resolution=resolution, progress=progress)
    return _check(images, path, resolution=resolution, img_channels=img_channels, shard=shard)


def folder_images(root: Path) -> list[Path]:
    """The image files below ``root``, in training order (sorted by path)."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def zip_images(zf: zipfile.ZipFile) -> list[str]:
    """The image members of a zip, in training order (a ToonFaces zip: ``images/`` only)."""
    names = sorted(n for n in zf.namelist() if Path(n).suffix.lower() in IMAGE_SUFFIXES)
    if any(n.startswith("images/") for n in names):
        names = [n for n in names if n.startswith("images/")]
    return names


def is_toonfaces(path: Path) -> bool:
    """A finished ToonFaces render (folder with ``schema.json``, or its zip): use its cached loader."""
    if path.is_dir():
        return (path / "schema.json").is_file() or (path / "toonfaces.zip").is_file()
    if path.suffix == ".zip" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return "schema.json" in zf.namelist()
    return False


def _check(
    images: Tensor, path: Path, *, resolution: int, img_channels: int, shard: tuple[int, int]
) -> Tensor:
    n, c, h, w = images.shape
    if n == 0:
        raise GanlensError(f"training data {str(path)!r} gives no images for shard {shard}")
    if (h, w) != (resolution, resolution):
        raise GanlensError(
            f"training images in {str(path)!r} are {w}x{h}; this run needs {resolution}x{resolution}"
        )
    if c != img_channels:
        raise GanlensError(
            f"training images in {str(path)!r} have {c} channels; the model needs {img_channels}"
        )
    return images


def _stack(items: list, read, *, mode: str, resolution: int, progress: bool) -> Tensor:
    iterator = items
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, desc="loading images", unit="img", leave=False, mininterval=5.0)
    arrays = [_decode(read(it), mode=mode, resolution=resolution, name=str(it)) for it in iterator]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, C, R, R)


def _load_zip(path: Path, *, mode: str, resolution: int, shard: tuple[int, int], progress: bool) -> Tensor:
    with zipfile.ZipFile(path) as zf:
        names = zip_images(zf)[shard[0] :: shard[1]]
        if not names:
            raise GanlensError(f"zip {str(path)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return _stack(names, zf.read, mode=mode, resolution=resolution, progress=progress)


class EpochSampler:
    """Minibatch indices for step ``i`` from a per-epoch permutation seeded by (seed, epoch).

    The order depends only on (seed, step), so a resumed run draws exactly the batches it
    would have drawn without the interruption.
    """

    def __init__(self, n: int, batch: int, *, seed: int) -> None:
        if n <= 0 or batch <= 0:
            raise GanlensError(f"sampler needs images ({n}) and a positive batch ({batch})")
        self.n, self.batch, self.seed = n, batch, seed
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def _perm_for(self, epoch: int) -> Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._epoch = torch.randperm(self.n, generator=g), epoch
        return self._perm

    def indices(self, step: int) -> Tensor:
        start = step * self.batch
        out = []
        while len(out) < self.batch:
            pos = start + len(out)
            epoch, offset = divmod(pos, self.n)
            perm = self._perm_for(epoch)
            take = min(self.batch - len(out), self.n - offset)
            out.extend(perm[offset : offset + take].tolist())
        return torch.tensor(out, dtype=torch.long)
