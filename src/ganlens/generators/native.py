"""Our native format: ``config.json`` + ``model.safetensors`` in one folder. Never runs code."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators import build_generator
from ganlens.generators.base import Generator
from ganlens.utils.io import write_json, write_safetensors

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1


def save_state(module: torch.nn.Module, path: str | Path, *, metadata: dict[str, str] | None = None) -> None:
    """Write a module's state dict as safetensors, atomically (shared storage is cloned)."""
    state = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    write_safetensors(path, state, metadata)


def load_state(module: torch.nn.Module, path: str | Path) -> None:
    """Load a safetensors file strictly, reporting missing/unexpected keys and bad shapes in one line."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"cannot read weights {str(path)!r}: {e}") from None
    load_state_dict_strict(module, state, source=str(path))


def load_state_dict_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"weights in {source!r} do not fit the model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}"
            f", unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise CheckpointError(
            f"weights in {source!r} have shape {tuple(state[k].shape)} for {k!r}; the model needs {tuple(own[k].shape)}"
        )
    module.load_state_dict(state, strict=True)


def save_module(
    module: torch.nn.Module,
    directory: str | Path,
    *,
    arch: str,
    config: dict,
    overwrite: bool = False,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``module`` as a native folder: ``config.json`` (``config``) and ``model.safetensors``
    (its floating tensors in ``dtype`` where given), never over an existing model unless ``overwrite``."""
    directory = Path(directory)
    if (directory / WEIGHTS_NAME).exists() and not overwrite:
        raise GanlensError(
            f"{str(directory / WEIGHTS_NAME)!r} exists; pass overwrite=True (--overwrite) to replace it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    if dtype is None:
        save_state(module, directory / WEIGHTS_NAME, metadata={"format": "ganlens", "arch": arch})
    else:
        state = {
            k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous().clone()
            for k, v in module.state_dict().items()
        }
        write_safetensors(directory / WEIGHTS_NAME, state, {"format": "ganlens", "arch": arch})
    write_json(directory / CONFIG_NAME, {"format_version": FORMAT_VERSION, **config})
    return directory


def save_generator(G: Generator, directory: str | Path, *, overwrite: bool = False) -> Path:
    return save_module(G, directory, arch=G.arch, config=G.config.to_dict(), overwrite=overwrite)


def read_config(directory: str | Path, *, weights: bool = False) -> dict:
    """The model folder's ``config.json`` (without its format version); with ``weights``, its
    ``model.safetensors`` must be there too.

    Raises:
        CheckpointError: a missing file, or a config that is not a JSON object.
    """
    path = Path(directory) / CONFIG_NAME
    if not path.is_file() or (weights and not (Path(directory) / WEIGHTS_NAME).is_file()):
        missing = CONFIG_NAME if not path.is_file() else WEIGHTS_NAME
        raise CheckpointError(
            f"{str(directory)!r} has no {missing}; a ganlens model folder needs {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{str(path)!r} is not valid JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{str(path)!r} must hold a JSON object")
    cfg.pop("format_version", None)
    return cfg


def load_generator(directory: str | Path, *, device: torch.device | str = "cpu") -> Generator:
    """Rebuild a generator from its folder: the config alone builds it, then weights load strictly."""
    directory = Path(directory)
    G = build_generator(read_config(directory))
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"{str(directory)!r} has no {WEIGHTS_NAME}")
    load_state(G, weights)
    return G.eval().requires_grad_(False).to(device)
