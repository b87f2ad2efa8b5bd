"""StyleGAN2 discriminator, residual architecture (the layout of ADA's ``resnet`` D).

Per resolution ``r`` from R down to 8 there is a block ``b{r}``: (at r = R only) a 1×1 ``fromrgb``,
then ``conv0`` (3×3), ``conv1`` (3×3, down ×2) and a residual ``skip`` (1×1, down ×2, no bias);
the output is ``(skip(x) + conv1(conv0(x))) · √½``. Down-sampling low-pass filters with the
separable [1, 3, 3, 1] kernel before the stride-2 convolution. The 4×4 epilogue ``b4`` appends a
minibatch-stddev feature, then a 3×3 conv, a dense layer and the 1-logit output layer.

A conditional D (``c_dim > 0``, ADA's projection discriminator) maps the label through its own
``mapping`` network (label embedding + ``mapping_layers`` dense layers, lr × 0.01) to a vector
``cmap`` of ``cmap_dim`` features; the output layer then has ``cmap_dim`` features and the logit is
their dot product with ``cmap``, divided by √cmap_dim.

All weights use the equalised learning rate (stored N(0, 1), scaled at run time by
``gain / sqrt(fan_in)``) and leaky ReLU 0.2 with the StyleGAN2 output gain √2. Parameter names
follow ADA (``b64.conv0.weight``, ``b4.fc.weight``...) so the weights read like theirs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlens.errors import GanlensError
from ganlens.generators.fir import downsample2d, fold_filter, setup_filter
from ganlens.generators.layers import SQRT2, EqualizedLinear


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Discriminator settings (validated on creation).

    Attributes:
        resolution: input height = width, a power of two in [8, 1024].
        img_channels: input channels (1 or 3).
        channel_base: channels at resolution r are ``min(channel_base // r, channel_max)``
            (ADA: 32768 for config F, 16384 for the ``auto``/``paper256`` configs).
        channel_max: largest channel count.
        mbstd_group_size: minibatch-stddev group size (clipped to the batch); 4 as in ADA.
        mbstd_num_channels: number of stddev feature maps (0 disables the layer).
        conv_clamp: clamp conv outputs to ±this value (None: no clamp).
        c_dim: size of the label of a conditional D (0: unconditional).
        cmap_dim: features of the label projection (None: the 4×4 channel count, as ADA).
        mapping_layers: dense layers of the label's mapping network (8, as ADA).
    """

    resolution: int = 64
    img_channels: int = 3
    channel_base: int = 16384
    channel_max: int = 512
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    conv_clamp: float | None = None
    c_dim: int = 0
    cmap_dim: int | None = None
    mapping_layers: int = 8

    def __post_init__(self) -> None:
        r = self.resolution
        if not (isinstance(r, int) and 8 <= r <= 1024 and r & (r - 1) == 0):
            raise GanlensError(
                f"discriminator resolution {r!r} is not allowed; use a power of two from 8 to 1024"
            )
        if self.img_channels not in (1, 3):
            raise GanlensError(f"img_channels {self.img_channels!r} must be 1 or 3")
        if self.channel_base <= 0 or self.channel_max <= 0:
            raise GanlensError(
                f"channel_base {self.channel_base} and channel_max {self.channel_max} must be positive"
            )
        if self.mbstd_group_size < 1 or self.mbstd_num_channels < 0:
            raise GanlensError(
                f"mbstd_group_size {self.mbstd_group_size} must be >= 1 and mbstd_num_channels "
                f"{self.mbstd_num_channels} >= 0"
            )
        if not isinstance(self.c_dim, int) or self.c_dim < 0:
            raise GanlensError(f"c_dim {self.c_dim!r} must be an integer >= 0 (0 = unconditional)")
        if (self.cmap_dim is not None and self.cmap_dim < 1) or self.mapping_layers < 1:
            raise GanlensError(
                f"cmap_dim {self.cmap_dim!r} and mapping_layers {self.mapping_layers!r} must be >= 1"
            )

    @property
    def projection_dim(self) -> int:
        """Features of the output layer: 1, or ``cmap_dim`` for a conditional D."""
        if not self.c_dim:
            return 1
        return self.cmap_dim or self.channels(4)

    def channels(self, r: int) -> int:
        return max(1, min(self.channel_base // r, self.channel_max))

    def to_dict(self) -> dict[str, Any]:
        return {"arch": "stylegan2-discriminator", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiscriminatorConfig:
        d = dict(d)
        arch = d.pop("arch", "stylegan2-discriminator")
        d.pop("format_version", None)
        if arch != "stylegan2-discriminator":
            raise GanlensError(f"config is for {arch!r}, expected 'stylegan2-discriminator'")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise GanlensError(f"unknown discriminator config fields {unknown}; allowed: {sorted(names)}")
        return cls(**d)


class DConv(nn.Module):
    """Equalised-lr conv with optional ×2 FIR down-sampling, bias and (leaky ReLU · √2) activation.

    ``gain`` multiplies the output after the activation (ADA's ``act_gain``); ``clamp`` clips it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        activation: str = "lrelu",
        down: int = 1,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        if activation not in ("lrelu", "linear") or down not in (1, 2):
            raise ValueError(f"activation {activation!r} / down {down} not supported")
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size)
        )  # (O, I, k, k)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.kernel_size = kernel_size
        self.activation = activation
        self.down = down
        self.fold_resample = False  # fold the low-pass into the stride-2 weights (same result, one op)
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(), persistent=False)

    def forward(self, x: Tensor, *, gain: float = 1.0) -> Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        k = self.kernel_size
        if self.down == 2 and self.fold_resample:  # low-pass and stride-2 conv as one (k+3)×(k+3) conv
            f = self.resample_filter.flip([0, 1])
            x = F.conv2d(x, fold_filter(w, f), stride=2, padding=(k - 1) // 2 + 1)
        elif self.down == 2 and k == 1:
            x = downsample2d(x, self.resample_filter, pad=1, stride=2)  # (N, I, H/2, W/2)
            x = F.conv2d(x, w)
        elif self.down == 2:
            # low-pass on a padded map, then a valid stride-2 conv: H + 4 - 3 + 1 - 3 → H/2 after stride
            x = downsample2d(x, self.resample_filter, pad=(k - 1) // 2 + 1, stride=1)
            x = F.conv2d(x, w, stride=2)
        else:
            x = F.conv2d(x, w, padding=k // 2)
        if self.bias is not None:
            x = x + self.bias.to(x.dtype)[None, :, None, None]
        act_gain = gain
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2)
            act_gain = gain * SQRT2
        if act_gain != 1.0:
            x = x * act_gain
        if self.conv_clamp is not None:
            c = self.conv_clamp * gain
            x = x.clamp(-c, c)
        return x

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"in={i}, out={o}, k={k}, down={self.down}, act={self.activation}"


class DiscriminatorBlock(nn.Module):
    """Residual block at resolution ``r``: (N, C_r, r, r) → (N, C_{r/2}, r/2, r/2)."""

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        *,
        img_channels: int,
        first: bool,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        if first:
            self.fromrgb = DConv(img_channels, tmp_channels, 1, conv_clamp=conv_clamp)
        self.first = first
        self.conv0 = DConv(tmp_channels, tmp_channels, 3, conv_clamp=conv_clamp)
        self.conv1 = DConv(tmp_channels, out_channels, 3, down=2, conv_clamp=conv_clamp)
        self.skip = DConv(tmp_channels, out_channels, 1, bias=False, activation="linear", down=2)

    def forward(self, x: Tensor) -> Tensor:
        if self.first:
            x = self.fromrgb(x)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


def minibatch_stddev(x: Tensor, group_size: int, num_channels: int = 1) -> Tensor:
    """Append the per-group feature stddev as ``num_channels`` extra maps (ADA's MinibatchStdLayer).

    Sample ``i`` is grouped with samples ``i ± n`` (n = N / G groups), as in ADA. The batch must be
    divisible by the (clipped) group size.
    """
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g != 0:
        raise GanlensError(
            f"batch {n} is not divisible by the minibatch-stddev group size {g}; use a multiple of {g}"
        )
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)  # (G, n, F, c, H, W)
    y = (y - y.mean(dim=0)).square().mean(dim=0)  # (n, F, c, H, W) variance over the group
    y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))  # (n, F)
    y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # (N, F, H, W)
    return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4×4 head: minibatch stddev, 3×3 conv, dense, 1-logit output. (N, C, 4, 4) → (N, 1)."""

    def __init__(
        self,
        channels: int,
        *,
        mbstd_group_size: int,
        mbstd_num_channels: int,
        conv_clamp: float | None,
        out_features: int = 1,
    ) -> None:
        super().__init__()
        self.mbstd_group_size = mbstd_group_size
        self.mbstd_num_channels = mbstd_num_channels
        self.conv = DConv(channels + mbstd_num_channels, channels, 3, conv_clamp=conv_clamp)
        self.fc = EqualizedLinear(channels * 16, channels, activation="lrelu_v2")
        self.out = EqualizedLinear(channels, out_features)

    def forward(self, x: Tensor) -> Tensor:
        if self.mbstd_num_channels > 0:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        return self.out(x)  # (N, out_features)


class StyleGAN2Discriminator(nn.Module):
    """Residual StyleGAN2 discriminator: image (N, C, R, R) in [-1, 1] (and, conditional, labels
    (N, c_dim)) → logits (N, 1)."""

    def layer_names(self) -> list[str]:
        """The conv layers in ADA's Freeze-D order, from the input: per block ``fromrgb`` (the first
        block only), ``conv0``, ``conv1``, ``skip`` (the epilogue is never frozen)."""
        out = []
        for r in self.block_resolutions:
            names = (
                ("fromrgb", "conv0", "conv1", "skip")
                if r == self.config.resolution
                else ("conv0", "conv1", "skip")
            )
            out += [f"b{r}.{n}" for n in names]
        return out

    def frozen_parameters(self, layers: int) -> list[str]:
        """Names of the parameters of the first ``layers`` layers (``--freeze-d``, ADA's ``--freezed``)."""
        allowed = self.layer_names()
        if not 0 <= layers <= len(allowed):
            raise GanlensError(
                f"freeze_d {layers} is not allowed; this {self.config.resolution}-px D has {len(allowed)} "
                f"layers before its epilogue (0 to {len(allowed)})"
            )
        keep = tuple(n + "." for n in allowed[:layers])
        return [n for n, _ in self.named_parameters() if n.startswith(keep)]

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = c = config
        self.block_resolutions = [2**i for i in range(int(math.log2(c.resolution)), 2, -1)]
        for r in self.block_resolutions:
            ch = c.channels(r)
            self.add_module(
                f"b{r}",
                DiscriminatorBlock(
                    ch,
                    ch,
                    c.channels(r // 2),
                    img_channels=c.img_channels,
                    first=r == c.resolution,
                    conv_clamp=c.conv_clamp,
                ),
            )
        self.b4 = DiscriminatorEpilogue(
            c.channels(4),
            mbstd_group_size=c.mbstd_group_size,
            mbstd_num_channels=c.mbstd_num_channels,
            conv_clamp=c.conv_clamp,
            out_features=c.projection_dim,
        )
        if c.c_dim:
            from ganlens.generators.layers import MappingNetwork

            self.mapping = MappingNetwork(
                0,
                c.projection_dim,
                num_layers=c.mapping_layers,
                c_dim=c.c_dim,
                activation="lrelu_v2",
                w_avg_beta=None,
            )

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def forward(self, img: Tensor, labels: Tensor | None = None) -> Tensor:
        c = self.config
        if img.ndim != 4 or tuple(img.shape[1:]) != (c.img_channels, c.resolution, c.resolution):
            raise GanlensError(
                f"discriminator input has shape {tuple(img.shape)}; expected (N, {c.img_channels}, "
                f"{c.resolution}, {c.resolution})"
            )
        if c.c_dim and (labels is None or tuple(labels.shape) != (img.shape[0], c.c_dim)):
            shape = None if labels is None else tuple(labels.shape)
            raise GanlensError(
                f"this D is conditional: labels of shape ({img.shape[0]}, {c.c_dim}) are needed, got {shape}"
            )
        if not c.c_dim and labels is not None:
            raise GanlensError("this D is unconditional (c_dim 0); it takes no labels")
        x = img
        for r in self.block_resolutions:
            x = getattr(self, f"b{r}")(x)
        x = self.b4(x)  # (N, 1) or (N, cmap_dim)
        if not c.c_dim:
            return x
        cmap = self.mapping(labels.new_zeros(labels.shape[0], 0), labels)  # (N, cmap_dim)
        return (x * cmap.to(x.dtype)).sum(dim=1, keepdim=True) / math.sqrt(c.projection_dim)

    # ---------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (never a pickle)."""
        from ganlens.generators.native import save_module

        config = self.config.to_dict()
        return save_module(
            self, directory, arch="stylegan2-discriminator", config=config, overwrite=overwrite
        )

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> StyleGAN2Discriminator:
        from ganlens.generators.native import WEIGHTS_NAME, load_state, read_config

        D = cls(DiscriminatorConfig.from_dict(read_config(directory, weights=True)))
        load_state(D, Path(directory) / WEIGHTS_NAME)
        return D
