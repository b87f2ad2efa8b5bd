"""Differentiable augmentation of everything the discriminator sees, with ADA's adaptive strength.

The method of Karras et al., "Training Generative Adversarial Networks with Limited Data" (2020;
NVlabs/stylegan2-ada-pytorch): every image shown to D, real or generated, in every loss term,
goes through the same random pipeline; each transformation is applied to each image
independently with probability ``p``. With ``p`` below about 0.8 the augmentations do not leak
into the generator. ADA tunes ``p`` during training from the overfitting heuristic
``r_t = E[sign(D(real))]``: every ``interval`` steps ``p`` moves by
``sign(r_t − target) · batch · interval / (ada_kimg · 1000)`` (so it can cross [0, 1] in
``ada_kimg`` thousand images), never below 0.

Pipelines (ADA's names and default strengths):

* ``blit``: x-flip, rotation by a multiple of 90°, integer translation (≤ 12.5 % of the size);
  done by nearest-neighbour sampling at pixel centres, so pixel values are only moved.
* ``geom``: isotropic scale (lognormal, σ = 0.2 octaves), arbitrary rotation (applied twice with
  probability ``1 − √(1 − p)`` each, around the anisotropic scale), anisotropic scale
  (σ = 0.2 octaves) and fractional translation (σ = 0.125 of the size); bilinear sampling of a
  2× grid averaged down 2×2, reflection padding.
* ``color``: brightness (+N(0, 0.2)), contrast (×lognormal, σ = 0.5 octaves), luma flip, hue
  rotation about the luma axis (uniform over the full circle), saturation (×lognormal, σ = 1
  octave), as one 4×4 colour matrix per image.
* ``bg`` = blit + geom, ``bgc`` = all three (ADA's default).

This is our implementation of that method, not a port: the transformations, probabilities and
strengths follow the paper, while the resampling (``torch.nn.functional.grid_sample`` on a 2×
grid, instead of ADA's wavelet up/down-sampling filters) is simpler. With
``p = 0`` the pipeline returns its input unchanged, bit for bit.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ganlens.errors import GanlensError

PIPELINES: dict[str, tuple[str, ...]] = {
    "blit": ("blit",),
    "geom": ("geom",),
    "color": ("color",),
    "bg": ("blit", "geom"),
    "bgc": ("blit", "geom", "color"),
}
XINT_MAX = 0.125
SCALE_STD = 0.2
ROTATE_MAX = 1.0  # × π
ANISO_STD = 0.2
XFRAC_STD = 0.125
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5
HUE_MAX = 1.0  # × π
SATURATION_STD = 1.0


def check_pipeline(name: str) -> tuple[str, ...]:
    if name not in PIPELINES:
        raise GanlensError(f"augmentation pipeline {name!r} is unknown; allowed: {', '.join(PIPELINES)}")
    return PIPELINES[name]


# ---------------------------------------------------------------------- 3×3 / 4×4 matrices per image
def _eye(n: int, k: int) -> Tensor:
    return torch.eye(k).expand(n, k, k).clone()


def _scale2d(sx: Tensor, sy: Tensor) -> Tensor:
    m = _eye(len(sx), 3)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _translate2d(tx: Tensor, ty: Tensor) -> Tensor:
    m = _eye(len(tx), 3)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _rotate2d(theta: Tensor) -> Tensor:
    m = _eye(len(theta), 3)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _gate(value: Tensor, identity: float, p: float, gen: torch.Generator) -> Tensor:
    """``value`` where a Bernoulli(p) draw says so, else the identity value."""
    on = torch.rand(value.shape, generator=gen) < p
    return torch.where(on, value, torch.full_like(value, identity))


def blit_matrix(n: int, size: int, p: float, gen: torch.Generator) -> Tensor:
    """Inverse (output → input) transform of x-flip, rotate-90 and integer translation. (n, 3, 3)."""
    flip = _gate(torch.randint(0, 2, (n,), generator=gen).float(), 0.0, p, gen)
    m = _scale2d(1 - 2 * flip, torch.ones(n))
    quarter = _gate(torch.randint(0, 4, (n,), generator=gen).float(), 0.0, p, gen)
    m = m @ _rotate2d(-quarter * (math.pi / 2))
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * XINT_MAX
    on = torch.rand(n, generator=gen) < p
    pixels = torch.where(on[:, None], torch.round(shift * size), torch.zeros_like(shift))
    return m @ _translate2d(-2 * pixels[:, 0] / size, -2 * pixels[:, 1] / size)


def geom_matrix(n: int, p: float, gen: torch.Generator) -> Tensor:
    """Inverse transform of scale, rotate, anisotropic scale, rotate, fractional translation."""
    s = _gate(2 ** (torch.randn(n, generator=gen) * SCALE_STD), 1.0, p, gen)
    m = _scale2d(1 / s, 1 / s)
    p_rot = 1 - math.sqrt(max(1 - p, 0.0))  # two chances, overall probability p
    theta = _gate((torch.rand(n, generator=gen) * 2 - 1) * math.pi * ROTATE_MAX, 0.0, p_rot, gen)
    m = m @ _rotate2d(-theta)
    a = _gate(2 ** (torch.randn(n, generator=gen) * ANISO_STD), 1.0, p, gen)
    m = m @ _scale2d(1 / a, a)
    theta = _gate((torch.rand(n, generator=gen) * 2 - 1) * math.pi * ROTATE_MAX, 0.0, p_rot, gen)
    m = m @ _rotate2d(-theta)
    t = torch.randn(n, 2, generator=gen) * XFRAC_STD
    on = torch.rand(n, generator=gen) < p
    t = torch.where(on[:, None], t, torch.zeros_like(t))
    return m @ _translate2d(-2 * t[:, 0], -2 * t[:, 1])


def color_matrix(n: int, p: float, gen: torch.Generator) -> Tensor:
    """Forward 4×4 colour transform on homogeneous RGB: brightness, contrast, luma flip, hue, saturation."""
    v = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)  # luma axis
    vv = torch.outer(v, v)
    c = _eye(n, 4)
    b = _gate(torch.randn(n, generator=gen) * BRIGHTNESS_STD, 0.0, p, gen)
    step = _eye(n, 4)
    step[:, :3, 3] = b[:, None]
    c = step @ c
    k = _gate(2 ** (torch.randn(n, generator=gen) * CONTRAST_STD), 1.0, p, gen)
    step = _eye(n, 4)
    step[:, :3, :3] *= k[:, None, None]
    c = step @ c
    flip = _gate(torch.randint(0, 2, (n,), generator=gen).float(), 0.0, p, gen)
    c = (torch.eye(4) - 2 * vv * flip[:, None, None]) @ c
    theta = _gate((torch.rand(n, generator=gen) * 2 - 1) * math.pi * HUE_MAX, 0.0, p, gen)
    c = _rotate_about_luma(theta) @ c
    s = _gate(2 ** (torch.randn(n, generator=gen) * SATURATION_STD), 1.0, p, gen)
    c = (vv + (torch.eye(4) - vv) * s[:, None, None]) @ c
    return c


def _rotate_about_luma(theta: Tensor) -> Tensor:
    """Rodrigues rotation of RGB about (1, 1, 1)/√3, as 4×4 matrices."""
    k = torch.ones(3) / math.sqrt(3)
    cross = torch.tensor([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    r3 = c * torch.eye(3) + s * cross + (1 - c) * torch.outer(k, k)
    m = _eye(len(theta), 4)
    m[:, :3, :3] = r3
    return m


# ---------------------------------------------------------------------- application
_MODES = {"bilinear": 0, "nearest": 1}
_REFLECTION = 2  # aten's padding_mode code


class _GridSample(torch.autograd.Function):
    """``x -> grid_sample(x, grid)`` with reflection padding, as a linear map of ``x`` (the grid is a
    constant). Its backward is :class:`_GridSampleAdjoint`, whose backward is this again, so R1's
    gradient penalty can differentiate through the augmentation twice on CUDA too, where PyTorch has
    no double backward for ``grid_sample`` (ADA's ``grid_sample_gradfix`` solves the same problem)."""

    @staticmethod
    def forward(ctx, x: Tensor, grid: Tensor, mode: str) -> Tensor:
        ctx.save_for_backward(grid)
        ctx.mode, ctx.x_shape = mode, x.shape
        return F.grid_sample(x, grid, mode=mode, padding_mode="reflection", align_corners=False)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (grid,) = ctx.saved_tensors
        return _GridSampleAdjoint.apply(grad, grid, ctx.mode, ctx.x_shape), None, None


class _GridSampleAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, grad: Tensor, grid: Tensor, mode: str, x_shape: torch.Size) -> Tensor:
        ctx.save_for_backward(grid)
        ctx.mode = mode
        like = grad.new_empty(x_shape)  # only its shape is read
        gx, _ = torch.ops.aten.grid_sampler_2d_backward(
            grad, like, grid, _MODES[mode], _REFLECTION, False, [True, False]
        )
        return gx

    @staticmethod
    def backward(ctx, gg: Tensor):
        (grid,) = ctx.saved_tensors
        return _GridSample.apply(gg, grid, ctx.mode), None, None, None


