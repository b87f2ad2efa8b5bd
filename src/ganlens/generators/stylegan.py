"""StyleGAN (v1): mapping network, AdaIN synthesis with per-channel noise (SPEC §1.2).

Synthesis is a sequence of ``num_ws`` style layers plus a final ToRGB. Layer ``i`` works at
resolution ``4·2^(i//2)`` and consumes w+ row ``i``:

* layer 0 is a learned constant (ones at init); odd layers are 3×3 convs; even layers ``i ≥ 2``
  upsample ×2 (nearest + conv, or a fused transposed conv when the output resolution is ≥ 128
  under ``fused_scale="auto"``) and blur with ``[1,2,1]``;
* then: noise ``x + noise[1,1,r,r]·strength[C]``, bias, leaky ReLU 0.2, instance norm and AdaIN
  ``x·(1 + s[:C]) + s[C:]`` with ``s = affine(w_i)`` (the +1 is applied here, never stored).

Split points (mGANprior composition) are between those layers: ``synthesis_head(c, l)`` returns
the AdaIN output of layer ``l-1``; valid ``l`` is ``1 .. num_ws``.

The ``repeat_w=False`` variant (In-Domain inversion / TediGAN ``styleganinv_*`` models) lets the
last mapping layer output ``num_ws·w_dim`` values, read as a native w+, with a per-row ``w_avg``.
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
    MappingNetwork,
    blur_121,
    fused_upsample_conv2d,
)

AUTO_FUSED_MIN_RES = 128


@dataclass(frozen=True)
class StyleGANConfig(GeneratorConfig):
    """StyleGAN v1 settings (defaults = the official FFHQ 1024 model).

    Attributes:
        resolution: output size, a power of two 8…1024 (default 1024).
        z_dim, w_dim: latent sizes (512).
        mapping_layers: dense layers in the mapping network (8).
        mapping_fmaps: hidden width of the mapping network (512).
        mapping_lr_mul: learning-rate multiplier of the mapping network (0.01).
        repeat_w: True: one w broadcast to all rows; False: the mapping outputs ``num_ws·w_dim``.
        final_tanh: tanh on the output image (In-Domain/TediGAN models); NVIDIA models are linear.
        fused_scale: ``"auto"`` (fused transposed conv for output resolution ≥ 128), True or False.
        fmaps_base, fmaps_max: channels at resolution r are ``min(fmaps_base // r, fmaps_max)``.
        w_avg_beta: EMA decay of ``w_avg`` during training (0.995).
    """

    arch: ClassVar[str] = "stylegan"
    channel_fields: ClassVar[tuple[str, str]] = ("fmaps_base", "fmaps_max")

    resolution: int = 1024
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_fmaps: int = 512
    mapping_lr_mul: float = 0.01
    repeat_w: bool = True
    final_tanh: bool = False
    fused_scale: bool | str = "auto"
    fmaps_base: int = 16384
    fmaps_max: int = 512
    w_avg_beta: float = 0.995

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.fused_scale, bool) or self.fused_scale == "auto"):
            raise GanlensError(f"fused_scale {self.fused_scale!r} is not allowed; use 'auto', true or false")
        if self.w_dim <= 0 or self.mapping_fmaps <= 0:
            raise GanlensError(
                f"w_dim {self.w_dim!r} and mapping_fmaps {self.mapping_fmaps!r} must be positive"
            )
        if not (isinstance(self.mapping_layers, int) and self.mapping_layers >= 1):
            raise GanlensError(f"mapping_layers {self.mapping_layers!r} must be an integer ≥ 1")
        if self.mapping_lr_mul <= 0:
            raise GanlensError(f"mapping_lr_mul {self.mapping_lr_mul!r} must be positive")

    @property
    def num_ws(self) -> int:
        return 2 * self.log2_resolution - 2

    def is_fused(self, r: int) -> bool:
        """Whether the upsampling layer producing resolution ``r`` uses a transposed conv."""
        if self.fused_scale == "auto":
            return r >= AUTO_FUSED_MIN_RES
        return bool(self.fused_scale)


def instance_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Normalise each (sample, channel) map over H, W: ``(x - mean) / sqrt(var + eps)`` (biased var)."""
    return F.instance_norm(x, eps=eps)  # one fused kernel; equals the two-pass formula to ~1e-6


def mix_styles(ws_a: Tensor, ws_b: Tensor, rows) -> Tensor:
    """Style mixing: a copy of w+ ``ws_a`` whose ``rows`` come from ``ws_b``.

    Args:
        ws_a, ws_b: (N, num_ws, w_dim) w+ codes (``ws_b`` may have N = 1 and is broadcast).
        rows: iterable of w+ row indices, e.g. ``range(0, 4)`` (coarse) or ``layer_groups()["fine"]``.

    Raises:
        GanlensError: shapes differ or a row is out of range.
    """
    if ws_a.ndim != 3 or ws_b.ndim != 3 or ws_a.shape[1:] != ws_b.shape[1:]:
        raise GanlensError(
            f"style mixing needs two w+ of the same shape; got {tuple(ws_a.shape)} and {tuple(ws_b.shape)}"
        )
    rows = sorted({int(r) for r in rows})
    bad = [r for r in rows if not 0 <= r < ws_a.shape[1]]
    if bad:
        raise GanlensError(f"style-mixing row {bad[0]} is out of range; allowed 0 to {ws_a.shape[1] - 1}")
    out = ws_a.clone()
    out[:, rows] = ws_b[:, rows].to(out.dtype).expand(out.shape[0], -1, -1)
    return out


class StyleLayer(nn.Module):
    """One v1 synthesis layer: [const | (upsample) conv (blur)] → noise → bias → lrelu → IN → AdaIN."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        resolution: int,
        w_dim: int,
        *,
        kind: str,
        fused: bool = False,
    ) -> None:
        super().__init__()
        if kind not in ("const", "conv", "up"):
            raise ValueError(kind)
        self.kind, self.fused, self.resolution = kind, fused, resolution
        if kind == "const":
            self.const = nn.Parameter(torch.ones(1, out_channels, resolution, resolution))  # (1, C, 4, 4)
        else:
            self.conv = EqualizedConv2d(in_channels, out_channels, 3, bias=False, gain=SQRT2)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros(out_channels))  # per-channel (v1)
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.affine = EqualizedLinear(w_dim, 2 * out_channels, gain=1.0)  # [scale; shift]

    def forward(
        self, x: Tensor | None, w: Tensor, *, noise_mode: str, generator: torch.Generator | None
    ) -> Tensor:
        n = w.shape[0]
        if self.kind == "const":
            x = self.const.to(w.dtype).expand(n, -1, -1, -1)
        else:
            weight = self.conv.weight.to(x.dtype) * self.conv.weight_gain  # (O, I, 3, 3)
            if self.kind == "up":
                if self.fused:
                    x = fused_upsample_conv2d(x, weight)
                else:
                    x = F.conv2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), weight, padding=1)
                x = blur_121(x)
            else:
                x = F.conv2d(x, weight, padding=1)
        # x: (N, C, r, r)
        if noise_mode == "random":
            dev = generator.device if generator is not None else x.device
            noise = torch.randn(n, 1, self.resolution, self.resolution, generator=generator, device=dev).to(x)
            x = x + noise * self.noise_strength.to(x.dtype).view(1, -1, 1, 1)
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength.to(x.dtype).view(1, -1, 1, 1)
        x = F.leaky_relu(x + self.bias.to(x.dtype).view(1, -1, 1, 1), 0.2)
        x = instance_norm(x)
        s = self.affine(w.to(x.dtype))  # (N, 2C)
        c = x.shape[1]
        return x * (1.0 + s[:, :c, None, None]) + s[:, c:, None, None]


class StyleGANGenerator(Generator):
    """StyleGAN v1 behind the :class:`~ganlens.generators.base.Generator` interface."""

    arch: ClassVar[str] = "stylegan"
    style_based: ClassVar[bool] = True
    config_class: ClassVar[type[GeneratorConfig]] = StyleGANConfig

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__(config)
        c = config
        mapping_out = c.w_dim if c.repeat_w else c.w_dim * c.num_ws
        self.mapping_net = MappingNetwork(
            c.z_dim,
            mapping_out,
            num_layers=c.mapping_layers,
            hidden=c.mapping_fmaps,
            lr_mul=c.mapping_lr_mul,
            activation="lrelu",
            w_avg_beta=c.w_avg_beta,
        )
        layers = []
        for i in range(c.num_ws):
            r = 4 * 2 ** (i // 2)
            if i == 0:
                layers.append(StyleLayer(c.nf(4), c.nf(4), 4, c.w_dim, kind="const"))
            elif i % 2 == 0:
                layers.append(StyleLayer(c.nf(r // 2), c.nf(r), r, c.w_dim, kind="up", fused=c.is_fused(r)))
            else:
                layers.append(StyleLayer(c.nf(r), c.nf(r), r, c.w_dim, kind="conv"))
        self.layers = nn.ModuleList(layers)
        self.to_rgb = EqualizedConv2d(c.nf(c.resolution), c.img_channels, 1, gain=1.0)

    # ------------------------------------------------------------------ sizes
    @property
    def latent_spaces(self) -> tuple[str, ...]:
        """``repeat_w=False`` models have no single-w space: their mapping outputs a native w+."""
        return ("z", "w", "w+") if self.config.repeat_w else ("z", "w+")

    @property
    def w_avg(self) -> Tensor:
        """(w_dim,) truncation centre; for ``repeat_w=False`` the mean of the per-row averages."""
        avg = self.mapping_net.w_avg
        return avg if self.config.repeat_w else avg.view(self.num_ws, self.w_dim).mean(0)

    @property
    def ws_avg(self) -> Tensor:
        """(num_ws, w_dim) per-row truncation centre (rows differ only for ``repeat_w=False``)."""
        return self.mapping_net.w_avg.view(-1, self.w_dim).expand(self.num_ws, self.w_dim)

    # ------------------------------------------------------------------ mapping
    def mapping(
        self,
        z: Tensor,
        *,
        trunc_psi: float = 1.0,
        trunc_cutoff: int | None = None,
        update_w_avg: bool = False,
    ) -> Tensor:
        super().mapping(z)  # shape check
        w = self.mapping_net(z, update_w_avg=update_w_avg)  # (N, w_dim) or (N, num_ws·w_dim)
        # a real copy (not an expanded view), so callers may edit rows of w+ in place
        ws = (
            w.view(-1, 1, self.w_dim).repeat(1, self.num_ws, 1)
            if self.config.repeat_w
            else w.view(-1, self.num_ws, self.w_dim)
        )
        return self.truncate(ws, trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff)

    def truncate(self, ws: Tensor, *, trunc_psi: float = 1.0, trunc_cutoff: int | None = None) -> Tensor:
        """``ws_avg + psi (ws - ws_avg)`` on rows ``< trunc_cutoff`` (all rows when None)."""
        if trunc_psi == 1.0 or trunc_cutoff == 0:
            return ws
        cutoff = self.num_ws if trunc_cutoff is None else min(int(trunc_cutoff), self.num_ws)
        avg = self.ws_avg.to(ws.dtype)[:cutoff]  # (cutoff, w_dim)
        out = ws.clone()
        out[:, :cutoff] = avg + trunc_psi * (ws[:, :cutoff] - avg)
        return out

    # ------------------------------------------------------------------ synthesis
    def _run_layers(self, x, codes, start, stop, *, noise_mode, generator) -> Tensor:
        for i in range(start, stop):
            if i < self.num_ws:
                x = self.layers[i](x, codes[:, i], noise_mode=noise_mode, generator=generator)
            else:
                x = self.to_rgb(x)
                if self.config.final_tanh:
                    x = torch.tanh(x)
        return x

    @property
    def num_split_layers(self) -> int:
        return self.num_ws + 1  # style layers, then ToRGB

    def feature_shape(self, layer: int) -> tuple[int, int, int]:
        self.check_split_layer(layer)
        r = 4 * 2 ** ((layer - 1) // 2)
        return (self.config.nf(r), r, r)

    # ------------------------------------------------------------------ SeFa, noise
    def projection_weights(self) -> dict[int, Tensor]:
        return {i: layer.affine.weight.detach() for i, layer in enumerate(self.layers)}  # (2C_i, w_dim)

    def noise_buffers(self) -> list[Tensor]:
        return [layer.noise_const for layer in self.layers]
