"""Markdown tables and the directions × factors heat-map of an :class:`AttributeAnalysis`."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from ganlens.analysis.attributes import AttributeAnalysis
from ganlens.utils.io import write_bytes, write_json, write_text
from ganlens.utils.plots import figure_png, new_figure


def _f(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{x:.{digits}f}"


def _layers(rows: tuple[int, ...]) -> str:
    if not rows:
        return ""
    if list(rows) == list(range(rows[0], rows[-1] + 1)) and len(rows) > 1:
        return f"{rows[0]}–{rows[-1]}"
    return ",".join(map(str, rows))


def markdown_table(result: AttributeAnalysis) -> str:
    """One row per direction: set, index, layers, top factor and how it moves, effect, runner-up, leakage."""
    lines = [
        "| direction | layers | top factor (−d → +d) | effect | 2nd factor | 2nd effect | leakage "
        "| effect / leakage |",
        "| --- | --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in result.rows:
        name = f"{r.label} #{r.index}" + (f" ({r.name})" if r.target is not None else "")
        mark = "" if r.hit is None else (" ✓" if r.hit else " ✗")
        lines.append(
            f"| {name} | {_layers(r.layers)} | {r.change}{mark} | {_f(r.effect)} | {r.second_factor} | "
            f"{_f(r.second_effect)} | {_f(r.leakage)} | {_f(r.selectivity, 1)} |"
        )
    return "\n".join(lines)


def markdown_summary(result: AttributeAnalysis, *, min_effect: float = 0.05) -> str:
    """One row per direction set (see :meth:`AttributeAnalysis.summary`)."""
    lines = [
        f"| set | directions | distinct top factors (effect ≥ {min_effect:g}) | mean effect | mean leakage "
        "| mean effect / leakage | supervised hit rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in result.summary(min_effect=min_effect):
        lines.append(
            f"| {s['set']} | {s['directions']} | {s['distinct_top_factors']} | {_f(s['mean_effect'])} | "
            f"{_f(s['mean_leakage'])} | {_f(s['mean_selectivity'], 1)} | {_f(s['hit_rate'], 2)} |"
        )
    return "\n".join(lines)


def heatmap_png(result: AttributeAnalysis, *, title: str = "") -> bytes:
    """PNG bytes of the directions × factors heat-map of mean change (top factor outlined)."""
    from matplotlib.patches import Rectangle

    E = np.ma.masked_invalid(result.effects)
    d, f = E.shape
    fig, ax = new_figure(figsize=(1.2 + 0.36 * f, 1.4 + 0.2 * d), dpi=90)
    vmax = float(np.nanmax(result.effects)) if np.isfinite(result.effects).any() else 1.0
    im = ax.imshow(E, aspect="auto", cmap="magma", vmin=0.0, vmax=max(vmax, 1e-6), interpolation="nearest")
    names = list(result.factors)
    for j, r in enumerate(result.rows):
        i = names.index(r.top_factor)
        ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, edgecolor="cyan", linewidth=1.2))
    ax.set_xticks(range(f))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(d))
    ax.set_yticklabels(
        [f"{r.label} #{r.index}" + (f" {r.name}" if r.target else "") for r in result.rows], fontsize=6
    )
    # separators between direction sets
    prev = None
    for j, r in enumerate(result.rows):
        if prev is not None and r.label != prev:
            ax.axhline(j - 0.5, color="white", linewidth=1.5)
        prev = r.label
    cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    cb.set_label("mean change (prob. TV / |Δ| ÷ range)", fontsize=7)
    cb.ax.tick_params(labelsize=6)
    ax.set_title(
        title or f"attribute change per direction, d = ±{result.distance:g}, N = {result.num_samples}",
        fontsize=8,
    )
    fig.tight_layout()
    return figure_png(fig)


def write_analysis(result: AttributeAnalysis, out_dir: str | Path, *, title: str = "") -> dict[str, Path]:
    """Write ``analysis.md`` (summary + per-direction table), ``heatmap.png`` and ``analysis.json``
    into ``out_dir`` (atomically; the caller decides about overwriting, e.g. ``prepare_out_dir``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    head = (
        f"# Attribute analysis\n\nEdits of ±{result.distance:g} on each direction's layers, "
        f"{result.num_samples} samples (seed {result.seed}, ψ {result.trunc_psi:g}).\n\n"
    )
    md = (
        head
        + "## Per set\n\n"
        + markdown_summary(result)
        + "\n\n## Per direction\n\n"
        + markdown_table(result)
        + "\n"
    )
    paths = {"markdown": out / "analysis.md", "heatmap": out / "heatmap.png", "json": out / "analysis.json"}
    write_text(paths["markdown"], md)
    write_bytes(paths["heatmap"], heatmap_png(result, title=title))
    write_json(paths["json"], result.to_dict())
    return paths


def edit_figure(
    G,
    direction_sets: dict,
    result: AttributeAnalysis,
    *,
    per_set: int = 1,
    samples: int = 3,
    seed: int = 0,
    label_width: int = 230,
) -> bytes:
    """PNG bytes: for each direction set, its ``per_set`` strongest directions (largest effect), each
    shown on ``samples`` codes at −d, 0, +d (d = ``result.distance``, ψ = ``result.trunc_psi``),
    labelled with the top factor, its change and the effect."""
    import torch
    from PIL import Image, ImageDraw

    from ganlens.sefa.edit import edit_codes, sample_codes, synthesize
    from ganlens.utils.io import make_grid, to_uint8

    _, codes = sample_codes(
        G, samples, seed=seed, trunc_psi=result.trunc_psi, trunc_cutoff=result.trunc_cutoff
    )
    d = result.distance
    rows: list[tuple[str, np.ndarray]] = []
    for lab in result.set_labels():
        rs = sorted((r for r in result.rows if r.label == lab), key=lambda r: -np.nan_to_num(r.effect))[
            :per_set
        ]
        for r in rs:
            dirs = direction_sets[lab]
            imgs = []
            for c in range(samples):
                one = codes[c : c + 1]
                trio = torch.cat(
                    [edit_codes(G, one, dirs, index=r.index, distance=s * d) for s in (-1.0, 0.0, 1.0)]
                )
                imgs.append(synthesize(G, trio))
            grid = make_grid(torch.cat(imgs).clamp(-1, 1), nrow=3 * samples, padding=2)
            text = (
                f"{lab} #{r.index}"
                + (f" ({r.name})" if r.target else "")
                + f"\n{r.change}\neffect {r.effect:.2f}"
            )
            ascii_text = text.replace("↑", "up").replace("↓", "down").replace("→", "->").replace("−", "-")
            rows.append((ascii_text, to_uint8(grid)))  # the default PIL font has no arrows
    h = sum(a.shape[0] for _, a in rows)
    w = label_width + max(a.shape[1] for _, a in rows)
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    y = 0
    for text, arr in rows:
        canvas.paste(Image.fromarray(arr), (label_width, y))
        draw.multiline_text((4, y + 4), text, fill=(0, 0, 0), spacing=2)
        y += arr.shape[0]
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