def grid_sample_twice_differentiable(x: Tensor, grid: Tensor, *, mode: str) -> Tensor:
    """``F.grid_sample(x, grid, mode, padding_mode="reflection", align_corners=False)`` that supports
    gradients of gradients with respect to ``x`` on every device (``grid`` gets no gradient)."""
    return _GridSample.apply(x, grid.detach(), mode)


def _resample(x: Tensor, inv: Tensor, *, mode: str, supersample: bool) -> Tensor:
    """Sample ``x`` at ``inv`` · (output coordinates), reflection padding. Only non-identity images move."""
    moved = (inv - torch.eye(3)).abs().amax(dim=(1, 2)) > 1e-7
    if not bool(moved.any()):
        return x
    idx = moved.nonzero().flatten().to(x.device)
    sub = x.index_select(0, idx)
    theta = inv[moved][:, :2, :].to(device=x.device, dtype=sub.dtype)
    size = list(sub.shape)
    if supersample:  # sample a 2× grid, then average 2×2 blocks: less aliasing when shrinking
        size[2:] = [2 * size[2], 2 * size[3]]
    grid = F.affine_grid(theta, size, align_corners=False)
    sub = grid_sample_twice_differentiable(sub, grid, mode=mode)
    if supersample:
        sub = F.avg_pool2d(sub, 2)
    return x.index_copy(0, idx, sub)


