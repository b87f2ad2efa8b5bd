"""PGGAN: a projection generator driven by a pixel-normalised z (SPEC §1.4).

Synthesis layers (the split points mGANprior composes at, SPEC §4.5) are the conv layers of the
fully grown network followed by the final ToRGB. Every layer starts by pixel-normalising its
input, so the feature a head returns is the *un-normalised* leaky-ReLU output of the previous
layer, and scaling it by a constant does not change the image:

* layer 0: pixel norm of z, dense ``z_dim → C·16`` (gain √2/4), reshape to (C, 4, 4), bias, lrelu;
* layer 1: pixel norm, 3×3 conv at 4×4, bias, lrelu;
* layers 2k, 2k+1 (k ≥ 1): pixel norm, nearest ×2 + 3×3 conv (or a fused transposed conv), bias,
  lrelu; then pixel norm, 3×3 conv, bias, lrelu;
* ToRGB: pixel norm, 1×1 conv (gain 1), bias; linear output (optional tanh).

Feature at split ``l``: ``(nf(r), r, r)`` with ``r = 4·2^((l-1)//2)``; valid ``l`` is ``1 .. 2·log2R − 2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlens.errors import GanlensError
from ganlens.generators.base import Generator, GeneratorConfig
from ganlens.generators.layers import (
    SQRT2,
    EqualizedConv2d,
    EqualizedLinear,
    fused_upsample_conv2d,
    pixel_norm,
)


@dataclass(frozen=True)
class PGGANConfig(GeneratorConfig):
    """PGGAN settings (defaults = the official CelebA-HQ 1024 model).

    Attributes:
        resolution: output size, a power of two 8…1024 (default 1024).
        z_dim: latent size (512).
        fused_scale: upsample with a fused transposed conv instead of nearest ×2 + conv (official
            CelebA-HQ and LSUN models: False).
        fmaps_base, fmaps_max: channels at resolution r are ``min(fmaps_base // r, fmaps_max)``.
        final_tanh: tanh on the output image (official models: False).
    """

    arch: ClassVar[str] = "pggan"
    channel_fields: ClassVar[tuple[str, str]] = ("fmaps_base", "fmaps_max")

    resolution: int = 1024
    z_dim: int = 512
    fused_scale: bool = False
    fmaps_base: int = 16384
    fmaps_max: int = 512
    final_tanh: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.fused_scale, bool):
            raise GanlensError(f"fused_scale {self.fused_scale!r} is not allowed; use true or false")

    @property
    def num_conv_layers(self) -> int:
        return 2 * self.log2_resolution - 2


class PGConv(nn.Module):
    """pixel norm → [nearest ×2 | fused] 3×3 conv → bias → lrelu."""

    def __init__(self, in_channels: int, out_channels: int, *, up: bool, fused: bool) -> None:
        super().__init__()
        self.up, self.fused = up, fused and up
        self.conv = EqualizedConv2d(in_channels, out_channels, 3, bias=True, gain=SQRT2)

    def forward(self, x: Tensor) -> Tensor:
        x = pixel_norm(x)
        w = self.conv.weight.to(x.dtype) * self.conv.weight_gain  # (O, I, 3, 3)
        b = self.conv.bias.to(x.dtype)
        if self.fused:
            x = fused_upsample_conv2d(x, w, b)
        else:
            if self.up:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = F.conv2d(x, w, b, padding=1)
        return F.leaky_relu(x, 0.2)


class PGGANGenerator(Generator):
    """PGGAN behind the :class:`~ganlens.generators.base.Generator` interface (code = z)."""

    arch: ClassVar[str] = "pggan"
    style_based: ClassVar[bool] = False
    config_class: ClassVar[type[GeneratorConfig]] = PGGANConfig

    def __init__(self, config: PGGANConfig) -> None:
        super().__init__(config)
        c = config
        c4 = c.nf(4)
        # TF's "Dense": coef √2/4/√z_dim; the bias is per channel, added after the reshape.
        self.dense = EqualizedLinear(c.z_dim, c4 * 16, bias=False, gain=SQRT2 / 4)  # weight (C·16, z_dim)
        self.dense_bias = nn.Parameter(torch.zeros(c4))
        convs = [PGConv(c4, c4, up=False, fused=False)]
        for log2r in range(3, c.log2_resolution + 1):
            r = 2**log2r
            convs.append(PGConv(c.nf(r // 2), c.nf(r), up=True, fused=c.fused_scale))
            convs.append(PGConv(c.nf(r), c.nf(r), up=False, fused=False))
        self.convs = nn.ModuleList(convs)  # layers 1 .. num_conv_layers-1
        self.to_rgb = EqualizedConv2d(c.nf(c.resolution), c.img_channels, 1, gain=1.0)

    # ------------------------------------------------------------------ layers
    @property
    def num_split_layers(self) -> int:
        return self.config.num_conv_layers + 1  # convs, then ToRGB

    def normalize_code(self, codes: Tensor) -> Tensor:
        """Pixel-normalised z (norm √z_dim): what the first layer actually sees."""
        return pixel_norm(codes)

    def _layer(self, i: int, x: Tensor) -> Tensor:
        if i == 0:
            z = pixel_norm(x)  # (N, z_dim)
            x = self.dense(z).view(z.shape[0], -1, 4, 4)
            return F.leaky_relu(x + self.dense_bias.to(x.dtype).view(1, -1, 1, 1), 0.2)  # (N, C4, 4, 4)
        if i < self.config.num_conv_layers:
            return self.convs[i - 1](x)
        x = self.to_rgb(pixel_norm(x))  # (N, C, R, R)
        return torch.tanh(x) if self.config.final_tanh else x

    def _run_layers(self, x, codes, start, stop, *, noise_mode, generator) -> Tensor:
        x = codes if x is None else x
        for i in range(start, stop):
            x = self._layer(i, x)
        return x

    def feature_shape(self, layer: int) -> tuple[int, int, int]:
        self.check_split_layer(layer)
        r = 4 * 2 ** ((layer - 1) // 2)
        return (self.config.nf(r), r, r)

    # ------------------------------------------------------------------ SeFa
    def projection_weights(self) -> dict[int, Tensor]:
        """{0: A} with A (C·16, z_dim) the dense weight (row = channel-major output unit)."""
        return {0: self.dense.weight.detach()}
