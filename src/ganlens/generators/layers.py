"""Building blocks shared by the StyleGAN-family architectures (SPEC §1.1).

Weights are stored *unscaled* and multiplied at run time by ``gain / sqrt(fan_in) * lr_mul``
("equalised learning rate"); biases are multiplied by ``lr_mul``. Loaders copy official tensors
in unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SQRT2 = math.sqrt(2.0)


def pixel_norm(x: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``x / sqrt(mean(x², dim) + eps)``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class EqualizedLinear(nn.Module):
    """Dense layer with equalised lr.

    Args:
        in_features, out_features: sizes.
        gain: weight gain in the runtime coefficient (√2 for v1/PGGAN leaky layers, 1 otherwise).
        lr_mul: learning-rate multiplier (0.01 for mapping layers).
        bias_init: initial bias value (1 for StyleGAN2 affines in ADA/rosinality layout).
        activation: ``"linear"``, ``"lrelu"`` (v1 convention: plain leaky ReLU) or
            ``"lrelu_v2"`` (StyleGAN2 convention: leaky ReLU then ×√2).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        gain: float = 1.0,
        lr_mul: float = 1.0,
        bias_init: float = 0.0,
        activation: str = "linear",
    ) -> None:
        super().__init__()
        if activation not in ("linear", "lrelu", "lrelu_v2"):
            raise ValueError(f"activation {activation!r} not in linear, lrelu, lrelu_v2")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)  # (O, I)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul)) if bias else None
        self.weight_gain = gain * lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.lr_mul if self.bias is not None else None
        x = F.linear(x, w, b)
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2)
        elif self.activation == "lrelu_v2":
            x = F.leaky_relu(x, 0.2) * SQRT2
        return x

    def extra_repr(self) -> str:
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, lr_mul={self.lr_mul}, act={self.activation}"


class EqualizedConv2d(nn.Module):
    """Plain conv with equalised lr (``gain / sqrt(in·k·k)``); used by PGGAN/v1 and discriminators."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        gain: float = 1.0,
        padding: int | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size)
        )  # (O, I, k, k)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2 if padding is None else padding

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        return F.conv2d(x, w, b, padding=self.padding)


class MappingNetwork(nn.Module):
    """z → w: pixel norm then ``num_layers`` equalised dense layers (lr_mul 0.01 by default).

    Submodules are named ``fc0 … fc{n-1}`` (the ADA naming); ``w_avg`` is a buffer tracked during
    training with ``w_avg_beta`` (None: no ``w_avg``, as in the label network of ADA's conditional D).
    A conditional network (``c_dim > 0``, ADA) also has ``embed``, a linear layer from the label to
    ``w_dim`` features; the normalised embedding is concatenated to the normalised z before ``fc0``
    (with ``z_dim`` 0 it is the whole input).
    """

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        *,
        num_layers: int = 8,
        hidden: int | None = None,
        lr_mul: float = 0.01,
        activation: str = "lrelu_v2",
        normalize_z: bool = True,
        w_avg_beta: float | None = 0.995,
        c_dim: int = 0,
    ) -> None:
        super().__init__()
        hidden = w_dim if hidden is None else hidden
        gain = SQRT2 if activation == "lrelu" else 1.0
        self.c_dim = c_dim
        if c_dim:
            self.embed = EqualizedLinear(c_dim, w_dim)
        dims = [z_dim + (w_dim if c_dim else 0)] + [hidden] * (num_layers - 1) + [w_dim]
        for i in range(num_layers):
            self.add_module(
                f"fc{i}",
                EqualizedLinear(dims[i], dims[i + 1], gain=gain, lr_mul=lr_mul, activation=activation),
            )
        self.num_layers = num_layers
        self.normalize_z = normalize_z
        self.w_avg_beta = w_avg_beta
        if w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, c: Tensor | None = None, *, update_w_avg: bool = False) -> Tensor:
        """z (N, z_dim) and, for a conditional network, labels c (N, c_dim) → w (N, w_dim)."""
        x = pixel_norm(z) if self.normalize_z and z.shape[1] else z  # z_dim 0: a label-only network (D's)
        if self.c_dim:
            x = torch.cat([x, pixel_norm(self.embed(c.to(x.dtype)))], dim=1)  # (N, z_dim + w_dim)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_w_avg and self.training and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return x  # (N, w_dim)


# ---------------------------------------------------------------------- PGGAN / StyleGAN v1 helpers
def blur_121(x: Tensor) -> Tensor:
    """Depthwise 3×3 low-pass ``outer([1,2,1], [1,2,1]) / 16`` with zero padding 1 (StyleGAN v1 blur)."""
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    k = (k[:, None] * k[None, :]) / 16.0  # (3, 3), symmetric so correlation = convolution
    c = x.shape[1]
    return F.conv2d(x, k.expand(c, 1, 3, 3), padding=1, groups=c)


def fused_upsample_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Nearest ×2 upsampling and a 3×3 convolution as one stride-2 transposed convolution.

    This is the ``fused_scale`` path of PGGAN/StyleGAN v1: the 4×4 transposed-conv kernel is the
    3×3 kernel summed over the four one-pixel shifts inside a zero-padded 5×5 grid.

    Args:
        x: (N, I, H, W) input.
        weight: (O, I, 3, 3) kernel, runtime coefficient already applied.
        bias: optional (O,).

    Returns:
        (N, O, 2H, 2W).
    """
    w = F.pad(weight, (1, 1, 1, 1))  # (O, I, 5, 5)
    w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]  # (O, I, 4, 4)
    return F.conv_transpose2d(x, w.transpose(0, 1), bias, stride=2, padding=1)
