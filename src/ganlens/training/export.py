"""Export a run's G_ema in the native ganlens format (``config.json`` + ``model.safetensors``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganlens.errors import GanlensError
from ganlens.generators import build_generator
from ganlens.generators.native import WEIGHTS_NAME
from ganlens.training.checkpoint import latest_checkpoint, load_module, read_checkpoint_state
from ganlens.zoo import sha256_file


@dataclass(frozen=True)
class ExportResult:
    """Where the model went, its size and digest, and which training step it is."""

    directory: Path
    checkpoint: Path
    step: int
    kimg: float
    size_bytes: int
    sha256: str


def export_generator(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    overwrite: bool = False,
    max_mb: float = 25.0,
) -> ExportResult:
    """Write the G_ema of a run's latest (or the given) checkpoint with ``save_pretrained``.

    Raises:
        GanlensError: no checkpoint in ``run_dir``, the model would exceed ``max_mb`` (MB, 10^6
            bytes, fp32), or ``out_dir`` already holds a model and ``overwrite`` is False.
    """
    ckpt_path = Path(checkpoint) if checkpoint is not None else latest_checkpoint(run_dir)
    if ckpt_path is None:
        raise GanlensError(f"run folder {str(run_dir)!r} has no checkpoint yet; train first")
    ck = read_checkpoint_state(ckpt_path)
    G = build_generator(ck.state["g_config"])
    load_module(ck.path, "G_ema", G)
    n_bytes = sum(t.numel() * t.element_size() for t in G.state_dict().values())
    if n_bytes > max_mb * 1e6:
        raise GanlensError(f"G_ema has {n_bytes / 1e6:.1f} MB of tensors; the limit is {max_mb} MB")
    G.save_pretrained(str(out_dir), overwrite=overwrite)
    weights = Path(out_dir) / WEIGHTS_NAME
    return ExportResult(
        directory=Path(out_dir),
        checkpoint=ck.path,
        step=ck.step,
        kimg=ck.nimg / 1000.0,
        size_bytes=weights.stat().st_size,
        sha256=sha256_file(weights),
    )
