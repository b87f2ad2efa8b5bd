"""ToonFaces StyleGAN2 benchmark: realism (ToonFD, attribute marginals) and, with ``--sefa``, what
SeFa / GANSpace / random / supervised directions change, measured by the attribute classifier.

Run:  .venv/bin/python benchmarks/toonfaces.py [--model PATH] [--n 500] [--sefa] [--out DIR]

Realism table (``ganlens.analysis.realism``): ToonFD (Fréchet distance on the classifier's
features) of the model against n fresh real renders (set A), next to the floor (a second,
disjoint set of n renders, B) and the ceiling (an untrained generator of the same config); the
line ``FD ratio: X`` is model / floor for the generated set of ``--seed``, and the next line gives
its mean and spread over ``--repeats`` generated sets (seeds ``--seed`` onwards; at n = 500 one
model's ratio moves by several tenths between sets, so compare models on the mean). Calibration
rows (unless ``--no-calibration``) score real set B blurred by σ = 0.5 / 1 / 1.5 px: what soft
edges alone cost. Then per factor the total-variation distance between the
predicted attribute marginals of generated and real images (and B vs A, its noise floor), on
larger sets (``--tv-n``, default 3000) because TV between small sets is biased upwards;
``--out`` also writes ``marginals.png``, the histograms side by side.

``--sefa`` (``ganlens.analysis.attributes``): SeFa top-k per layer group (coarse / middle / fine),
GANSpace top-k, random top-k (control) and one supervised InterFaceGAN boundary per factor
(trained on the classifier's labels of sampled codes); every direction edits the same codes by
±d on its own layers, and the table reports the factor it changes most, by how much, and the
mean change of all other factors (leakage).

Model (first that exists): ``--model``; the zoo / package folder ``toonfaces-stylegan2-64``;
the G_ema of ``--run-dir``'s latest checkpoint. Classifier: ``--classifier``
or the shipped ``ganlens/weights/toonfaces-classifier``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

NAME = "toonfaces-stylegan2-64"
RUN_DIR = Path("/root/ganlens-runs") / NAME


def resolve_model(arg: str | None, run_dir: Path):
    """(G, description) from --model, the zoo / package folder, or the run's latest checkpoint."""
    from ganlens.errors import GanlensError
    from ganlens.zoo import WEIGHTS_DIR, list_models, load_model

    if arg:
        return load_model(arg), arg
    if any(m.name == NAME and m.available for m in list_models()):
        return load_model(NAME), f"zoo:{NAME}"
    if (WEIGHTS_DIR / NAME / "model.safetensors").is_file():
        return load_model(WEIGHTS_DIR / NAME), str(WEIGHTS_DIR / NAME)
    from ganlens.training.checkpoint import latest_checkpoint

    ckpt = latest_checkpoint(run_dir) if run_dir.is_dir() else None
    if ckpt is not None:
        return load_model(ckpt), f"{ckpt} (G_ema of the run's latest checkpoint)"
    raise GanlensError(
        f"no model: pass --model, ship {NAME} in {str(WEIGHTS_DIR)!r}, or train into {str(run_dir)!r}"
    )


