"""Adam as StyleGAN2 trains with it: corrected for lazy regularisation, with the mapping network in
a group of its own, and a moment copy for a network that starts as a copy of another."""

from __future__ import annotations

from typing import Any

import torch

from ganlens.errors import GanlensError


def lazy_adam(
    params, *, lr: float, betas: tuple[float, float], eps: float, interval: int
) -> torch.optim.Adam:
    """Adam with lr and β corrected for a regulariser run every ``interval`` steps. ``params`` may be
    param groups; a group's ``lr_scale`` multiplies its lr."""
    ratio = interval / (interval + 1) if interval > 0 else 1.0
    params = list(params)
    if params and isinstance(params[0], dict):
        params = [{**g, "lr": lr * ratio * g.get("lr_scale", 1.0)} for g in params]
    return torch.optim.Adam(params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio), eps=eps)


def generator_param_groups(G: torch.nn.Module, mapping_lr_scale: float) -> list[dict[str, Any]]:
    """G's parameters for Adam: one group, or with ``mapping_lr_scale`` ≠ 1 the mapping network's
    (``"mapping"``, lr × the scale) and the rest (``"G"``). Adam's state is kept by position over
    the groups, so the mapping's parameters must come first, as they do in StyleGAN2Generator."""
    named = list(G.named_parameters())
    if mapping_lr_scale == 1.0:
        return [{"params": [p for _, p in named]}]
    mapping = [p for n, p in named if n.startswith("mapping_network.")]
    if not mapping or any(not n.startswith("mapping_network.") for n, _ in named[: len(mapping)]):
        raise GanlensError(f"{type(G).__name__} has no mapping network ahead of its other parameters")
    rest = [p for _, p in named[len(mapping) :]]
    return [
        {"params": mapping, "name": "mapping", "lr_scale": mapping_lr_scale},
        {"params": rest, "name": "G"},
    ]


def copy_adam_state(
    src: torch.optim.Optimizer,
    src_module: torch.nn.Module,
    dst: torch.optim.Optimizer,
    dst_module: torch.nn.Module,
) -> None:
    """Give ``dst`` (over ``dst_module``'s parameters) a copy of ``src``'s per-parameter state (over
    ``src_module``'s, the same architecture): the moments of a network that starts as a copy."""
    for p_src, p_dst in zip(src_module.parameters(), dst_module.parameters(), strict=True):
        if p_src.shape != p_dst.shape:
            raise GanlensError(
                f"cannot copy Adam's state from a {tuple(p_src.shape)} parameter to a {tuple(p_dst.shape)} one"
            )
        if p_src in src.state:
            dst.state[p_dst] = {k: v.clone() for k, v in src.state[p_src].items()}
