"""Helpers the ToonFaces benchmarks share (run as scripts, they find this module beside them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_bench_args(
    p: argparse.ArgumentParser, *, seed: int | None = 0, seed_help: str = "seed of the samples"
) -> None:
    """The options every benchmark takes: ``--threads`` and, unless ``seed`` is None, ``--seed``."""
    if seed is not None:
        p.add_argument("--seed", type=int, default=seed, help=f"{seed_help} (default {seed})")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def fail(name: str, e: Exception) -> int:
    """Print a benchmark's one-line error (``NAME: error: ...``) and give its exit status, 2."""
    from ganlens.errors import one_line

    print(f"{name}: error: {one_line(e)}", file=sys.stderr)
    return 2


def load_g(path: str):
    """The generator of a zoo name, export, training checkpoint or run folder (its G_ema), and a
    label for it."""
    from ganlens.training.checkpoint import checkpoint_of, read_checkpoint_state
    from ganlens.zoo import load_model

    G = load_model(path)
    ck = checkpoint_of(path) if Path(path).is_dir() else None
    if ck is None:
        return G, path
    return G, f"{ck.name} ({read_checkpoint_state(ck).nimg / 1000:.2f} kimg, G_ema)"


def bin_ids(factor, values, bins: int = 5):
    """Per image, the bin of a classifier's reading of ``factor`` (its class; for a continuous
    factor one of ``bins`` equal bins over its range), and the bins' labels."""
    import numpy as np

    v = values.detach().cpu()
    if factor.categorical:
        return (v.argmax(-1) if v.ndim == 2 else v).long().numpy(), list(factor.classes)
    lo, hi = factor.range
    edges = np.linspace(lo, hi, bins + 1)
    ids = np.clip(np.digitize(v.double().numpy(), edges[1:-1]), 0, bins - 1)
    return ids, [f"{edges[i]:+.2f}..{edges[i + 1]:+.2f}" for i in range(bins)]
