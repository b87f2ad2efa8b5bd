"""Training checkpoints: tensors in safetensors, everything else in JSON. Never a pickle.

A checkpoint is a folder ``RUN/checkpoints/step-00001234/`` holding

* ``G.safetensors``, ``D.safetensors``, ``G_ema.safetensors``: module state dicts;
* ``opt_G.safetensors``, ``opt_D.safetensors``: the optimisers' per-parameter state
  (``"{param_index}.{name}"`` → tensor);
* ``state.json``: step, images seen, configs, the optimisers' param groups and scalar training
  state (path-length target, seeds, statistics).

The folder is written under a temporary name and renamed into place, then ``latest.json`` is
replaced atomically, so a crash never leaves a half-written checkpoint as the latest one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ganlens.errors import CheckpointError
from ganlens.generators.native import load_state_dict_strict
from ganlens.utils.io import write_json, write_safetensors

if TYPE_CHECKING:
    from ganlens.generators.base import Generator

FORMAT_VERSION = 1
STATE_NAME = "state.json"
LATEST_NAME = "latest.json"
MODULE_NAMES = ("G", "D", "G_ema")
OPTIMIZER_NAMES = ("opt_G", "opt_D")


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns: the folder and its JSON state."""

    path: Path
    state: dict[str, Any]
    #: optimisers the checkpoint had no file for (only with ``missing_optimizers_ok``)
    missing_optimizers: tuple[str, ...] = ()
    #: per optimiser, the hyperparameters that differ from the checkpoint's: ``{name: {key: (old, new)}}``
    changed_hyperparameters: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return int(self.state["step"])

    @property
    def nimg(self) -> int:
        return int(self.state["nimg"])


def _module_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Split an optimiser state dict into tensors (for safetensors) and JSON-able param groups."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"{idx}.{name}"] = t.detach().cpu().contiguous().clone()
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


#: optimiser hyperparameters a resumed run takes from its own options, not from the checkpoint
HYPERPARAMETERS = ("lr", "betas", "eps")


def load_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]], *, source: str
) -> dict[str, tuple[Any, Any]]:
    """Load Adam's moments and step counts into ``opt``; its hyperparameters stay as they are.

    The optimiser was built from the resuming run's options, so a learning rate, betas or eps
    changed on the command line take effect (the lazy-regularisation correction included) instead
    of being silently replaced by the checkpoint's. The state is matched by parameter position over
    all groups, so the parameters may be grouped differently now (a mapping network given its own
    learning rate, say). Returns ``{"lr": (checkpoint, now), ...}`` for each hyperparameter that
    differs, named ``"<group> lr"`` for a named group (e.g. ``"mapping lr"``).
    """
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, t in tensors.items():
        idx, _, name = key.partition(".")
        state.setdefault(int(idx), {})[name] = t
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in groups]
    own = opt.state_dict()["param_groups"]
    if sum(len(g["params"]) for g in groups) != sum(len(g["params"]) for g in own):
        raise CheckpointError(f"optimizer state in {source!r} does not fit the model's parameters")
    was = [g for g in groups for _ in g["params"]]  # the checkpoint's group of each position
    changed: dict[str, tuple[Any, Any]] = {}
    start = 0
    for g in own:
        old, start = (was[start] if g["params"] else {}), start + len(g["params"])
        for k in HYPERPARAMETERS:
            if old.get(k) != g[k]:
                changed.setdefault(f"{g['name']} {k}" if "name" in g else k, (old.get(k), g[k]))
    opt.load_state_dict({"state": state, "param_groups": own})
    return changed


