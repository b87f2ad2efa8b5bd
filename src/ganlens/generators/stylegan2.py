"""StyleGAN2 (config F; ``skip``, ``orig`` and ``resnet`` generators) in pure PyTorch (SPEC §1.3).

Parameter names follow NVIDIA's stylegan2-ada-pytorch with two renamed roots, because
``mapping`` and ``synthesis`` are methods of the :class:`~ganlens.generators.base.Generator`
interface: ``mapping_network.fc{i}.*``, ``mapping_network.w_avg``,
``synthesis_network.b{r}.const``, ``synthesis_network.b{r}.conv{0,1}.{weight, bias,
noise_strength, noise_const, affine.weight, affine.bias}``, ``synthesis_network.b{r}.torgb.*``,
``synthesis_network.b{r}.skip.weight`` (resnet). Affine biases are stored with their +1
(``bias_init=1``), as in ADA and rosinality.

The three generator architectures of ADA's ``SynthesisBlock``:

* ``skip`` (config E/F, the default): every block has a ToRGB; the running image is upsampled and
  the block's ToRGB output added to it.
* ``orig``: only the last block has a ToRGB.
* ``resnet``: only the last block has a ToRGB, and each block r ≥ 8 adds a shortcut, a ×2 FIR
  upsampling followed by a bias-free 1×1 conv (``skip``), to its conv1 output, both branches scaled
  by √½ (``conv1``'s clamp too).

Synthesis layers (the split points mGANprior composes at) are the conv layers in order:
``b4.conv1, b8.conv0, b8.conv1, …, bR.conv1`` (``2·log2R − 3`` of them; conv ``j`` reads w+ row
``j``). A block's ToRGB follows its ``conv1`` and reads row ``j + 1``. The feature returned by
:meth:`StyleGAN2Generator.synthesis_head` is the conv features ``x`` (C_r channels), followed by
whatever else the rest of the network needs, concatenated on the channel axis:

* ``skip``: the running image at the same resolution (``img_channels`` channels; after a ``conv0``
  the previous image is already upsampled, after a ``conv1`` it already holds this block's ToRGB
  output): ``feature_shape(l) = (C_r + img_channels, r, r)``;
* ``resnet`` after a ``conv0``: the block's shortcut (C_r channels), ``(2·C_r, r, r)``;
* otherwise nothing: ``(C_r, r, r)``.
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

ARCHITECTURES = ("skip", "orig", "resnet")
SQRT_HALF = math.sqrt(0.5)


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
        architecture: ``"skip"`` (config F), ``"orig"`` or ``"resnet"`` (see the module docstring).
        w_avg_beta: decay of the tracked w average during training (0.995).
        img_channels: output channels (3).
        c_dim: size of the class label of a conditional model (ADA ``c_dim``; 0 = unconditional).
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
    c_dim: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.architecture not in ARCHITECTURES:
            raise GanlensError(
                f"StyleGAN2 architecture {self.architecture!r} is unknown; allowed: "
                + ", ".join(ARCHITECTURES)
            )
        for name in ("w_dim", "mapping_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise GanlensError(f"{name} {v!r} must be a positive integer")
        if not isinstance(self.c_dim, int) or self.c_dim < 0:
            raise GanlensError(f"c_dim {self.c_dim!r} must be an integer ≥ 0 (0 = unconditional)")
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

    def has_torgb(self, r: int) -> bool:
        """Whether block ``b{r}`` has a ToRGB: every block for ``skip``, only the last otherwise."""
        return self.architecture == "skip" or r == self.resolution

    def has_skip(self, r: int) -> bool:
        """Whether block ``b{r}`` has the resnet shortcut (``resnet``, r ≥ 8)."""
        return self.architecture == "resnet" and r > 4


# ---------------------------------------------------------------------- layers
class SynthesisLayer(nn.Module):
    """Modulated + demodulated 3×3 conv (optionally ×2 upsampling), noise, bias, lrelu·√2·gain, clamp·gain.

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
        self,
        x: Tensor,
        w: Tensor,
        f: Tensor,
        *,
        noise_mode: str,
        generator: torch.Generator | None,
        gain: float = 1.0,
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
        x = F.leaky_relu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1), 0.2) * (SQRT2 * gain)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)
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


