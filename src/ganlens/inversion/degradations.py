"""GAN-prior tasks as degradations applied inside the loss (mGANprior style).

A task is solved by inverting ``loss(D(G(code)), D(target))`` where ``D`` is a
:class:`Degradation`. Every degradation is *idempotent on its own output*, so it can be applied to
both the prediction and the target whether the target is a clean image or an already degraded
observation (a gray photo, a low-resolution photo, a photo with holes):

* :class:`Identity`: reconstruction.
* :class:`Colorize`: ``gray = 0.299 R + 0.587 G + 0.114 B`` replicated to 3 channels; the final
  image keeps the input's luminance (Y of the input + Cb, Cr of the reconstruction, as PIL's YCbCr).
* :class:`Downsample`: super-resolution ×2/×4/×8/×16, bilinear (official, no antialias) or bicubic;
  an input already at the low resolution passes through unchanged.
* :class:`Inpaint`: ``x · (1 − m)`` with **m = 1 marking missing pixels**.
* :class:`Denoise`: the loss sees the noisy image as is; :meth:`Denoise.simulate` adds noise.

Images are (N, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ganlens.errors import GanlensError

GRAY_WEIGHTS = (0.299, 0.587, 0.114)
SR_FACTORS = (2, 4, 8, 16)
SR_MODES = ("bilinear", "bicubic")
MASK_TYPES = ("center", "strokes", "pixels")


def rgb_to_gray(x: Tensor) -> Tensor:
    """(N, 3, H, W) → (N, 1, H, W) luminance ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601, as PIL)."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise GanlensError(f"images have shape {tuple(x.shape)}; expected (N, 3, H, W)")
    if x.shape[1] == 1:
        return x
    w = x.new_tensor(GRAY_WEIGHTS).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


