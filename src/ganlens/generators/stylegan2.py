"""StyleGAN2 (config F, ``skip`` architecture) in pure PyTorch (SPEC §1.3).

Parameter names follow NVIDIA's stylegan2-ada-pytorch with two renamed roots, because
``mapping`` and ``synthesis`` are methods of the :class:`~ganlens.generators.base.Generator`
interface: ``mapping_network.fc{i}.*``, ``mapping_network.w_avg``,
``synthesis_network.b{r}.const``, ``synthesis_network.b{r}.conv{0,1}.{weight, bias,
noise_strength, noise_const, affine.weight, affine.bias}``, ``synthesis_network.b{r}.torgb.*``.
Affine biases are stored with their +1 (``bias_init=1``), as in ADA and rosinality.

Synthesis layers (the split points mGANprior composes at) are the conv layers in order:
``b4.conv1, b8.conv0, b8.conv1, …, bR.conv1`` (``2·log2R − 3`` of them; conv ``j`` reads w+ row
``j``). Each ``conv1`` is followed by its block's ToRGB, which reads row ``j + 1``. Because the
skip architecture carries a running RGB image next to the features, the feature returned by
:meth:`StyleGAN2Generator.synthesis_head` is ``cat([x, img], dim=1)``: the conv features ``x``
(C_r channels) followed by the running image brought to the same resolution (``img_channels``
channels; after a ``conv0`` the previous image is already upsampled, after a ``conv1`` it already
holds this block's ToRGB output). So ``feature_shape(l) = (C_r + img_channels, r, r)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlens.errors import GanlensError
from ganlens.generators.base import Generator, GeneratorConfig
from ganlens.generators.fir import fold_filter, setup_filter, upfirdn2d, upsample2d
from ganlens.generators.layers import SQRT2, EqualizedLinear, MappingNetwork

ARCHITECTURES = ("skip",)
NOT_YET = ("orig", "resnet")


# ---------------------------------------------------------------------- config
@dataclass(frozen=True)
class StyleGAN2Config(GeneratorConfig):
    """StyleGAN2 settings (defaults: config F at 1024², as in NVIDIA's ``stylegan2`` config).

    Attributes:
        resolution: output size, a power of two in [8, 1024].
        z_dim: size of z (512).
        w_dim: size of w (512).
        mapping_layers: dense layers in the mapping network (8; ADA ``auto`` configs use 2).
        mapping_lr_mul: learning-rate multiplier of the mapping layers (0.01).
        channel_base, channel_max: feature maps at resolution r are ``min(channel_base // r, channel_max)``.
        conv_clamp: clamp conv/ToRGB outputs to ±this (ADA-trained pickles: 256), None = off.
        architecture: ``"skip"`` (``"orig"``/``"resnet"`` are not supported yet).
        w_avg_beta: decay of the tracked w average during training (0.995).
        img_channels: output channels (3).
    """

    arch: ClassVar[str] = "stylegan2"
    channel_fields: ClassVar[tuple[str, str]] = ("channel_base", "channel_max")

    resolution: int = 1024
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None
    architecture: str = "skip"
    w_avg_beta: float = 0.995
    img_channels: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.architecture in NOT_YET:
            raise GanlensError(
                f"StyleGAN2 architecture {self.architecture!r} is not supported yet; allowed: "
                + ", ".join(ARCHITECTURES)
            )
        if self.architecture not in ARCHITECTURES:
            raise GanlensError(f"StyleGAN2 architecture {self.architecture!r} is unknown; allowed: skip")
        for name in ("w_dim", "mapping_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise GanlensError(f"{name} {v!r} must be a positive integer")
        if not self.mapping_lr_mul > 0:
            raise GanlensError(f"mapping_lr_mul {self.mapping_lr_mul!r} must be positive")
        if self.conv_clamp is not None and not self.conv_clamp > 0:
            raise GanlensError(f"conv_clamp {self.conv_clamp!r} must be positive or None")
        if not 0.0 <= self.w_avg_beta <= 1.0:
            raise GanlensError(f"w_avg_beta {self.w_avg_beta!r} must be in [0, 1]")

    @property
    def num_ws(self) -> int:
        return 2 * self.log2_resolution - 2

    @property
    def block_resolutions(self) -> tuple[int, ...]:
        return tuple(2**k for k in range(2, self.log2_resolution + 1))


# ---------------------------------------------------------------------- layers
class SynthesisLayer(nn.Module):
    """Modulated + demodulated 3×3 conv (optionally ×2 upsampling), noise, bias, lrelu·√2, clamp.

    Stored weight (O, I, 3, 3) carries no runtime coefficient: demodulation cancels it (ADA).
    ``fold_resample`` (an up layer; off by default) folds the ×2 FIR into the transposed conv's
    weights (:func:`~ganlens.generators.fir.fold_filter`): the same images, one op fewer.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        *,
        up: bool,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.fold_resample = False
        self.conv_clamp = conv_clamp
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))  # (O, I, 3, 3)
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))  # (r, r)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(
        self, x: Tensor, w: Tensor, f: Tensor, *, noise_mode: str, generator: torch.Generator | None
    ) -> Tensor:
        n = x.shape[0]
        styles = self.affine(w)  # (N, I)
        weight = self.weight
        # Demodulation coefficients, computed in float32: 1/sqrt(Σ_{i,k} (W·s)² + eps), (N, O).
        wsq = weight.float().square().sum(dim=[2, 3])  # (O, I)
        dcoefs = (styles.float().square() @ wsq.t() + 1e-8).rsqrt()  # (N, O)
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        if self.up and self.fold_resample:  # the FIR folded into a 6×6 kernel: one conv, same result
            weight = fold_filter(weight, f, gain=4.0)  # (O, I, 6, 6)
            x = F.conv_transpose2d(x, weight.to(x.dtype).transpose(0, 1), stride=2, padding=2)
        elif self.up:
            # Zero-insertion ×2 + 3×3 conv = stride-2 transposed conv; then the [1,3,3,1] FIR, gain 4.
            x = F.conv_transpose2d(x, weight.to(x.dtype).transpose(0, 1), stride=2)  # (N, O, 2H+1, 2W+1)
            x = upfirdn2d(x, f, padding=(1, 1, 1, 1), gain=4.0)  # (N, O, 2H, 2W)
        else:
            x = F.conv2d(x, weight.to(x.dtype), padding=1)
        x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        if noise_mode == "random":
            dev = generator.device if generator is not None else x.device  # a CPU generator may drive CUDA
            noise = torch.randn(n, 1, self.resolution, self.resolution, generator=generator, device=dev)
            noise = noise.to(x.device)
            x = x + (noise * self.noise_strength).to(x.dtype)
        elif noise_mode == "const":
            x = x + (self.noise_const * self.noise_strength).to(x.dtype)
        x = F.leaky_relu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1), 0.2) * SQRT2
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x  # (N, O, r, r)