class SkipLayer(nn.Module):
    """The resnet shortcut: ×2 FIR upsampling, then a bias-free 1×1 conv (weight gain 1/√I), ·√½."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))  # (O, I, 1, 1)
        self.weight_gain = SQRT_HALF / math.sqrt(in_channels)

    def forward(self, x: Tensor, f: Tensor) -> Tensor:
        x = upsample2d(x, f)  # (N, I, 2H, 2W)
        return F.conv2d(x, (self.weight * self.weight_gain).to(x.dtype))  # (N, O, 2H, 2W)


class SynthesisBlock(nn.Module):
    """One resolution: ``const`` (4×4 only), ``conv0`` (upsampling, r ≥ 8), ``conv1``, then ``torgb``
    (every block for ``skip``, the last otherwise) and ``skip`` (``resnet``, r ≥ 8)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        *,
        conv_clamp: float | None,
        torgb: bool = True,
        skip: bool = False,
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
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp) if torgb else None
        self.skip = SkipLayer(in_channels, out_channels) if skip else None


class SynthesisNetwork(nn.Module):
    """Blocks ``b4 … bR``; runs any contiguous range of conv layers (see the module docstring)."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        c = config
        self.block_resolutions = c.block_resolutions
        for r in self.block_resolutions:
            cin = c.nf(r // 2) if r > 4 else 0
            block = SynthesisBlock(
                cin,
                c.nf(r),
                c.w_dim,
                r,
                c.img_channels,
                conv_clamp=c.conv_clamp,
                torgb=c.has_torgb(r),
                skip=c.has_skip(r),
            )
            self.add_module(f"b{r}", block)
        self.register_buffer("resample_filter", setup_filter(), persistent=False)  # (4, 4)
        self.layers: list[tuple[int, str]] = [(4, "conv1")]
        for r in self.block_resolutions[1:]:
            self.layers += [(r, "conv0"), (r, "conv1")]

    def run(
        self,
        x: Tensor | None,
        carry: Tensor | None,
        ws: Tensor,
        start: int,
        stop: int,
        *,
        noise_mode: str,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Tensor | None]:
        """Run conv layers ``[start, stop)`` (a conv1 is followed by its block's shortcut and ToRGB).

        ``carry`` is what crosses a split beside the features: the running image (``skip``; float32),
        the block's shortcut after a ``conv0`` (``resnet``), else None. After the last layer it is
        the image.
        """
        f = self.resample_filter
        for j in range(start, stop):
            r, name = self.layers[j]
            block = getattr(self, f"b{r}")
            if j == 0:
                x = block.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)  # (N, C4, 4, 4)
            elif name == "conv0" and block.skip is not None:
                carry = block.skip(x, f)  # (N, C_r, r, r)
            elif name == "conv0" and carry is not None:
                carry = upsample2d(carry, f)
            gain = SQRT_HALF if name == "conv1" and block.skip is not None else 1.0
            x = getattr(block, name)(x, ws[:, j], f, noise_mode=noise_mode, generator=generator, gain=gain)
            if name == "conv1" and block.skip is not None:
                x, carry = carry + x, None
            if name == "conv1" and block.torgb is not None:
                y = block.torgb(x, ws[:, j + 1]).float()
                carry = y if carry is None else carry + y
        return x, carry


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
            c_dim=config.c_dim,
        )
        self.synthesis_network = SynthesisNetwork(config)
        #: class used by :meth:`mapping` when a conditional model is called without ``c``
        self.default_class: int | None = None

    # ------------------------------------------------------------------ spaces
    @property
    def w_avg(self) -> Tensor:
        return self.mapping_network.w_avg

    def labels(self, c: Tensor | int | None, n: int) -> Tensor | None:
        """The (n, c_dim) label matrix for ``c``: a class index, (n,) class indices, or (n, c_dim)
        rows as they are; None takes :attr:`default_class`. None for an unconditional model."""
        if not self.c_dim:
            if c is not None:
                raise GanlensError("this model is unconditional (c_dim 0); it takes no class")
            return None
        if c is None:
            c = self.default_class
        if c is None:
            raise GanlensError(
                f"this model is conditional ({self.c_dim} classes): give a class 0–{self.c_dim - 1} "
                "(mapping's c, G.default_class, or --class where a command has it)"
            )
        dev = self.w_avg.device
        if isinstance(c, Tensor) and c.ndim == 2:
            if tuple(c.shape) != (n, self.c_dim):
                raise GanlensError(f"labels have shape {tuple(c.shape)}; expected ({n}, {self.c_dim})")
            return c.to(dev, torch.float32)
        idx = torch.as_tensor(c).long().reshape(-1)
        shown = idx.tolist() if idx.numel() != 1 else int(idx[0])
        if idx.numel() == 1:
            idx = idx.expand(n)
        if idx.shape != (n,) or n == 0 or int(idx.min()) < 0 or int(idx.max()) >= self.c_dim:
            raise GanlensError(
                f"class {shown!r} is not allowed; this model has classes 0–{self.c_dim - 1} ({n} codes)"
            )
        return F.one_hot(idx.to(dev), self.c_dim).float()  # (n, c_dim)

    def mapping(
        self,
        z: Tensor,
        *,
        c: Tensor | int | None = None,
        trunc_psi: float = 1.0,
        trunc_cutoff: int | None = None,
        update_w_avg: bool = False,
    ) -> Tensor:
        """z (N, z_dim) → w+ (N, num_ws, w_dim), truncated on rows ``< trunc_cutoff``.

        ``c`` (conditional models only): see :meth:`labels`. ``update_w_avg=True`` (training) moves
        ``w_avg`` towards this batch's mean w, in train mode only.
        """
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise GanlensError(f"z has shape {tuple(z.shape)}; expected (N, {self.z_dim})")
        labels = self.labels(c, z.shape[0])  # (N, c_dim) or None
        w = self.mapping_network(z.float(), labels, update_w_avg=update_w_avg)  # (N, w_dim)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)  # (N, num_ws, w_dim)
        return self.truncate(ws, trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff)

    # ------------------------------------------------------------------ synthesis
    def _run_layers(self, x, codes, start, stop, *, noise_mode, generator) -> Tensor:
        """Features cross the split as ``cat([features, carry], 1)`` (see the module docstring).
        The last layer returns the image alone."""
        carry = None
        if x is not None:
            c = self.config.nf(x.shape[2])
            x, carry = x[:, :c], x[:, c:]
            if self.config.architecture == "skip":
                carry = carry.float()  # the running image is kept in float32
            elif carry.shape[1] == 0:
                carry = None
        x, carry = self.synthesis_network.run(
            x, carry, codes, start, stop, noise_mode=noise_mode, generator=generator
        )
        if stop == self.num_split_layers:
            return carry  # (N, C, R, R), float32
        if carry is None:
            return x  # (N, C_r, r, r)
        return torch.cat([x, carry.to(x.dtype)], dim=1)  # (N, C_r + img_ch or 2·C_r, r, r)

    @property
    def num_split_layers(self) -> int:
        return len(self.synthesis_network.layers)

    def feature_shape(self, layer: int) -> tuple[int, int, int]:
        self.check_split_layer(layer)
        r, name = self.synthesis_network.layers[layer - 1]
        arch, c = self.config.architecture, self.config.nf(r)
        extra = self.img_channels if arch == "skip" else c if arch == "resnet" and name == "conv0" else 0
        return (c + extra, r, r)

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
        4×4 ToRGB affine (its key filter keeps ``to_rgb1``). Used by SeFa's ``mode="rosinality"``.
        rosinality's generator is ``skip`` only; for the others this is the conv affines alone."""
        net = self.synthesis_network
        convs = [getattr(getattr(net, f"b{r}"), name).affine.weight.detach() for r, name in net.layers]
        rgb4 = [net.b4.torgb.affine.weight.detach()] if net.b4.torgb is not None else []
        return [*convs, *rgb4]

    def noise_buffers(self) -> list[Tensor]:
        """``noise_const`` (r, r) of every conv layer, in layer order."""
        net = self.synthesis_network
        return [getattr(getattr(net, f"b{r}"), name).noise_const for r, name in net.layers]

    def extra_repr(self) -> str:
        c = self.config
        chans = ", ".join(f"{r}:{c.nf(r)}" for r in c.block_resolutions)
        return super().extra_repr() + f", {c.architecture}, channels=({chans}), conv_clamp={c.conv_clamp}"


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
