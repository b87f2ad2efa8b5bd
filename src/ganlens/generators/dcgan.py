"""DCGAN: a projection generator (z → first layer → transposed-conv upsampling → tanh).

Layout follows the PyTorch DCGAN tutorial (and the DigiFace ``gan_face_generate`` model):
``ConvTranspose2d(z, C, 4, 1, 0)`` on a 1×1 input (or a ``Linear(z, C·16)``), then
``ConvTranspose2d(4, 2, 1)`` blocks, each followed by BatchNorm and ReLU, and a final
transposed conv to RGB with tanh. Synthesis layers (split points) are those transposed convs:
layer ``i`` outputs resolution ``4·2^i``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ganlens.errors import GanlensError
from ganlens.generators.base import Generator, GeneratorConfig


@dataclass(frozen=True)
class DCGANConfig(GeneratorConfig):
    """DCGAN settings.

    Attributes:
        resolution: output size (8…1024), default 64.
        z_dim: latent size, default 100 (the tutorial's ``nz``).
        ngf: base width; channels at resolution r are ``ngf·R/(2r)`` capped at ``channel_max``.
        channel_max: largest channel count, default 512.
        first_layer: ``"convtranspose"`` (1×1 → 4×4 transposed conv) or ``"linear"``.
        norm: ``"batch"`` or ``"none"``.
        bias: whether convolutions carry a bias (the tutorial uses none).
    """

    arch: ClassVar[str] = "dcgan"

    resolution: int = 64
    z_dim: int = 100
    ngf: int = 64
    channel_max: int = 512
    first_layer: str = "convtranspose"
    norm: str = "batch"
    bias: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.first_layer not in ("convtranspose", "linear"):
            raise GanlensError(
                f"first_layer {self.first_layer!r} is not allowed; use convtranspose or linear"
            )
        if self.norm not in ("batch", "none"):
            raise GanlensError(f"norm {self.norm!r} is not allowed; use batch or none")
        if self.ngf <= 0 or self.channel_max <= 0:
            raise GanlensError("ngf and channel_max must be positive")

    def channels(self, r: int) -> int:
        """Feature channels at resolution r (< R)."""
        return max(1, min(self.ngf * self.resolution // (2 * r), self.channel_max))


class DCGANGenerator(Generator):
    arch: ClassVar[str] = "dcgan"
    style_based: ClassVar[bool] = False
    config_class: ClassVar[type[GeneratorConfig]] = DCGANConfig

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__(config)
        c = config
        c4 = c.channels(4)
        if c.first_layer == "convtranspose":
            self.first = nn.ConvTranspose2d(c.z_dim, c4, 4, 1, 0, bias=c.bias)
        else:
            self.first = nn.Linear(c.z_dim, c4 * 16, bias=c.bias)
        self.norms = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.norms.append(nn.BatchNorm2d(c4) if c.norm == "batch" else nn.Identity())
        r, cin = 4, c4
        while r * 2 < c.resolution:
            cout = c.channels(r * 2)
            self.ups.append(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=c.bias))
            self.norms.append(nn.BatchNorm2d(cout) if c.norm == "batch" else nn.Identity())
            r, cin = r * 2, cout
        self.to_rgb = nn.ConvTranspose2d(cin, c.img_channels, 4, 2, 1, bias=c.bias)

    # --------------------------------------------------------------- layers
    @property
    def num_split_layers(self) -> int:
        return len(self.ups) + 2  # first, ups..., to_rgb

    def _run_layer(self, i: int, x: Tensor) -> Tensor:
        if i == 0:
            z = x
            if isinstance(self.first, nn.Linear):
                x = self.first(z).view(z.shape[0], -1, 4, 4)
            else:
                x = self.first(z[:, :, None, None])
            return torch.relu(self.norms[0](x))  # (N, C4, 4, 4)
        if i < self.num_split_layers - 1:
            return torch.relu(self.norms[i](self.ups[i - 1](x)))
        return torch.tanh(self.to_rgb(x))  # (N, 3, R, R)

    def _run_layers(self, x, codes, start, stop, *, noise_mode, generator) -> Tensor:
        x = codes if x is None else x
        for i in range(start, stop):
            x = self._run_layer(i, x)
        return x

    def feature_shape(self, layer: int) -> tuple[int, int, int]:
        self.check_split_layer(layer)
        r = 4 * 2 ** (layer - 1)
        return (self.config.channels(r), r, r)

    # --------------------------------------------------------------- SeFa
    def projection_weights(self) -> dict[int, Tensor]:
        w = self.first.weight.detach()
        if isinstance(self.first, nn.Linear):
            return {0: w}  # (C·16, z_dim)
        # ConvTranspose on a 1×1 input writes kernel taps unflipped: out[c, i, j] = Σ_z W[z, c, i, j]·z.
        return {0: w.reshape(w.shape[0], -1).t()}  # (C·16, z_dim)
