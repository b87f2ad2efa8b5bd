"""Reading real photos and framing them for a generator.

:func:`read_image_array` accepts any common image: RGB, RGBA/LA (composited on white by default),
grayscale, 16-bit, palette (with or without transparency), CMYK. :func:`frame_image` crops a
square (the central ``crop`` fraction of the shorter side, shifted by ``offset`` fractions of the
image size) and resizes it (area when shrinking, bicubic when enlarging) to the model resolution.

DigiFace-1M faces fill most of the frame while FFHQ/CelebA-aligned photos show hair, neck and
background, so :data:`DEFAULT_FACE_CROP` / :data:`DEFAULT_FACE_OFFSET` (chosen by looking at
``shared/data/faces`` next to samples of ``digiface-dcgan64``) zoom in on the face.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ganlens.errors import GanlensError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
RGBA_MODES = ("white", "black", "ignore")
DEFAULT_FACE_CROP = 0.75
DEFAULT_FACE_OFFSET = (0.0, 0.04)


def read_image_array(path: str | Path, *, what: str = "image", rgba: str = "white") -> np.ndarray:
    """Read an image file into an (H, W, 3) float32 array in [0, 1].

    Args:
        rgba: how to handle transparency: composite on "white" or "black", or "ignore" alpha.

    Raises:
        GanlensError: the file is missing or not a readable image.
    """
    if rgba not in RGBA_MODES:
        raise GanlensError(f"rgba mode {rgba!r} is not allowed; use one of {', '.join(RGBA_MODES)}")
    path = Path(path)
    if not path.is_file():
        raise GanlensError(f"{what} file {str(path)!r} does not exist")
    try:
        with Image.open(path) as im:
            im.load()
            arr = _pil_to_float(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise GanlensError(f"cannot read {what} {str(path)!r}: {type(e).__name__}: {e}") from None
    if arr.shape[2] == 4:
        rgb, a = arr[..., :3], arr[..., 3:]
        if rgba == "white":
            arr = rgb * a + (1 - a)
        elif rgba == "black":
            arr = rgb * a
        else:
            arr = rgb
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise GanlensError(f"{what} {str(path)!r} is empty")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _pil_to_float(im: Image.Image) -> np.ndarray:
    """PIL image (any mode) → (H, W, 3 or 4) float in [0, 1]."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im).astype(np.float64)
        scale = 65535.0 if (mode.startswith("I;16") or a.max() > 255) else 255.0
        a = np.clip(a / scale, 0, 1)
        return np.repeat(a[..., None], 3, axis=2)
    if mode == "F":
        a = np.asarray(im).astype(np.float64)
        a = a / 255.0 if a.max() > 1.0 else a
        return np.repeat(np.clip(a, 0, 1)[..., None], 3, axis=2)
    if mode in ("L", "1"):
        a = np.asarray(im.convert("L")).astype(np.float64) / 255.0
        return np.repeat(a[..., None], 3, axis=2)
    if mode == "LA":
        a = np.asarray(im).astype(np.float64) / 255.0
        return np.concatenate([np.repeat(a[..., :1], 3, axis=2), a[..., 1:2]], axis=2)
    if mode == "RGBA":
        return np.asarray(im).astype(np.float64) / 255.0
    if mode in ("RGB;16", "RGB;16B"):  # pragma: no cover - PIL rarely yields these
        return np.asarray(im).astype(np.float64) / 65535.0
    return np.asarray(im.convert("RGB")).astype(np.float64) / 255.0


def parse_offset(text: str | tuple[float, float] | None) -> tuple[float, float]:
    """``"DX,DY"`` → (dx, dy), fractions of the image width/height in [-0.5, 0.5]."""
    if text is None:
        return (0.0, 0.0)
    parts = list(text) if isinstance(text, (tuple, list)) else str(text).split(",")
    try:
        dx, dy = (float(p) for p in parts)
    except ValueError:
        raise GanlensError(
            f"offset {text!r} is not 'DX,DY' (two fractions of the image size, e.g. 0,0.05)"
        ) from None
    if not (-0.5 <= dx <= 0.5 and -0.5 <= dy <= 0.5):
        raise GanlensError(f"offset {text!r} is out of range; each of DX, DY must lie in [-0.5, 0.5]")
    return (dx, dy)


def crop_box(
    height: int, width: int, *, crop: float = 1.0, offset: tuple[float, float] = (0.0, 0.0)
) -> tuple[int, int, int]:
    """(top, left, side) of the square crop; the box is shifted back inside the image if needed."""
    if not (isinstance(crop, (int, float)) and 0 < crop <= 1):
        raise GanlensError(
            f"crop fraction {crop!r} is out of range; use a number in (0, 1] (1 keeps the whole square)"
        )
    side = max(1, round(min(height, width) * crop))
    cy = height / 2 + offset[1] * height
    cx = width / 2 + offset[0] * width
    top = int(round(cy - side / 2))
    left = int(round(cx - side / 2))
    top = min(max(top, 0), height - side)
    left = min(max(left, 0), width - side)
    return top, left, side


def resize_array(arr: np.ndarray, size: int, *, nearest: bool = False) -> np.ndarray:
    """Square (S, S, C) float array → (size, size, C): area when shrinking, bicubic when enlarging."""
    import cv2

    if arr.shape[0] == size and arr.shape[1] == size:
        return arr
    shrink = cv2.INTER_AREA if arr.shape[0] > size else cv2.INTER_CUBIC
    interp = cv2.INTER_NEAREST if nearest else shrink
    out = cv2.resize(arr.astype(np.float32), (size, size), interpolation=interp)
    if out.ndim == 2:
        out = out[..., None]
    return np.clip(out, 0, 1)


def frame_array(
    arr: np.ndarray,
    resolution: int,
    *,
    crop: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    nearest: bool = False,
) -> np.ndarray:
    """Crop a square from (H, W, C) and resize it to (R, R, C)."""
    top, left, side = crop_box(arr.shape[0], arr.shape[1], crop=crop, offset=offset)
    return resize_array(arr[top : top + side, left : left + side], resolution, nearest=nearest)


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float [0, 1] → (3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float() * 2 - 1


def frame_image(
    arr: np.ndarray, resolution: int, *, crop: float = 1.0, offset: tuple[float, float] = (0.0, 0.0)
) -> torch.Tensor:
    """(H, W, 3) float [0, 1] → framed (3, R, R) tensor in [-1, 1]."""
    return to_tensor(frame_array(arr, resolution, crop=crop, offset=offset))


def load_image(
    path: str | Path,
    resolution: int,
    *,
    crop: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    rgba: str = "white",
) -> torch.Tensor:
    """Read, frame and resize a photo: (3, R, R) float32 in [-1, 1]."""
    return frame_image(read_image_array(path, rgba=rgba), resolution, crop=crop, offset=offset)


def list_images(source: str | Path) -> list[Path]:
    """An image file, or the image files of a folder (sorted, not recursive).

    Raises:
        GanlensError: missing path, or a folder with no images.
    """
    p = Path(source)
    if p.is_file():
        return [p]
    if not p.exists():
        raise GanlensError(f"input {str(p)!r} does not exist; give an image file or a folder of images")
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GanlensError(f"folder {str(p)!r} has no images ({', '.join(IMAGE_SUFFIXES)})")
    return files
