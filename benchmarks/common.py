"""Helpers the ToonFaces benchmarks share (run as scripts, they find this module beside them)."""

from __future__ import annotations

from pathlib import Path


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
