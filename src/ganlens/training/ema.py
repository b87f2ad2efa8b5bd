"""Exponential moving average of generator weights, with ADA's half-life and ramp-up."""

from __future__ import annotations

import torch
from torch import nn


def ema_beta(*, batch_size: int, cur_nimg: int, ema_kimg: float, ema_rampup: float | None) -> float:
    """Per-step decay so that the EMA has a half-life of ``ema_kimg`` thousand images.

    With ``ema_rampup`` the half-life is capped at ``cur_nimg · ema_rampup`` early in training
    (β = 0 at the very first step, i.e. G_ema starts as a copy of G), as in ADA.
    """
    ema_nimg = ema_kimg * 1000.0
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """``p_ema ← p + β (p_ema − p)`` for parameters; buffers (w_avg, noise maps) are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)