class Degradation:
    """Base class: the identity. Subclasses override :meth:`__call__` and the helpers they need."""

    name = "reconstruction"

    def __call__(self, x: Tensor) -> Tensor:
        """Map full-resolution images (or observations) to observation space; idempotent."""
        return x

    def simulate(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The observation a camera would give for clean images ``x`` (adds noise where relevant)."""
        return self(x)

    def to_display(self, y: Tensor, resolution: int) -> Tensor:
        """An observation as (N, 3, R, R) for saving next to the result."""
        return _to_res(y, resolution, mode="nearest")

    def initial_image(self, y: Tensor, resolution: int) -> Tensor:
        """A full-resolution first guess from an observation (for encoders): upsampled if needed."""
        return _to_res(y, resolution, mode="bicubic").clamp(-1, 1)

    def postprocess(self, recon: Tensor, target: Tensor) -> Tensor:
        """Turn the generator's output into the task's answer (default: unchanged)."""
        return recon

    def to(self, device: torch.device | str) -> Degradation:
        return self

    def describe(self) -> dict:
        return {"task": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "task")
        return f"{type(self).__name__}({args})"


class Identity(Degradation):
    """Plain reconstruction."""


class Colorize(Degradation):
    """Colorization: compare gray images; answer = input luminance + reconstruction chroma."""

    name = "colorization"

    def __call__(self, x: Tensor) -> Tensor:
        return rgb_to_gray(x).expand(-1, 3, -1, -1)

    def postprocess(self, recon: Tensor, target: Tensor) -> Tensor:
        """Y of ``target`` with Cb, Cr of ``recon``.

        In YCbCr → RGB every channel depends on Y with coefficient 1, so replacing Y by Y' adds
        ``Y' − Y`` to R, G and B alike (the gray weights sum to 1, so this also holds in [-1, 1]).
        """
        target = target.to(recon.device)
        if target.shape[-1] != recon.shape[-1]:
            target = _to_res(target, recon.shape[-1], mode="bicubic")
        return (recon + rgb_to_gray(target) - rgb_to_gray(recon)).clamp(-1, 1)


class Downsample(Degradation):
    """Super-resolution: ``down(x)`` to ``resolution // factor``.

    Args:
        factor: 2, 4, 8 or 16.
        resolution: the generator's resolution (images at this size are downsampled, images at
            ``resolution // factor`` pass through).
        mode: "bilinear" (mGANprior: ``F.interpolate``, align_corners False, no antialias) or "bicubic".
        antialias: low-pass before subsampling (off in the official code).
    """

    name = "super-resolution"

    def __init__(
        self, factor: int, resolution: int, *, mode: str = "bilinear", antialias: bool = False
    ) -> None:
        if factor not in SR_FACTORS:
            raise GanlensError(f"super-resolution factor {factor!r} is not allowed; use one of {SR_FACTORS}")
        if mode not in SR_MODES:
            raise GanlensError(f"downsampling mode {mode!r} is not allowed; use one of {', '.join(SR_MODES)}")
        if resolution // factor < 1 or resolution % factor:
            raise GanlensError(f"factor {factor} is too large for a {resolution}-px model")
        self.factor, self.resolution, self.mode, self.antialias = (
            int(factor),
            int(resolution),
            mode,
            bool(antialias),
        )

    @property
    def low_resolution(self) -> int:
        return self.resolution // self.factor

    def __call__(self, x: Tensor) -> Tensor:
        s = x.shape[-1]
        if s == self.low_resolution:
            return x
        if s != self.resolution:
            raise GanlensError(
                f"image of size {s} cannot be downsampled ×{self.factor} for this model: "
                f"give {self.resolution} px (high) or {self.low_resolution} px (low resolution) images"
            )
        return F.interpolate(
            x, size=self.low_resolution, mode=self.mode, align_corners=False, antialias=self.antialias
        )

    def describe(self) -> dict:
        return {"task": self.name, "factor": self.factor, "mode": self.mode, "antialias": self.antialias}


class Inpaint(Degradation):
    """Inpainting: ``x · (1 − m)``, m = 1 where pixels are missing.

    Args:
        mask: (H, W), (1, H, W) or (N|1, 1, H, W) in [0, 1]; 1 = missing.
        paste: the answer keeps the known pixels of the input and takes only the holes from the
            generator (``x·(1−m) + G·m``), like classical inpainting; False returns the raw generator
            output (the official mGANprior behaviour).
    """

    name = "inpainting"

    def __init__(self, mask: Tensor, *, paste: bool = True) -> None:
        mask = torch.as_tensor(mask, dtype=torch.float32)
        while mask.ndim < 4:
            mask = mask.unsqueeze(0)
        if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-1] != mask.shape[-2]:
            raise GanlensError(f"mask has shape {tuple(mask.shape)}; expected (H, W) or (N, 1, H, W), square")
        if float(mask.min()) < 0 or float(mask.max()) > 1:
            raise GanlensError("mask values must lie in [0, 1] (1 = missing)")
        self.mask = mask  # (N|1, 1, H, W)
        self.paste = bool(paste)

    def postprocess(self, recon: Tensor, target: Tensor) -> Tensor:
        if not self.paste or target.shape != recon.shape:
            return recon
        m = self.mask.to(device=recon.device, dtype=recon.dtype)
        return self(target.to(recon.device)) + recon * m

    def __call__(self, x: Tensor) -> Tensor:
        m = self.mask.to(device=x.device, dtype=x.dtype)
        if m.shape[-1] != x.shape[-1]:
            raise GanlensError(f"mask is {m.shape[-1]} px but the images are {x.shape[-1]} px")
        if m.shape[0] not in (1, x.shape[0]):
            raise GanlensError(f"{m.shape[0]} masks for {x.shape[0]} images; give one mask or one per image")
        return x * (1 - m)

    def select(self, index: slice | list[int]) -> Inpaint:
        """The masks of a sub-batch (a single shared mask is kept)."""
        return self if self.mask.shape[0] == 1 else Inpaint(self.mask[index], paste=self.paste)

    def to(self, device: torch.device | str) -> Inpaint:
        self.mask = self.mask.to(device)
        return self

    def describe(self) -> dict:
        return {"task": self.name, "missing_fraction": round(float(self.mask.mean()), 4), "paste": self.paste}


class Denoise(Degradation):
    """Denoising: the loss compares the generator's output with the noisy photo directly.

    Args:
        sigma: noise standard deviation in 0–255 units (``σ/127.5`` in [-1, 1] units).
    """

    name = "denoising"

    def __init__(self, sigma: float = 25.0) -> None:
        if not (0 <= float(sigma) <= 255):
            raise GanlensError(f"noise sigma {sigma!r} is out of range; use 0 to 255 (uint8 units)")
        self.sigma = float(sigma)

    def simulate(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        return x + noise * (self.sigma / 127.5)

    def describe(self) -> dict:
        return {"task": self.name, "sigma": self.sigma}


def _to_res(y: Tensor, resolution: int, *, mode: str) -> Tensor:
    if y.shape[-1] == resolution:
        return y
    kw = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(y, size=resolution, mode=mode, **kw)


# ---------------------------------------------------------------------------------------- masks
def center_mask(resolution: int, *, fraction: float = 0.5) -> Tensor:
    """(1, 1, R, R) mask with a centred square of side ``fraction · R`` missing."""
    if not 0 < fraction < 1:
        raise GanlensError(f"centre-mask fraction {fraction!r} must be between 0 and 1")
    m = torch.zeros(1, 1, resolution, resolution)
    side = max(1, round(resolution * fraction))
    a = (resolution - side) // 2
    m[..., a : a + side, a : a + side] = 1
    return m


def stroke_mask(
    resolution: int, *, strokes: int = 4, width: float = 0.08, generator: torch.Generator | None = None
) -> Tensor:
    """(1, 1, R, R) mask of random thick poly-line strokes (free-form holes)."""
    import cv2

    g = generator or torch.Generator().manual_seed(0)
    canvas = np.zeros((resolution, resolution), np.uint8)
    thickness = max(1, round(width * resolution))
    for _ in range(strokes):
        pts = (torch.rand(4, 2, generator=g) * resolution).round().int().numpy()
        cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, 255, thickness)
    return torch.from_numpy(canvas > 0).float()[None, None]


def pixel_mask(resolution: int, *, fraction: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """(1, 1, R, R) mask with a random ``fraction`` of the pixels missing."""
    if not 0 < fraction < 1:
        raise GanlensError(f"missing-pixel fraction {fraction!r} must be between 0 and 1")
    g = generator or torch.Generator().manual_seed(0)
    return (torch.rand(1, 1, resolution, resolution, generator=g) < fraction).float()


def make_mask(
    kind: str, resolution: int, *, generator: torch.Generator | None = None, fraction: float | None = None
):
    """A generated mask by name: "center", "strokes" or "pixels"."""
    if kind == "center":
        return center_mask(resolution, fraction=fraction or 0.5)
    if kind == "strokes":
        return stroke_mask(resolution, generator=generator)
    if kind == "pixels":
        return pixel_mask(resolution, fraction=fraction or 0.5, generator=generator)
    raise GanlensError(f"mask type {kind!r} is not allowed; use one of {', '.join(MASK_TYPES)}")


def read_mask_array(path: str | Path) -> np.ndarray:
    """Read a mask image into an (H, W) float array in [0, 1] (1 = missing).

    White is missing. RGB(A)/gray/16-bit images are accepted; the mean of the first three
    channels is used (the alpha channel is ignored).
    """
    from ganlens.inversion.images import read_image_array

    arr = read_image_array(path, what="mask", rgba="ignore")  # (H, W, 3) float in [0, 1]
    return arr.mean(axis=2)


# ---------------------------------------------------------------------------------------- factory
def make_degradation(
    task: str,
    *,
    resolution: int,
    factor: int = 4,
    down: str = "bilinear",
    antialias: bool = False,
    mask: Tensor | None = None,
    sigma: float = 25.0,
) -> Degradation:
    """A degradation by task name: reconstruction, colorization, super-resolution, inpainting, denoising."""
    if task in ("reconstruction", "invert", "none"):
        return Identity()
    if task in ("colorization", "colorize"):
        return Colorize()
    if task in ("super-resolution", "super-resolve", "sr"):
        return Downsample(factor, resolution, mode=down, antialias=antialias)
    if task in ("inpainting", "inpaint"):
        if mask is None:
            raise GanlensError("inpainting needs a mask (--mask FILE or --mask-type center|strokes|pixels)")
        return Inpaint(mask)
    if task in ("denoising", "denoise"):
        return Denoise(sigma)
    raise GanlensError(
        f"task {task!r} is not allowed; use reconstruction, colorization, super-resolution, "
        "inpainting or denoising"
    )
