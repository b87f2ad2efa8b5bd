"""Realism of a ToonFaces StyleGAN2 run over training: toon-FD ratio and mean marginal TV per snapshot.

Snapshots are exported G_ema folders ``SNAPSHOTS/kimg-XXXX.XX/`` (``ganlens train stylegan2-export``
writes them; ``--run`` does it for you, with the run's D in ``discriminator/``, so that any snapshot
can start a new run with ``--init-g``). Each is measured once, like ``benchmarks/toonfaces.py``
(n fresh renders as real set A, a disjoint set B for the floor, the same seed for the generated
images) and its figures are kept in ``realism.json`` beside the weights. Prints a table per
folder, writes its ``curve.csv`` and, with ``--plot``, one PNG of FD ratio and marginal TV against
kimg with a curve per folder (runs forked from one another line up on the kimg axis).

    .venv/bin/python benchmarks/toonfaces_curve.py --snapshots "/root/ganlens-runs/v3-snapshots=run 3" \\
        "/root/ganlens-runs/v4-snapshots=run 4 (ADA)" --plot docs/images/training/fd_curve.png
    # while a run trains: export and measure every 10 kimg, until stopped
    .venv/bin/python benchmarks/toonfaces_curve.py --snapshots DIR --run RUN --every 10 --watch
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common import add_bench_args, fail

GOAL_RATIO = 3.0
GOAL_TV = 0.1
#: the factors whose spread the plot's third panel follows (the shipped model collapsed them)
POSE_FACTORS = ("roll", "yaw", "offset_x", "offset_y")


class Meter:
    """Real-set features computed once; :meth:`measure` scores one generator against them."""

    def __init__(self, n: int, seed: int, batch_size: int, resolution: int = 64) -> None:
        from ganlens.analysis.realism import REAL_SEED_A, REAL_SEED_B, RealReference, render_real
        from ganlens.classifier import load_classifier

        self.n, self.seed, self.batch_size = n, seed, batch_size
        a = render_real(n, size=resolution, base_seed=REAL_SEED_A, progress=False)
        b = render_real(n, size=resolution, base_seed=REAL_SEED_B, progress=False)
        self.ref = RealReference(load_classifier(None), a)
        self.fd_floor = self.ref.score(b).fd

    def measure(self, G) -> dict:
        from ganlens.analysis.realism import generate, quantize

        fake = quantize(generate(G, self.n, seed=self.seed, batch_size=self.batch_size, progress=False))
        fd, tv, spread, *_ = self.ref.score(fake)
        return {
            "n": self.n,
            "toon_fd": fd,
            "fd_floor": self.fd_floor,
            "fd_ratio": fd / self.fd_floor,
            "mean_tv": float(np.mean(list(tv.values()))),
            "max_tv": max(tv.values()),
            "tv": tv,
            "spread": spread,
        }


def snapshot_kimg(path: Path) -> float:
    return float(path.name.removeprefix("kimg-"))


def export_due(run: Path, snapshots: Path, every: float) -> Path | None:
    """Export the run's latest checkpoint when it passed a multiple of ``every`` kimg not yet exported."""
    from ganlens.training.checkpoint import latest_checkpoint, read_checkpoint_state
    from ganlens.training.export import export_generator

    ckpt = latest_checkpoint(run)
    if ckpt is None:
        return None
    kimg = read_checkpoint_state(ckpt).nimg / 1000
    have = {int(snapshot_kimg(p) // every) for p in snapshots.glob("kimg-*")}
    if kimg < every or int(kimg // every) in have:
        return None
    out = snapshots / f"kimg-{kimg:07.2f}"
    export_generator(run, out, overwrite=True, with_discriminator=True)  # D too: a later run can start here
    return out


def measure_all(
    snapshots: Path, meter_args: dict, meter: list, *, add_spread: bool = False
) -> list[tuple[float, dict]]:
    """Figures of every snapshot, measuring those without a ``realism.json`` (with ``add_spread``
    also those measured before spread ratios were recorded)."""
    from ganlens.zoo import load_model

    rows = []
    for p in sorted(snapshots.glob("kimg-*"), key=snapshot_kimg):
        res_path = p / "realism.json"
        res = json.loads(res_path.read_text()) if res_path.is_file() else None
        due = res is None or (add_spread and "spread" not in res)
        if due and (p / "model.safetensors").is_file():
            if not meter:
                meter.append(Meter(**meter_args))
            t0 = time.perf_counter()
            res = meter[0].measure(load_model(p))
            res["seconds"] = round(time.perf_counter() - t0, 1)
            from ganlens.utils.io import write_json

            write_json(res_path, res)
            print(f"  measured {p.name}: FD ratio {res['fd_ratio']:.2f} ({res['seconds']:.0f}s)", flush=True)
        if res is not None:
            rows.append((snapshot_kimg(p), res))
    return rows


Series = list[tuple[Path, str, list[tuple[float, dict]]]]  # (snapshots folder, label, [(kimg, figures)])


def report(series: Series, plot: str | None) -> None:
    from ganlens.utils.io import write_text

    for folder, label, rows in series:
        lines = ["kimg,toon_fd,fd_ratio,mean_tv,max_tv,min_spread,min_spread_factor"]
        print(
            f"\n{label}\n{'kimg':>8s} {'toon-FD':>8s} {'FD ratio':>8s} {'mean TV':>8s} {'max TV':>7s}"
            "  min spread (factor)"
        )
        for kimg, r in rows:
            factor, spread = min_spread(r)
            shown = f"{spread:5.2f} ({factor})" if factor else "    –"
            print(
                f"{kimg:8.2f} {r['toon_fd']:8.1f} {r['fd_ratio']:8.2f} {r['mean_tv']:8.3f} {r['max_tv']:7.3f}"
                f"  {shown}"
            )
            lines.append(
                f"{kimg:.2f},{r['toon_fd']:.1f},{r['fd_ratio']:.3f},{r['mean_tv']:.4f},{r['max_tv']:.4f},"
                + (f"{spread:.3f},{factor}" if factor else ",")
            )
        write_text(folder / "curve.csv", "\n".join(lines) + "\n")
        if rows:
            best = min(rows, key=lambda kr: kr[1]["fd_ratio"])
            print(f"best: {best[0]:.2f} kimg, FD ratio {best[1]['fd_ratio']:.2f} (goal ≤ {GOAL_RATIO:g})")
    if plot and any(rows for _, _, rows in series):
        plot_curve(series, plot)
        print(f"plot: {plot}")


def min_spread(figures: dict) -> tuple[str, float]:
    """The most collapsed factor of a snapshot (smallest spread ratio), or ("", nan) when the
    snapshot was measured before spread ratios were recorded."""
    spread = {k: v for k, v in figures.get("spread", {}).items() if np.isfinite(v)}
    if not spread:
        return "", float("nan")
    factor = min(spread, key=spread.get)
    return factor, spread[factor]


def plot_curve(series: Series, path: str) -> None:
    from matplotlib.lines import Line2D

    from ganlens.utils.plots import new_figure, save_figure

    with_spread = any("spread" in r for _, _, rows in series for _, r in rows)  # the same test as pts below
    rows_of_legend = -(-len(series) // 4)  # runs share one legend below the panels, 4 to a row
    fig, axes = new_figure(
        1, 3 if with_spread else 2, figsize=(15 if with_spread else 10, 3.4 + 0.25 * rows_of_legend)
    )
    a1, a2 = axes[0], axes[1]
    styles = ["o-", "s--", "^:", "v-."]  # pose factors, in POSE_FACTORS order
    for i, (_, label, rows) in enumerate(series):
        k, colour = [r[0] for r in rows], f"C{i}"
        a1.plot(k, [r[1]["fd_ratio"] for r in rows], "o-", ms=4, color=colour, label=label)
        a2.plot(k, [r[1]["mean_tv"] for r in rows], "o-", ms=4, color=colour)
        a2.plot(k, [r[1]["max_tv"] for r in rows], "s--", ms=3, color=colour, alpha=0.5)
        pts = [(kimg, r["spread"]) for kimg, r in rows if "spread" in r]
        if pts:
            for f, style in zip(POSE_FACTORS, styles):
                axes[2].plot([kimg for kimg, _ in pts], [sp[f] for _, sp in pts], style, ms=2, color=colour)

    def key(style: str, text: str, colour: str = "k") -> Line2D:
        return Line2D([], [], color=colour, marker=style[0], ls=style[1:], ms=4, label=text)

    if with_spread:
        axes[2].axhline(1.0, color="gray", ls=":")
        axes[2].set(
            xlabel="kimg", ylabel="model ÷ real", title="pose spread (std of readings)", ylim=(0, 1.2)
        )
        axes[2].legend(handles=[key(st, f) for f, st in zip(POSE_FACTORS, styles)], fontsize=7, ncol=2)
    a1.axhline(GOAL_RATIO, color="g", ls="--")
    a1.axhline(1.0, color="gray", ls=":")
    a1.set(xlabel="kimg", ylabel="toon-FD ÷ floor", title="FD ratio", ylim=(0, None))
    a1.legend(
        handles=[key("_--", f"goal ≤ {GOAL_RATIO:g}", "g"), key("_:", "floor (real vs real)", "gray")],
        fontsize=7,
    )
    a2.axhline(GOAL_TV, color="g", ls="--")
    a2.set(xlabel="kimg", ylabel="TV distance", title="attribute marginals vs real", ylim=(0, None))
    a2.legend(
        handles=[
            key("o-", "mean over factors"),
            key("s--", "worst factor"),
            key("_--", f"goal ≤ {GOAL_TV:g}", "g"),
        ],
        fontsize=7,
    )
    for a in axes:
        a.grid(alpha=0.3)
    runs = [h for h in a1.get_lines() if not h.get_label().startswith("_")]
    fig.legend(handles=runs, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07 * rows_of_legend, 1, 1))
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--snapshots",
        required=True,
        nargs="+",
        help="folders of kimg-XXXX.XX/ exported snapshots, one curve each, as DIR or DIR=LABEL "
        "(--run exports into the first)",
    )
    p.add_argument("--run", help="training run folder: export its latest checkpoint every --every kimg")
    p.add_argument("--every", type=float, default=10.0, help="kimg between exported snapshots (default 10)")
    p.add_argument("--watch", action="store_true", help="keep exporting and measuring until interrupted")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between looks with --watch (default 30)")
    p.add_argument("--plot", help="write the curve as a PNG here")
    p.add_argument(
        "--add-spread",
        action="store_true",
        help="re-measure snapshots scored before spread ratios were recorded (about 30 s each)",
    )
    p.add_argument("--n", type=int, default=500, help="images per set (default 500)")
    p.add_argument("--batch-size", type=int, default=32)
    add_bench_args(p)
    args = p.parse_args(argv)

    from ganlens.errors import GanlensError, one_line

    torch.set_num_threads(max(1, args.threads))
    labelled = [a.split("=", 1) if "=" in a else (a, Path(a).name) for a in args.snapshots]
    folders = [(Path(d), label) for d, label in labelled]
    meter_args = dict(n=args.n, seed=args.seed, batch_size=args.batch_size)
    meter: list = []  # built on first use (renders and classifies the real sets)
    try:
        if args.every <= 0:
            raise GanlensError(f"--every {args.every} must be positive")
        if args.run and not args.watch and not Path(args.run).is_dir():
            raise GanlensError(f"--run {args.run!r} is not a folder")
        folders[0][0].mkdir(parents=True, exist_ok=True)
        reported = -1
        while True:
            if args.run and not Path(args.run).is_dir():  # --watch: the run has not started yet
                if reported < 0:
                    print(f"waiting for {args.run} to appear", flush=True)
            elif args.run:
                try:
                    new = export_due(Path(args.run), folders[0][0], args.every)
                except GanlensError as e:  # a checkpoint rotated away mid-read: try again next look
                    if not args.watch:
                        raise
                    print(f"export skipped: {one_line(e)}", flush=True)
                    new = None
                if new is not None:
                    print(f"exported {new.name}", flush=True)
            series = [
                (f, label, measure_all(f, meter_args, meter, add_spread=args.add_spread))
                for f, label in folders
            ]
            points = sum(len(rows) for _, _, rows in series)
            if points != reported:  # every new point updates curve.csv and the plot
                report(series, args.plot)
                reported = points
            if not args.watch:
                return 0
            time.sleep(args.poll)
    except GanlensError as e:
        return fail("toonfaces curve", e)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
