"""Reconstruction losses for inversion: pixel MSE/L1, SSIM, LPIPS-VGG16, discriminator features.

:class:`ReconstructionLoss` is a callable ``(pred, target) -> scalar`` (the mean over the batch);
:meth:`ReconstructionLoss.per_sample` gives one value per image, which the optimisers sum so that
every image in a batch is optimised independently of the batch size.

:class:`LPIPS` is the LPIPS-VGG16 perceptual distance (Zhang et al. 2018) in pure PyTorch: VGG16
convolutional features (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3), unit-normalised along
channels, squared differences weighted by the learned 1×1 "linear" heads, spatially averaged and
summed. Nothing is downloaded: load a weights file with :meth:`LPIPS.from_file`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlens.errors import CheckpointError, GanlensError

# VGG16 "features" stack (torchvision layout): conv channel counts, "M" = max-pool.
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_LPIPS_TAPS = (3, 8, 15, 22, 29)  # indices of relu1_2 … relu5_3 in the features stack
_LPIPS_CHANNELS = (64, 128, 256, 512, 512)
# LPIPS input scaling layer: (x - shift) / scale, x in [-1, 1].
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)


class VGG16Features(nn.Module):
    """The 30-module VGG16 ``features`` stack up to relu5_3 (torchvision indices and names)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in _VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*layers)  # indices 0 … 29

    def forward(self, x: Tensor, taps: Sequence[int] = _LPIPS_TAPS) -> list[Tensor]:
        out = []
        last = max(taps)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in taps:
                out.append(x)
            if i == last:
                break
        return out