class ToRGBLayer(nn.Module):
    """Modulated 1×1 conv without demodulation, bias, clamp; the 1/√I coefficient goes on the style."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int, *, conv_clamp: float | None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))  # (C, I, 1, 1)
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w) * self.weight_gain  # (N, I)
        x = x * styles.to(x.dtype)[:, :, None, None]
        x = F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype))
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x  # (N, C, r, r)


class SynthesisBlock(nn.Module):
    """One resolution: ``const`` (4×4 only), ``conv0`` (upsampling, r ≥ 8), ``conv1``, ``torgb``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        *,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))  # (C, 4, 4)
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim, resolution, up=True, conv_clamp=conv_clamp
            )
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim, resolution, up=False, conv_clamp=conv_clamp
        )
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)


class SynthesisNetwork(nn.Module):
    """Blocks ``b4 … bR``; runs any contiguous range of conv layers (see the module docstring)."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        c = config
        self.block_resolutions = c.block_resolutions
        for r in self.block_resolutions:
            cin = c.nf(r // 2) if r > 4 else 0
            block = SynthesisBlock(cin, c.nf(r), c.w_dim, r, c.img_channels, conv_clamp=c.conv_clamp)
            self.add_module(f"b{r}", block)
        self.register_buffer("resample_filter", setup_filter(), persistent=False)  # (4, 4)
        self.layers: list[tuple[int, str]] = [(4, "conv1")]
        for r in self.block_resolutions[1:]:
            self.layers += [(r, "conv0"), (r, "conv1")]

    def run(
        self,
        x: Tensor | None,
        img: Tensor | None,
        ws: Tensor,
        start: int,
        stop: int,
        *,
        noise_mode: str,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Tensor | None]:
        """Run conv layers ``[start, stop)`` (each conv1 followed by its ToRGB)."""
        f = self.resample_filter
        for j in range(start, stop):
            r, name = self.layers[j]
            block = getattr(self, f"b{r}")
            if j == 0:
                x = block.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)  # (N, C4, 4, 4)
            elif name == "conv0" and img is not None:
                img = upsample2d(img, f)
            x = getattr(block, name)(x, ws[:, j], f, noise_mode=noise_mode, generator=generator)
            if name == "conv1":
                y = block.torgb(x, ws[:, j + 1]).float()
                img = y if img is None else img + y
        return x, img


class StyleGAN2Generator(Generator):
    """StyleGAN2 generator: ``mapping_network`` (z → w) and ``synthesis_network`` (w+ → image)."""

    arch: ClassVar[str] = "stylegan2"
    style_based: ClassVar[bool] = True
    config_class: ClassVar[type[GeneratorConfig]] = StyleGAN2Config

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__(config)
        self.mapping_network = MappingNetwork(
            config.z_dim,
            config.w_dim,
            num_layers=config.mapping_layers,
            lr_mul=config.mapping_lr_mul,
            activation="lrelu_v2",
            w_avg_beta=config.w_avg_beta,
        )
        self.synthesis_network = SynthesisNetwork(config)

    # ------------------------------------------------------------------ spaces
    @property
    def w_avg(self) -> Tensor:
        return self.mapping_network.w_avg

    def mapping(
        self,
        z: Tensor,
        *,
        trunc_psi: float = 1.0,
        trunc_cutoff: int | None = None,
        update_w_avg: bool = False,
    ) -> Tensor:
        """z (N, z_dim) → w+ (N, num_ws, w_dim), truncated on rows ``< trunc_cutoff``.

        ``update_w_avg=True`` (training) moves ``w_avg`` towards this batch's mean w, in train mode only.
        """
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise GanlensError(f"z has shape {tuple(z.shape)}; expected (N, {self.z_dim})")
        w = self.mapping_network(z.float(), update_w_avg=update_w_avg)  # (N, w_dim)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)  # (N, num_ws, w_dim)
        return self.truncate(ws, trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff)

    # ------------------------------------------------------------------ synthesis
    def _run_layers(self, x, codes, start, stop, *, noise_mode, generator) -> Tensor:
        """Features cross the split as ``cat([features, running image], 1)``: the skip architecture
        carries the RGB image alongside the features. The last layer returns the image alone."""
        img = None
        if x is not None:
            c = self.config.nf(x.shape[2])
            x, img = x[:, :c], x[:, c:].float()
        x, img = self.synthesis_network.run(
            x, img, codes, start, stop, noise_mode=noise_mode, generator=generator
        )
        if stop == self.num_split_layers:
            return img  # (N, C, R, R), float32
        return torch.cat([x, img.to(x.dtype)], dim=1)  # (N, C_r + img_ch, r, r)

    @property
    def num_split_layers(self) -> int:
        return len(self.synthesis_network.layers)

    def feature_shape(self, layer: int) -> tuple[int, int, int]:
        self.check_split_layer(layer)
        r, _ = self.synthesis_network.layers[layer - 1]
        return (self.config.nf(r) + self.img_channels, r, r)

    # ------------------------------------------------------------------ SeFa, noise
    def projection_weights(self) -> dict[int, Tensor]:
        """Row i: the affine of conv layer i; the last row: the final ToRGB affine. (C_in, w_dim) each."""
        net = self.synthesis_network
        out = {}
        for j, (r, name) in enumerate(net.layers):
            out[j] = getattr(getattr(net, f"b{r}"), name).affine.weight.detach()
        out[self.num_ws - 1] = getattr(net, f"b{self.resolution}").torgb.affine.weight.detach()
        return out

    def rosinality_weights(self) -> list[Tensor]:
        """What rosinality's ``closed_form_factorization.py`` stacks: every conv affine, then the
        4×4 ToRGB affine (its key filter keeps ``to_rgb1``). Used by SeFa's ``mode="rosinality"``."""
        net = self.synthesis_network
        convs = [getattr(getattr(net, f"b{r}"), name).affine.weight.detach() for r, name in net.layers]
        return [*convs, net.b4.torgb.affine.weight.detach()]

    def noise_buffers(self) -> list[Tensor]:
        """``noise_const`` (r, r) of every conv layer, in layer order."""
        net = self.synthesis_network
        return [getattr(getattr(net, f"b{r}"), name).noise_const for r, name in net.layers]

    def extra_repr(self) -> str:
        c = self.config
        chans = ", ".join(f"{r}:{c.nf(r)}" for r in c.block_resolutions)
        return super().extra_repr() + f", channels=({chans}), conv_clamp={c.conv_clamp}"


def channel_table_to_config(channels: dict[int, int]) -> tuple[int, int]:
    """(channel_base, channel_max) that reproduce ``{r: nf(r)}`` for every block, or raise.

    Used by loaders that only see tensor shapes. Prefers the official 32768 when it fits.
    """
    cmax = max(channels.values())
    res = max(channels)
    candidates = [32768, 16384] + [c * r for r, c in channels.items()] + [cmax * res]
    for base in candidates:
        if all(min(base // r, cmax) == c for r, c in channels.items()):
            return int(base), int(cmax)
    raise GanlensError(f"channel counts {channels} do not follow min(channel_base // r, channel_max)")
