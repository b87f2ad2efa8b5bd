"""Training curves from ``stats.jsonl`` (one JSON object per tick) as a PNG."""

from __future__ import annotations

import json
from pathlib import Path

AUG_PANEL = "augmentation (ADA)"
PANELS = (
    ("losses", (("loss_G", "G loss"), ("loss_D", "D loss"))),
    ("D scores", (("score_real", "D(x)"), ("score_fake", "D(G(z))"))),
    ("diversity: pixel std over the batch", (("real_std", "real"), ("fake_std", "generated"))),
    ("regularisers (log)", (("r1", "R1 penalty"), ("pl_penalty", "path-length penalty"))),
    (AUG_PANEL, (("aug_p", "p"), ("ada_rt", "r_t = E[sign D(real)]"))),
    ("speed", (("img_per_s", "images/s"),)),
)


def read_stats(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line from a crash; the next tick rewrites the plot
    return rows


def plot_stats(rows: list[dict], out_png: str | Path, *, title: str = "") -> None:
    """Draw the panels (losses, D scores, diversity, regularisers, augmentation, speed) against kimg.

    The augmentation panel is left out for runs that never augmented.
    """
    from ganlens.utils.plots import new_figure, save_figure

    augmented = any(r.get("aug_p") is not None for r in rows)
    panels = [pn for pn in PANELS if pn[0] != AUG_PANEL or augmented]
    fig, axes = new_figure(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    axes = axes[0]
    for ax, (name, series) in zip(axes, panels):
        for key, label in series:
            pts = [(r["kimg"], r[key]) for r in rows if r.get(key) is not None]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, label=label, lw=1.2)
        ax.set_title(name, fontsize=10)
        if name.endswith("(log)") and ax.lines:
            ax.set_yscale("log")
        ax.set_xlabel("kimg")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=80)
