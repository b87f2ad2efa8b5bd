"""genforce ``.pth`` generators (the format SeFa uses), SPEC §2.3.

A ``torch.save`` dict with ``generator_smooth`` (the EMA weights, preferred) or ``generator``, or a
bare state dict. StyleGAN2 is loaded here; StyleGAN v1 and PGGAN state dicts are handed to
:mod:`ganlens.loaders.genforce_legacy`. Read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from torch import Tensor

from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators.base import Generator
from ganlens.generators.native import load_state_dict_strict
from ganlens.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator, channel_table_to_config
from ganlens.loaders.export import (
    genforce_filters,
    genforce_keymap,
    import_state,
    pop_filters,
    torch_load_safe,
)


def generator_state(ckpt: object, *, source: str) -> dict[str, Tensor]:
    """The generator state dict inside a genforce checkpoint (EMA weights first)."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{source!r} holds a {type(ckpt).__name__}, not a genforce checkpoint dict")
    for key in ("generator_smooth", "generator"):
        if isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    state = {k: v for k, v in ckpt.items() if isinstance(k, str) and isinstance(v, Tensor)}
    if not state:
        raise CheckpointError(f"{source!r} has no generator tensors (keys: {sorted(map(str, ckpt))[:8]})")
    return state


def family(state: dict[str, Tensor]) -> str:
    """``"stylegan2"``, ``"stylegan"`` or ``"pggan"`` from the key names."""
    if any(k.startswith("synthesis.early_layer.") for k in state):
        return "stylegan2"
    if any(k.startswith("mapping.") or k.startswith("synthesis.") for k in state):
        return "stylegan"
    return "pggan"


def config_from_state(state: dict[str, Tensor], *, source: str) -> StyleGAN2Config:
    """Infer a StyleGAN2 config from genforce tensor shapes."""
    try:
        if "mapping.label_weight" in state:
            raise CheckpointError(
                f"{source!r} is a conditional model (label_weight); only unconditional is supported"
            )
        n_map = len([k for k in state if re.fullmatch(r"mapping\.dense\d+\.weight", k)])
        hidden, z_dim = state["mapping.dense0.weight"].shape
        w_dim = int(state[f"mapping.dense{n_map - 1}.weight"].shape[0])
        if hidden != w_dim or state["truncation.w_avg"].numel() != w_dim:
            raise CheckpointError(
                f"{source!r}: mapping width {hidden} / w_avg size {state['truncation.w_avg'].numel()} "
                f"differ from "
                f"w_dim {w_dim} (repeat_w=False or mapping_fmaps≠w_dim is not supported)"
            )
        n_out = len([k for k in state if re.fullmatch(r"synthesis\.output\d+\.weight", k)])
        n_layer = len([k for k in state if re.fullmatch(r"synthesis\.layer\d+\.weight", k)])
        resolution = 2 ** (n_out + 1)
        if n_layer != 2 * n_out - 1:
            raise CheckpointError(
                f"{source!r} has {n_out} ToRGB outputs for {n_layer} conv layers; "
                "only the 'skip' architecture is supported"
            )
        channels = {4: int(state["synthesis.early_layer.const"].shape[1])}
        for k in range(1, n_out):
            channels[2 ** (k + 2)] = int(state[f"synthesis.layer{2 * k}.weight"].shape[0])
        base, cmax = channel_table_to_config(channels)
        return StyleGAN2Config(
            resolution=resolution,
            z_dim=int(z_dim),
            w_dim=w_dim,
            mapping_layers=n_map,
            channel_base=base,
            channel_max=cmax,
            img_channels=int(state["synthesis.output0.weight"].shape[0]),
        )
    except KeyError as e:
        raise CheckpointError(
            f"{source!r} is missing {e.args[0]!r}; not a genforce StyleGAN2 generator"
        ) from None
    except CheckpointError:
        raise
    except (GanlensError, ValueError, IndexError) as e:
        raise CheckpointError(f"{source!r}: cannot infer the architecture ({e})") from None


def stylegan2_from_genforce(state: dict[str, Tensor], *, source: str = "<state dict>") -> StyleGAN2Generator:
    """Build a StyleGAN2 generator from a genforce StyleGAN2 state dict (conv0 un-flipped, +1 added)."""
    state = dict(state)
    cfg = config_from_state(state, source=source)
    pop_filters(state, genforce_filters(cfg), source=source)
    keymap = genforce_keymap(cfg)
    unexpected = sorted(set(state) - {theirs for _, theirs, _ in keymap})
    if unexpected:
        raise CheckpointError(
            f"{source!r}: the generator has tensors the StyleGAN2 layout does not: {unexpected[:5]}"
        )
    G = StyleGAN2Generator(cfg)
    load_state_dict_strict(G, import_state(cfg, state, keymap), source=source)
    return G.eval().requires_grad_(False)


def load_genforce(path: str | Path) -> Generator:
    """Load a genforce ``.pth`` (StyleGAN2 here; StyleGAN v1 / PGGAN via ``genforce_legacy``)."""
    source = str(path)
    state = generator_state(torch_load_safe(path), source=source)
    fam = family(state)
    if fam == "stylegan2":
        return stylegan2_from_genforce(state, source=source)
    try:  # imported lazily: StyleGAN v1 / PGGAN conversions live with those architectures
        genforce_legacy = importlib.import_module("ganlens.loaders.genforce_legacy")
    except ImportError:
        raise CheckpointError(
            f"{source!r} is a genforce {fam} checkpoint, but genforce_legacy is not available"
        ) from None
    fn = genforce_legacy.stylegan_from_genforce if fam == "stylegan" else genforce_legacy.pggan_from_genforce
    return fn(state).eval().requires_grad_(False)