def save_checkpoint(
    run_dir: str | Path,
    *,
    step: int,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    state: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Write a checkpoint folder for ``step`` and point ``latest.json`` at it.

    Args:
        modules: ``{"G": G, "D": D, "G_ema": G_ema}``.
        optimizers: ``{"opt_G": ..., "opt_D": ...}``.
        state: JSON-able training state (must not contain ``step``/``format_version``; they are added).
        keep: how many of the newest checkpoints to keep (older ones are deleted after the write).
    Returns:
        The checkpoint folder.
    """
    ckpt_root = Path(run_dir) / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=ckpt_root))
    try:
        for name, module in modules.items():
            write_safetensors(tmp / f"{name}.safetensors", _module_tensors(module))
        groups = {}
        for name, opt in optimizers.items():
            tensors, groups[name] = optimizer_tensors(opt)
            write_safetensors(tmp / f"{name}.safetensors", tensors)
        full = {"format_version": FORMAT_VERSION, "step": step, **state, "param_groups": groups}
        (tmp / STATE_NAME).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
        if final.exists():  # re-saving the same step (e.g. interrupted right after a snapshot)
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    write_json(ckpt_root / LATEST_NAME, {"checkpoint": final.name, "step": step, "nimg": state.get("nimg")})
    old = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir() and p != final)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's complete checkpoint folders (those with a ``state.json``), oldest first."""
    ckpt_root = Path(run_dir) / "checkpoints"
    return sorted(p for p in ckpt_root.glob("step-*") if (p / STATE_NAME).is_file())


def checkpoints_up_to(run_dir: str | Path, last: str | Path) -> list[Path]:
    """The run's checkpoint folders from the oldest kept to ``last``, oldest first.

    Raises:
        CheckpointError: ``last`` is not one of the run's checkpoints.
    """
    kept = list_checkpoints(run_dir)
    last = Path(last)
    if last.resolve() not in [c.resolve() for c in kept]:
        raise CheckpointError(
            f"checkpoint {str(last)!r} is not one of the checkpoints of run {str(run_dir)!r}"
        )
    return [c for c in kept if c.name <= last.name]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The folder ``latest.json`` points at, or None when the run has no checkpoint yet."""
    ckpt_root = Path(run_dir) / "checkpoints"
    latest = ckpt_root / LATEST_NAME
    if not latest.is_file():
        return None
    try:
        name = json.loads(latest.read_text(encoding="utf-8"))["checkpoint"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(
            f"{str(latest)!r} is corrupt ({e}); point it at a folder in {str(ckpt_root)!r}"
        ) from None
    path = ckpt_root / str(name)
    if not (path / STATE_NAME).is_file():
        raise CheckpointError(f"{str(latest)!r} names {str(name)!r}, which has no {STATE_NAME}")
    return path


def read_checkpoint_state(path: str | Path) -> Checkpoint:
    path = Path(path)
    try:
        state = json.loads((path / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read {str(path / STATE_NAME)!r}: {e}") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION or "step" not in state:
        raise CheckpointError(
            f"{str(path / STATE_NAME)!r} is not a ganlens training checkpoint (format {FORMAT_VERSION})"
        )
    return Checkpoint(path=path, state=state)


def _read_tensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"cannot read {str(file)!r}: {e}") from None


def has_module(path: str | Path, name: str) -> bool:
    """Whether the checkpoint folder holds module ``name`` (``D_low`` is optional)."""
    return (Path(path) / f"{name}.safetensors").is_file()


def load_module(path: str | Path, name: str, module: nn.Module) -> None:
    """Load one module (``G``, ``D`` or ``G_ema``) of a checkpoint strictly."""
    file = Path(path) / f"{name}.safetensors"
    load_state_dict_strict(module, _read_tensors(file), source=str(file))


def checkpoint_generator(path: str | Path, name: str = "G_ema") -> Generator:
    """The generator ``name`` (``"G_ema"`` or the raw ``"G"``) of a checkpoint folder, built from
    the config the run saved with it, on the CPU in eval mode.

    Raises:
        CheckpointError: the folder is not a checkpoint, or its weights do not fit its config.
    """
    from ganlens.generators import build_generator

    ck = read_checkpoint_state(path)
    if "g_config" not in ck.state:
        raise CheckpointError(f"{str(ck.path / STATE_NAME)!r} has no g_config; it is not a generator's run")
    G = build_generator(ck.state["g_config"])
    load_module(ck.path, name, G)
    return G.eval()


def checkpoint_of(path: str | Path) -> Path | None:
    """``path`` itself when it is a training checkpoint folder, a run folder's latest checkpoint,
    else None (so callers can try other formats)."""
    path = Path(path)
    if (path / STATE_NAME).is_file():
        return path
    if (path / "checkpoints" / LATEST_NAME).is_file():
        return latest_checkpoint(path)
    return None


def load_checkpoint(
    path: str | Path,
    *,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    missing_optimizers_ok: bool = False,
) -> Checkpoint:
    """Restore modules (and optimisers) in place from a checkpoint folder; returns its state.

    ``missing_optimizers_ok`` lets a checkpoint without an optimiser's file through (the optimiser
    keeps its fresh state; the names are in ``missing_optimizers``), as when only the networks
    were copied from another machine.
    """
    ckpt = read_checkpoint_state(path)
    for name, module in modules.items():
        load_module(ckpt.path, name, module)
    missing = []
    changed = {}
    for name, opt in (optimizers or {}).items():
        file = ckpt.path / f"{name}.safetensors"
        if missing_optimizers_ok and not file.exists():
            missing.append(name)
            continue
        groups = ckpt.state.get("param_groups", {}).get(name)
        if groups is None:
            raise CheckpointError(f"{str(ckpt.path)!r} has no param groups for {name!r}")
        if diff := load_optimizer(opt, _read_tensors(file), groups, source=str(file)):
            changed[name] = diff
    return replace(ckpt, missing_optimizers=tuple(missing), changed_hyperparameters=changed)