def augment(images: Tensor, p: float, *, pipeline: str = "bgc", generator: torch.Generator) -> Tensor:
    """Augment a batch the way D sees it (see the module docstring).

    Args:
        images: (N, C, H, W), square, in [-1, 1]; C = 3 for the colour stage.
        p: probability of each transformation per image, in [0, 1].
        pipeline: one of :data:`PIPELINES`.
        generator: CPU generator for every random draw (the trainer's per-step generator).

    Returns:
        (N, C, H, W) float32, differentiable with respect to ``images``.
    """
    stages = check_pipeline(pipeline)
    if not 0.0 <= p <= 1.0:
        raise GanlensError(f"augmentation probability {p} must be in [0, 1]")
    n, ch, h, w = images.shape
    if h != w:
        raise GanlensError(f"augmentation needs square images, got {h}×{w}")
    with torch.autocast(images.device.type, enabled=False):
        x = images.float()
        if p == 0:
            return x
        if "blit" in stages:
            x = _resample(x, blit_matrix(n, h, p, generator), mode="nearest", supersample=False)
        if "geom" in stages:
            x = _resample(x, geom_matrix(n, p, generator), mode="bilinear", supersample=True)
        if "color" in stages:
            if ch != 3:
                raise GanlensError(f"the colour stage needs 3-channel images, got {ch}")
            c = color_matrix(n, p, generator).to(x.device)
            flat = x.reshape(n, 3, h * w)
            x = (c[:, :3, :3] @ flat + c[:, :3, 3:]).reshape(n, 3, h, w)
        return x


class AdaptiveP:
    """ADA's controller for ``p``: accumulate ``sign(D(real))``, adjust every ``interval`` steps.

    Args:
        p: starting probability.
        target: the r_t the controller steers to (0.6 in ADA).
        ada_kimg: thousands of images for ``p`` to move by 1 at the full rate (500 in ADA).
        interval: steps between adjustments (4 in ADA).
    """

    def __init__(
        self, p: float = 0.0, *, target: float = 0.6, ada_kimg: float = 500.0, interval: int = 4
    ) -> None:
        self.p = float(p)
        self.target = target
        self.ada_kimg = ada_kimg
        self.interval = interval
        self.sign_sum = 0.0
        self.count = 0
        self.last_rt = float("nan")

    def accumulate(self, real_logits: Tensor) -> None:
        self.sign_sum += float(torch.sign(real_logits.detach().float()).sum())
        self.count += real_logits.numel()

    def adjust(self, batch: int, reduce=None) -> None:
        """Move ``p`` from the signs gathered since the last call (``reduce`` sums over ranks)."""
        stats = torch.tensor([self.sign_sum, float(self.count)], dtype=torch.float64)
        if reduce is not None:
            stats = reduce(stats)
        self.sign_sum, self.count = 0.0, 0
        if stats[1] <= 0:
            return
        self.last_rt = float(stats[0] / stats[1])
        rate = batch * self.interval / (self.ada_kimg * 1000)
        direction = (self.last_rt > self.target) - (self.last_rt < self.target)  # sign, 0 on target
        self.p = min(max(self.p + direction * rate, 0.0), 1.0)

    def state_dict(self) -> dict[str, float]:
        return {"p": self.p, "sign_sum": self.sign_sum, "count": self.count, "last_rt": self.last_rt}

    def load_state_dict(self, d: dict) -> None:
        self.p = float(d["p"])
        self.sign_sum = float(d.get("sign_sum", 0.0))
        self.count = int(d.get("count", 0))
        self.last_rt = float(d.get("last_rt", float("nan")))