def fmt_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="zoo name or path (default: see the module docstring)")
    p.add_argument(
        "--run-dir", type=Path, default=RUN_DIR, help=f"training run to export from (default {RUN_DIR})"
    )
    p.add_argument("--classifier", help="classifier folder (default: the shipped one)")
    p.add_argument("--real", help="real images: a ToonFaces dataset or a uint8 .npy (default: fresh renders)")
    p.add_argument("--n", type=int, default=500, help="images per set for ToonFD (default 500)")
    p.add_argument(
        "--tv-n",
        type=int,
        default=3000,
        help="images per set for the attribute marginals (TV, spread, marginals.png; default 3000, "
        "where two real sets differ by at most 0.04 on a factor; at 500 by up to 0.11)",
    )
    p.add_argument("--no-calibration", action="store_true", help="leave out the blurred-real reference rows")
    p.add_argument("--sefa", action="store_true", help="also run the direction analysis")
    p.add_argument("--num", type=int, default=10, help="directions per set (default 10)")
    p.add_argument("--samples", type=int, default=16, help="codes edited per direction (default 16)")
    p.add_argument("--distance", type=float, default=3.0, help="edit distance ±d (default 3)")
    p.add_argument("--trunc", type=float, default=0.7, help="ψ of the edited codes (default 0.7)")
    p.add_argument(
        "--boundary-samples", type=int, default=500, help="labelled codes per boundary (default 500)"
    )
    p.add_argument(
        "--ganspace-samples", type=int, default=5000, help="w samples for GANSpace PCA (default 5000)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--repeats", type=int, default=5, help="generated sets scored for the mean FD ratio (default 5)"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument(
        "--out",
        help="also write realism.md, samples.png (+ analysis.md, heatmap.png, edits.png, analysis.json)",
    )
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    from ganlens.errors import GanlensError, one_line

    try:
        return run(args)
    except GanlensError as e:
        print(f"toonfaces benchmark: error: {one_line(e)}", file=sys.stderr)
        return 2


def run(args) -> int:
    from ganlens.analysis import (
        analyze_directions,
        marginals_figure,
        realism_report,
        split_real,
        standard_sets,
        write_analysis,
    )
    from ganlens.analysis.report import edit_figure, markdown_summary, markdown_table
    from ganlens.classifier import load_classifier
    from ganlens.errors import GanlensError
    from ganlens.utils.io import prepare_out_dir, write_bytes, write_text

    torch.set_num_threads(max(1, args.threads))
    progress = not args.no_progress
    for name, v in (("--n", args.n), ("--tv-n", args.tv_n)):
        if v < 2:
            raise GanlensError(f"{name} {v} must be at least 2")
    out = prepare_out_dir(args.out, overwrite=args.overwrite) if args.out else None
    t_all = time.perf_counter()
    G, where = resolve_model(args.model, args.run_dir)
    C = load_classifier(args.classifier)
    print(
        f"model: {where}  ({G.arch}, {G.resolution}px, num_ws {G.num_ws}, "
        f"{sum(t.numel() for t in G.parameters()) / 1e6:.2f} M params)"
    )
    print(
        f"classifier: {args.classifier or 'shipped'}; threads {torch.get_num_threads()}; n = {args.n} per set"
    )

    real_a = real_b = None
    if args.real:
        real_a, real_b = split_real(args.real, max(args.n, args.tv_n))
    rep = realism_report(
        G,
        C,
        n=args.n,
        real_a=real_a,
        real_b=real_b,
        seed=args.seed,
        batch_size=args.batch_size,
        calibrate=not args.no_calibration,
        repeats=args.repeats,
        tv_n=args.tv_n,
        progress=progress,
    )
    print()
    print(f"## Realism (n = {rep.n} per set, real = {'fresh renders' if not args.real else args.real})")
    print(rep.table())
    print(f"FD ratio: {rep.ratio:.2f}")
    print(rep.repeats_line())
    if len(rep.ratios) > 1:
        print(rep.per_set_line())
    print(f"gap closed (ceiling → floor): {100 * rep.gap_closed:.0f}%")
    print()
    print("## Kernel distance, precision and recall (same sets, k = 3)")
    print(rep.quality_table())
    print()
    print(f"## Attribute marginals (n = {rep.tv_n} per set)")
    print(rep.tv_table())
    print(rep.pairs_line())
    print("timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in rep.seconds.items()))
    if out is not None:
        write_text(
            out / "realism.md",
            f"{rep.table()}\n\nFD ratio: {rep.ratio:.2f}; gap closed: {100 * rep.gap_closed:.0f}%\n"
            + rep.repeats_line()
            + f"\n\n{rep.quality_table()}"
            + f"\n\nAttribute marginals, n = {rep.tv_n} per set:\n\n"
            + rep.tv_table()
            + f"\n\n{rep.pairs_line()}\n",
        )
        write_bytes(out / "marginals.png", marginals_figure(rep, C.schema))
        from ganlens.analysis.realism import generate, render_real
        from ganlens.utils.io import make_grid, save_image

        fake = generate(G, 16, seed=args.seed, progress=False)
        real = render_real(16, size=G.resolution, progress=False)
        save_image(out / "samples.png", make_grid(torch.cat([real, fake]).clamp(-1, 1), nrow=16))
        if not args.no_calibration:  # rows: set-B renders, the same blurred by each σ, the model
            from ganlens.analysis.realism import CALIBRATION_SIGMAS, REAL_SEED_B, gaussian_blur

            real_b = render_real(8, size=G.resolution, base_seed=REAL_SEED_B, progress=False)
            rows = [real_b, *(gaussian_blur(real_b, s) for s in CALIBRATION_SIGMAS), fake[:8]]
            save_image(out / "calibration.png", make_grid(torch.cat(rows).clamp(-1, 1), nrow=8))

    if args.sefa:
        t0 = time.perf_counter()
        sets, brep = standard_sets(
            G,
            C,
            num=args.num,
            ganspace_samples=args.ganspace_samples,
            boundary_samples=args.boundary_samples,
            seed=args.seed,
        )
        t_sets = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = analyze_directions(
            G,
            sets,
            C,
            distance=args.distance,
            num_samples=args.samples,
            seed=args.seed,
            trunc_psi=args.trunc,
            batch_size=args.batch_size,
            progress=progress,
        )
        t_an = time.perf_counter() - t0
        print()
        print(
            f"## Directions (edits of ±{args.distance:g} on each direction's layers, "
            f"{args.samples} codes, ψ {args.trunc:g})"
        )
        print(markdown_summary(res))
        print()
        print(markdown_table(res))
        if brep is not None:
            rows = [["boundary", "label 1 means", "val acc (linear on w)"]]
            rows += [[k, brep.positive[k], f"{brep.val_accuracy[k]:.2f}"] for k in brep.positive]
            rows += [[k, f"skipped: {why}", "–"] for k, why in brep.skipped.items()]
            print()
            print(fmt_table(rows))
        print(f"timings: directions {t_sets:.0f}s, analysis {t_an:.0f}s")
        if out is not None:
            write_analysis(res, out, title=f"attribute change per direction, d = ±{args.distance:g}")
            write_bytes(out / "edits.png", edit_figure(G, sets, res, per_set=2, samples=3, seed=args.seed))
    print(f"\ntotal {time.perf_counter() - t_all:.0f}s")
    if out is not None:
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
