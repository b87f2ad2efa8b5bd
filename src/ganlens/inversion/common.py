"""Pieces shared by the inversion methods: checking inputs, the default loss, optimisers."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from ganlens.errors import GanlensError
from ganlens.generators.base import Generator
from ganlens.inversion.degradations import Degradation, Identity
from ganlens.inversion.losses import ReconstructionLoss

OPTIMIZERS = ("adam", "sgd")


def check_target(G: Generator, target: Tensor, degradation: Degradation, device: torch.device) -> Tensor:
    """Validate a target batch and map it to observation space, on ``device``.

    ``target`` is (N, 3, R, R) in [-1, 1] — or an observation already at the degradation's size
    (a low-resolution image for super-resolution).
    """
    if not isinstance(target, Tensor) or target.ndim != 4 or target.shape[1] != G.img_channels:
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise GanlensError(
            f"target has shape {shape}; expected (N, {G.img_channels}, H, W) images in [-1, 1]"
        )
    if target.shape[-1] != target.shape[-2]:
        raise GanlensError(
            f"target images are {target.shape[-1]}×{target.shape[-2]}; frame them square first"
        )
    if target.shape[-1] != G.resolution:
        # only a degradation that changes the size may accept another size (it raises otherwise)
        probe = degradation(torch.zeros(target.shape[0], G.img_channels, G.resolution, G.resolution))
        if probe.shape[-1] != target.shape[-1]:
            raise GanlensError(
                f"target images are {target.shape[-1]} px but {G.arch} makes {G.resolution} px; "
                "resize them first"
            )
    target = target.detach().float().to(device)
    return degradation(target)


def default_loss(loss: ReconstructionLoss | None) -> ReconstructionLoss:
    return loss if loss is not None else ReconstructionLoss(mse=1.0)


def default_degradation(degradation: Degradation | None) -> Degradation:
    return degradation if degradation is not None else Identity()


def make_optimizer(name: str, params: Iterable[Tensor], lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise GanlensError(f"optimizer {name!r} is not allowed; use one of {', '.join(OPTIMIZERS)}")


def check_positive_int(name: str, v: int, *, lo: int = 1) -> int:
    if not (isinstance(v, int) and v >= lo):
        raise GanlensError(f"{name} {v!r} must be an integer ≥ {lo}")
    return v


def check_lr(lr: float) -> float:
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise GanlensError(f"learning rate {lr!r} must be a positive number")
    return float(lr)


def resolve_device(device: torch.device | str | None, G: Generator) -> torch.device:
    return torch.device(device) if device is not None else G.device
