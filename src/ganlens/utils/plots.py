"""Matplotlib figures without pyplot: nothing global to switch (no backend choice) or to close.

``new_figure`` makes a figure and its axes, ``figure_png`` draws it to PNG bytes and
``save_figure`` writes them atomically; the figure is freed with its last reference.
"""

from __future__ import annotations

import io
import os
from typing import Any

from ganlens.utils.io import write_bytes


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], dpi: float = 100, **kw: Any):
    """A ``matplotlib.figure.Figure`` and its axes, as ``Figure.subplots(nrows, ncols, **kw)`` returns them."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(nrows, ncols, **kw)


def figure_png(fig, *, dpi: float | None = None) -> bytes:
    """PNG bytes of ``fig`` (at ``dpi``, default the figure's own)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or "figure")
    return buf.getvalue()


def save_figure(fig, path: str | os.PathLike[str], *, dpi: float | None = None) -> None:
    """Write ``fig`` as a PNG to ``path``, atomically (parent folders are made)."""
    write_bytes(path, figure_png(fig, dpi=dpi))
