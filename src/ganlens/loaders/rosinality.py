"""rosinality/stylegan2-pytorch ``.pt`` checkpoints (and pSp/TediGAN ``decoder.`` wrappers), SPEC §2.2.

Read with ``torch.load(weights_only=True)``; ``argparse.Namespace`` (the ``args`` of train.py
checkpoints) is the only extra global allowed. Sizes are inferred from tensor shapes.
"""

from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

import torch
from torch import Tensor

from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators.native import load_state_dict_strict
from ganlens.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator, channel_table_to_config
from ganlens.loaders.export import (
    import_state,
    pop_filters,
    rosinality_filters,
    rosinality_keymap,
    torch_load_safe,
)

MEAN_LATENT_SAMPLES = 4096
MEAN_LATENT_SEED = 0


def _find_generator_state(ckpt: object, source: str) -> tuple[dict[str, Tensor], Tensor | None]:
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{source!r} holds a {type(ckpt).__name__}, not a rosinality checkpoint dict")
    latent_avg = ckpt.get("latent_avg")
    if isinstance(ckpt.get("g_ema"), dict):
        return dict(ckpt["g_ema"]), latent_avg
    inner = ckpt.get("state_dict") if isinstance(ckpt.get("state_dict"), dict) else ckpt
    dec = {
        k[len("decoder.") :]: v for k, v in inner.items() if isinstance(k, str) and k.startswith("decoder.")
    }
    if dec:
        return dec, latent_avg
    if "style.1.weight" in inner:
        return dict(inner), latent_avg
    keys = sorted(str(k) for k in ckpt)[:8]
    raise CheckpointError(f"{source!r} has no 'g_ema' or 'decoder.*' StyleGAN2 weights (keys: {keys})")


def config_from_state(state: dict[str, Tensor], *, source: str) -> StyleGAN2Config:
    """Infer the StyleGAN2 config from rosinality ``g_ema`` tensor shapes."""
    try:
        n_mlp = len([k for k in state if re.fullmatch(r"style\.\d+\.weight", k)])
        w_dim, z_dim = state["style.1.weight"].shape
        n_rgbs = len([k for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
        resolution = 2 ** (n_rgbs + 2)
        channels = {4: int(state["conv1.conv.weight"].shape[1])}
        for k in range(n_rgbs):
            channels[2 ** (k + 3)] = int(state[f"convs.{2 * k}.conv.weight"].shape[1])
        img_channels = int(state["to_rgb1.conv.weight"].shape[1])
        base, cmax = channel_table_to_config(channels)
        return StyleGAN2Config(
            resolution=resolution,
            z_dim=int(z_dim),
            w_dim=int(w_dim),
            mapping_layers=n_mlp,
            channel_base=base,
            channel_max=cmax,
            img_channels=img_channels,
        )
    except KeyError as e:
        raise CheckpointError(
            f"{source!r} is missing {e.args[0]!r}; not a rosinality StyleGAN2 generator"
        ) from None
    except (GanlensError, ValueError, IndexError) as e:
        raise CheckpointError(f"{source!r}: cannot infer the architecture ({e})") from None


@torch.no_grad()
def mean_w(G: StyleGAN2Generator, *, n: int = MEAN_LATENT_SAMPLES, seed: int = MEAN_LATENT_SEED) -> Tensor:
    """Mean of the mapping over ``n`` seeded z (rosinality's ``mean_latent``), (w_dim,)."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    return G.mapping_network(z).mean(0)


def load_rosinality(path: str | Path) -> StyleGAN2Generator:
    """Load a rosinality (or pSp/TediGAN-wrapped) StyleGAN2 checkpoint on the CPU, in eval mode.

    ``latent_avg`` becomes ``w_avg``; when the file has none (train.py checkpoints), ``w_avg`` is the
    mean mapping of 4096 z drawn with seed 0, and a warning says so.
    """
    source = str(path)
    ckpt = torch_load_safe(path, allow=(argparse.Namespace,))
    state, latent_avg = _find_generator_state(ckpt, source)
    state = {k: v for k, v in state.items() if isinstance(v, Tensor)}
    cfg = config_from_state(state, source=source)
    pop_filters(state, rosinality_filters(cfg), source=source)
    keymap = rosinality_keymap(cfg)
    unexpected = sorted(set(state) - {theirs for _, theirs, _ in keymap})
    if unexpected:
        raise CheckpointError(
            f"{source!r}: g_ema has tensors the StyleGAN2 layout does not: {unexpected[:5]}"
        )
    ours = import_state(cfg, state, keymap)
    G = StyleGAN2Generator(cfg)
    if latent_avg is not None:
        la = torch.as_tensor(latent_avg).detach().float()
        la = la.reshape(-1, cfg.w_dim).mean(0) if la.numel() % cfg.w_dim == 0 else la
        if tuple(la.shape) != (cfg.w_dim,):
            raise CheckpointError(
                f"{source!r}: latent_avg has shape {tuple(la.shape)}; expected ({cfg.w_dim},)"
            )
        ours["mapping_network.w_avg"] = la
    else:
        ours["mapping_network.w_avg"] = torch.zeros(cfg.w_dim)
    load_state_dict_strict(G, ours, source=source)
    if latent_avg is None:
        G.mapping_network.w_avg.copy_(mean_w(G))
        warnings.warn(
            f"{source!r} has no latent_avg; w_avg is the mean mapping of {MEAN_LATENT_SAMPLES} z (seed "
            f"{MEAN_LATENT_SEED})",
            stacklevel=2,
        )
    return G.eval().requires_grad_(False)
