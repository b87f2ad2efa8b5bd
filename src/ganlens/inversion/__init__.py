"""GAN inversion: single-code optimisation (z, w, w+, NVIDIA projector), mGANprior multi-code
inversion with channel importance, the GAN-prior tasks (colorization, super-resolution,
inpainting, denoising) as degradations inside the loss, losses (pixel, SSIM, LPIPS-VGG16,
discriminator features) and metrics (PSNR, SSIM).

Submodules are imported lazily so that ``import ganlens.inversion`` stays cheap; the encoder and
hybrid inversion live in :mod:`ganlens.inversion.encoder` and :mod:`ganlens.inversion.hybrid`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "InversionResult": "result",
    "Degradation": "degradations",
    "Identity": "degradations",
    "Colorize": "degradations",
    "Downsample": "degradations",
    "Inpaint": "degradations",
    "Denoise": "degradations",
    "make_degradation": "degradations",
    "ReconstructionLoss": "losses",
    "LPIPS": "losses",
    "psnr": "metrics",
    "ssim": "metrics",
    "invert": "optimize",
    "project": "projector",
    "mganprior_invert": "mganprior",
    "super_resolve": "superres",
    "load_image": "images",
    "frame_image": "images",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"ganlens.inversion.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'ganlens.inversion' has no attribute {name!r}")
