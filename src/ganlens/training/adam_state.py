"""Adam's second moments beside an exported model (``adam/``), so that a run started from the export
(``TrainConfig.init_generator``) does not begin with an empty optimiser.

A full checkpoint of the shipped ToonFaces model is 104 MB. With betas (0, 0.99), ADA's recipe,
Adam's first moment is only the last gradient, overwritten by the next step, so what a new run
loses by starting afresh is the second moment: every restart here with a fresh Adam spent 60-150
kimg getting back to where it started. ``adam/`` keeps each second-moment value as one byte on a
per-tensor log2 scale (255 levels; under 6 % off in our checkpoints, 3 % on
the step size it sets), 7.2 MB for the shipped model, with the step counts and the kimg of the
checkpoint it came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ganlens.errors import GanlensError
from ganlens.training.checkpoint import read_checkpoint_state
from ganlens.utils.io import write_json, write_safetensors

#: the sub-folder of an exported model that holds Adam's second moments for G and D
ADAM_DIR = "adam"
OPTIMIZERS = ("opt_G", "opt_D")
#: optimisers whose moments go in too where the checkpoint has them (``--lowres-d``, ``--crop-d``)
OPTIONAL_OPTIMIZERS = ("opt_D_low", "opt_D_crop")
STATE_NAME = "state.json"
LEVELS = 255  # codes 1..255 span a tensor's log2 range; code 0 is an exact zero


def quantize(v: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """Non-negative ``v`` as uint8 codes on a log2 scale, with the scale's ends (lo, hi)."""
    v = v.float()
    pos = v > 0
    codes = torch.zeros(v.shape, dtype=torch.uint8)
    if not bool(pos.any()):
        return codes, 0.0, 0.0
    logs = torch.log2(v[pos])
    lo, hi = float(logs.min()), float(logs.max())
    codes[pos] = (1 + torch.round((logs - lo) / max(hi - lo, 1e-12) * (LEVELS - 1))).to(torch.uint8)
    return codes, lo, hi


def dequantize(codes: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    out = torch.exp2(lo + (codes.float() - 1) / (LEVELS - 1) * (hi - lo))
    return torch.where(codes == 0, torch.zeros_like(out), out)


def write_adam_state(checkpoint: str | Path, out_dir: str | Path) -> Path:
    """Write the second moments of a training checkpoint's Adams (G's, D's and, where the run has
    them, D_low's and D_crop's) into ``out_dir/adam/``; stale files of the optional ones are removed.

    Raises:
        GanlensError: the checkpoint's Adam has betas[0] != 0 (its first moment would matter), or
            an optimiser tensor that is not Adam's.
    """
    ck = read_checkpoint_state(checkpoint)
    beta1 = ck.state.get("train_config", {}).get("betas", [0.0])[0]
    if beta1 != 0:
        raise GanlensError(f"betas[0] is {beta1}; adam/ keeps only the second moment, so it needs 0")
    folder = Path(out_dir) / ADAM_DIR
    folder.mkdir(parents=True, exist_ok=True)
    optional = [n for n in OPTIONAL_OPTIMIZERS if (ck.path / f"{n}.safetensors").is_file()]
    for name in OPTIONAL_OPTIMIZERS:
        if name not in optional:
            (folder / f"{name}.safetensors").unlink(missing_ok=True)
    for name in (*OPTIMIZERS, *optional):
        tensors, scales = {}, {}
        for key, t in load_file(str(ck.path / f"{name}.safetensors")).items():
            if key.endswith(".exp_avg_sq"):
                tensors[key], lo, hi = quantize(t)
                scales[key] = [lo, hi]
            elif key.endswith(".step"):
                tensors[key] = t
            elif not key.endswith(".exp_avg"):
                raise GanlensError(f"{name}: {key!r} is not an Adam tensor (exp_avg, exp_avg_sq, step)")
        write_safetensors(folder / f"{name}.safetensors", tensors, {"scales": json.dumps(scales)})
    info = {"checkpoint_step": ck.step, "checkpoint_kimg": ck.nimg / 1000.0}
    write_json(folder / STATE_NAME, info)
    return folder


def read_adam_moments(
    folder: str | Path, name: str, params: list[torch.Tensor]
) -> dict[int, dict[str, torch.Tensor]]:
    """The Adam state of ``params`` (the optimiser's, in its order) from ``folder/{name}.safetensors``:
    the stored second moments and step counts, and a zero first moment.

    Raises:
        GanlensError: a missing or unreadable file, or moments that do not fit ``params``.
    """
    file = Path(folder) / f"{name}.safetensors"
    try:
        with safe_open(str(file), framework="pt") as f:
            scales = json.loads((f.metadata() or {})["scales"])
            stored = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no items)
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise GanlensError(f"cannot read Adam's moments from {str(file)!r}: {e}") from None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, codes in stored.items():
        idx, _, kind = key.partition(".")
        if kind != "exp_avg_sq":
            continue
        i = int(idx)
        if i >= len(params) or tuple(codes.shape) != tuple(params[i].shape):
            mine = tuple(params[i].shape) if i < len(params) else "no such parameter"
            raise GanlensError(
                f"{str(file)!r} does not fit this model: its parameter {i} has shape {tuple(codes.shape)}, "
                f"the model's {mine}"
            )
        p = params[i]
        state[i] = {  # a parameter with no stored moment (it never had a gradient) starts afresh
            "step": stored.get(f"{idx}.step", torch.tensor(0.0)),
            "exp_avg": torch.zeros_like(p),
            "exp_avg_sq": torch.empty_like(p).copy_(dequantize(codes, *scales[key])),  # p's layout
        }
    return state


def permute_moment_columns(folder: str | Path, name: str, index: int, perm: torch.Tensor) -> bool:
    """Reorder the first ``len(perm)`` columns of parameter ``index``'s stored second moment in
    ``folder/{name}.safetensors`` as ``[:, perm]`` (the codes move, each tensor's scale stays), for a
    parameter whose input columns were permuted alike. Returns False when there is no such file or
    the parameter has no stored moment.
    """
    file = Path(folder) / f"{name}.safetensors"
    key = f"{index}.exp_avg_sq"
    if not file.is_file():
        return False
    with safe_open(str(file), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no items)
    if key not in tensors:
        return False
    codes = tensors[key].clone()
    n = len(perm)
    codes[:, :n] = codes[:, :n][:, perm]
    tensors[key] = codes
    write_safetensors(file, tensors, meta)
    return True


def load_adam_state(folder: str | Path, optimizers: dict[str, torch.optim.Optimizer]) -> dict:
    """Put the second moments in ``folder`` (an ``adam/`` folder) into ``optimizers`` (``opt_G``,
    ``opt_D``), keeping each optimiser's own hyperparameters; returns the folder's ``state.json``."""
    for name, opt in optimizers.items():
        params = [p for group in opt.param_groups for p in group["params"]]
        state = read_adam_moments(folder, name, params)
        opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
    try:
        return json.loads((Path(folder) / STATE_NAME).read_text())
    except (OSError, ValueError):
        return {}