class LPIPS(nn.Module):
    """LPIPS-VGG16 distance between images in [-1, 1]; returns (N,) distances.

    Args:
        resize: images larger than this are area-downsampled first (NVIDIA's projector uses 256).
    """

    def __init__(self, *, resize: int | None = 256) -> None:
        super().__init__()
        self.vgg = VGG16Features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _LPIPS_CHANNELS)
        self.register_buffer("shift", torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1))
        self.resize = resize

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        if self.resize and a.shape[-1] > self.resize:
            a = F.adaptive_avg_pool2d(a, self.resize)
            b = F.adaptive_avg_pool2d(b, self.resize)
        fa = self.vgg((a - self.shift) / self.scale)
        fb = self.vgg((b - self.shift) / self.scale)
        total = a.new_zeros(a.shape[0])
        for lin, xa, xb in zip(self.lins, fa, fb):
            na = xa / (xa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            nb = xb / (xb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((na - nb) ** 2).mean(dim=(1, 2, 3))
        return total

    # ------------------------------------------------------------------ weights
    @staticmethod
    def convert_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Rename the layouts we accept onto ours.

        Accepted keys: ``features.{i}.weight|bias`` (torchvision ``vgg16``) or
        ``net.slice{k}.{i}.weight|bias`` (the ``lpips`` package), and ``lin{k}.model.1.weight``
        (``lpips``) or ``lin{k}.weight`` for the heads. Buffers of the scaling layer are ignored.
        """
        out: dict[str, Tensor] = {}
        for key, v in state.items():
            if (m := re.fullmatch(r"(?:vgg\.)?features\.(\d+)\.(weight|bias)", key)) or (
                m := re.fullmatch(r"net\.slice\d\.(\d+)\.(weight|bias)", key)
            ):
                out[f"vgg.features.{m.group(1)}.{m.group(2)}"] = v
            elif m := re.fullmatch(r"lin(\d)\.(?:model\.1\.)?weight", key):
                out[f"lins.{m.group(1)}.weight"] = v
            elif m := re.fullmatch(r"lins\.(\d)\.weight", key):
                out[key] = v
            elif re.search(r"(scaling_layer|shift|scale)", key) or re.fullmatch(r"classifier\..*", key):
                continue
            else:
                raise CheckpointError(f"unexpected key {key!r} in the LPIPS weights file")
        return out

    @classmethod
    def from_file(
        cls, path: str | Path, *, device: torch.device | str = "cpu", resize: int | None = 256
    ) -> LPIPS:
        """Load LPIPS-VGG16 weights from a ``.pt``/``.pth`` state dict (``weights_only=True``) or
        ``.safetensors`` file holding both the VGG16 features and the five linear heads."""
        path = Path(path)
        if not path.is_file():
            raise GanlensError(f"LPIPS weights file {str(path)!r} does not exist")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # corrupt zips/pickles raise many types
            raise CheckpointError(
                f"cannot read LPIPS weights {str(path)!r}: {type(e).__name__}: {e}"
            ) from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise CheckpointError(f"{str(path)!r} does not hold a state dict")
        model = cls(resize=resize)
        conv = cls.convert_state_dict(state)
        own = {k for k in model.state_dict() if k not in ("shift", "scale")}
        missing, unexpected = sorted(own - set(conv)), sorted(set(conv) - own)
        if missing or unexpected:
            raise CheckpointError(
                f"LPIPS weights {str(path)!r} do not fit VGG16+LPIPS: missing {missing[:4]}, "
                f"unexpected {unexpected[:4]}"
            )
        try:
            model.load_state_dict(conv, strict=False)
        except RuntimeError as e:
            raise CheckpointError(
                f"LPIPS weights {str(path)!r} have wrong shapes: {str(e).splitlines()[-1]}"
            ) from None
        return model.eval().requires_grad_(False).to(device)


# ---------------------------------------------------------------------------------------- SSIM
def gaussian_window(size: int = 11, sigma: float = 1.5, *, device=None, dtype=torch.float32) -> Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g.to(device=device, dtype=dtype)


def ssim_torch(
    a: Tensor, b: Tensor, *, data_range: float = 2.0, size: int = 11, sigma: float = 1.5
) -> Tensor:
    """Differentiable SSIM per image (N,), Gaussian window, valid region, mean over channels.

    Images smaller than the window use a window of their own size.
    """
    c = a.shape[1]
    size = min(size, a.shape[-1], a.shape[-2])
    g = gaussian_window(size, sigma, device=a.device, dtype=a.dtype)
    gx = g.view(1, 1, 1, -1).expand(c, 1, 1, size)
    gy = g.view(1, 1, -1, 1).expand(c, 1, size, 1)

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(x, gx, groups=c), gy, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    saa = blur(a * a) - mu_a**2
    sbb = blur(b * b) - mu_b**2
    sab = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return s.mean(dim=(1, 2, 3))


# ---------------------------------------------------------------------------------------- the loss
class ReconstructionLoss:
    """Weighted sum of reconstruction terms between prediction and target (both in [-1, 1]).

    Args:
        mse: weight of the pixel mean squared error.
        l1: weight of the pixel mean absolute error.
        ssim: weight of ``1 − SSIM`` (Gaussian 11, σ 1.5, on the [-1, 1] range).
        perceptual: weight of ``perceptual_model(pred, target)`` (e.g. :class:`LPIPS`); needs the model.
        perceptual_model: a callable ``(a, b) -> (N,)`` distances.
        disc_features: weight of the mean squared difference between discriminator features.
        discriminator: a callable ``images -> list of feature tensors``; needs ``disc_features > 0``.

    Images smaller than 256 px are fed to the perceptual model as they are; apply the
    degradation before calling (the optimisers do).
    """

    def __init__(
        self,
        *,
        mse: float = 1.0,
        l1: float = 0.0,
        ssim: float = 0.0,
        perceptual: float = 0.0,
        perceptual_model: Callable[[Tensor, Tensor], Tensor] | None = None,
        disc_features: float = 0.0,
        discriminator: Callable[[Tensor], list[Tensor]] | None = None,
    ) -> None:
        for name, v in (
            ("mse", mse),
            ("l1", l1),
            ("ssim", ssim),
            ("perceptual", perceptual),
            ("disc_features", disc_features),
        ):
            if not (isinstance(v, (int, float)) and v >= 0):
                raise GanlensError(f"loss weight {name}={v!r} must be a number ≥ 0")
        if perceptual > 0 and perceptual_model is None:
            raise GanlensError(
                "a perceptual loss weight was given but no perceptual model (use --lpips PATH)"
            )
        if disc_features > 0 and discriminator is None:
            raise GanlensError("a discriminator-feature loss weight was given but no discriminator")
        if mse + l1 + ssim + perceptual + disc_features == 0:
            raise GanlensError("all loss weights are 0; give at least one positive weight")
        self.mse, self.l1, self.ssim = float(mse), float(l1), float(ssim)
        self.perceptual, self.perceptual_model = float(perceptual), perceptual_model
        self.disc_features, self.discriminator = float(disc_features), discriminator

    def per_sample(self, pred: Tensor, target: Tensor) -> Tensor:
        """(N,) loss per image."""
        if pred.shape != target.shape:
            raise GanlensError(
                f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape"
            )
        dims = tuple(range(1, pred.ndim))
        total = pred.new_zeros(pred.shape[0])
        if self.mse:
            total = total + self.mse * (pred - target).pow(2).mean(dim=dims)
        if self.l1:
            total = total + self.l1 * (pred - target).abs().mean(dim=dims)
        if self.ssim:
            total = total + self.ssim * (1 - ssim_torch(pred, target, data_range=2.0))
        if self.perceptual:
            total = total + self.perceptual * self.perceptual_model(pred, target).reshape(pred.shape[0])
        if self.disc_features:
            fp, ft = self.discriminator(pred), self.discriminator(target)
            for a, b in zip(fp, ft):
                total = total + self.disc_features * (a - b.detach()).pow(2).flatten(1).mean(dim=1)
        return total

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.per_sample(pred, target).mean()

    def describe(self) -> dict:
        return {
            k: getattr(self, k)
            for k in ("mse", "l1", "ssim", "perceptual", "disc_features")
            if getattr(self, k)
        }

    def __repr__(self) -> str:
        return "ReconstructionLoss(" + ", ".join(f"{k}={v}" for k, v in self.describe().items()) + ")"
