"""``ganlens analyze``: which attribute each latent direction changes, scored by the attribute classifier.

A thin wrapper over :func:`ganlens.analysis.analyze_directions` and
:func:`ganlens.analysis.standard_sets`; writes ``analysis.md``, ``heatmap.png``, ``edits.png`` (the
strongest directions of each set at −d, 0, +d) and ``analysis.json``.
"""

from __future__ import annotations

from pathlib import Path

from ganlens.cli.common import add_command, check_at_least
from ganlens.errors import GanlensError

SETS = ("sefa", "ganspace", "random", "supervised")


def register(sub) -> None:
    p = add_command(
        sub,
        "analyze",
        help="measure which classifier attribute each latent direction changes (SeFa, GANSpace, boundaries)",
        description=(
            "Edit the same sampled codes by ±d along every direction (on the direction's own layers), "
            "re-score the images with the ToonFaces attribute classifier and report per direction the "
            "factor it changes most, the size of that change and the mean change of all other factors "
            "(leakage). Direction sets: SeFa top-k per layer group (coarse/middle/fine), GANSpace top-k, "
            "random top-k (a control), supervised InterFaceGAN boundaries trained on the classifier's "
            "labels, and any directions file written by 'ganlens sefa'."
        ),
        examples="""
  ganlens analyze toonfaces-stylegan2-64 --out analysis
  ganlens analyze G-folder --sets sefa,supervised --num 5 --samples 64 --distance 2 --out an2
  ganlens analyze G-folder --sets none --directions sefa-out/directions.npz --out an3 --overwrite
""",
    )
    p.add_argument("model", help="zoo name or path of a generator")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--classifier", help="attribute classifier folder (default: the shipped one)")
    p.add_argument(
        "--sets", default=",".join(SETS), help=f"comma list of {', '.join(SETS)} or 'none' (default: all)"
    )
    p.add_argument("--directions", action="append", default=[], help="a directions file to add (repeatable)")
    p.add_argument("--num", type=int, default=10, help="directions per built-in set (default 10)")
    p.add_argument("--samples", type=int, default=32, help="codes edited per direction (default 32)")
    p.add_argument("--distance", type=float, default=3.0, help="edit distance ±d (default 3)")
    p.add_argument("--trunc", type=float, default=0.7, help="truncation ψ of the sampled codes (default 0.7)")
    p.add_argument(
        "--boundary-samples", type=int, default=1000, help="labelled codes per boundary (default 1000)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def parse_sets(text: str) -> list[str]:
    if text.strip().lower() == "none":
        return []
    out = [s.strip().lower() for s in text.split(",") if s.strip()]
    bad = [s for s in out if s not in SETS]
    if bad or not out:
        raise GanlensError(f"--sets {text!r} is not allowed; use a comma list of {', '.join(SETS)} or 'none'")
    return out


def run(args) -> int:
    from ganlens.analysis import analyze_directions, markdown_summary, standard_sets, write_analysis
    from ganlens.analysis.report import edit_figure
    from ganlens.classifier import load_classifier
    from ganlens.cli.generate import check_trunc
    from ganlens.sefa import Directions
    from ganlens.utils.io import prepare_out_dir, write_bytes
    from ganlens.zoo import load_model, model_id

    chosen = parse_sets(args.sets)
    if not chosen and not args.directions:
        raise GanlensError("nothing to analyse: --sets none and no --directions file")
    check_at_least(
        ("--num", args.num, 1), ("--samples", args.samples, 1), ("--batch-size", args.batch_size, 1)
    )
    out = prepare_out_dir(args.out, overwrite=args.overwrite)
    G = load_model(args.model)
    check_trunc(G, args.trunc, None)
    C = load_classifier(args.classifier)
    mid = model_id(args.model)
    sets: dict = {}
    if chosen:
        built, rep = standard_sets(
            G,
            C if "supervised" in chosen else None,
            num=min(args.num, G.w_dim or G.z_dim),
            boundary_samples=args.boundary_samples,
            include_random="random" in chosen,
            seed=args.seed,
            model_id=mid,
        )
        for k, v in built.items():
            if k.split("-")[0] in chosen:
                sets[k] = v
        if rep is not None and rep.skipped:
            print("boundaries skipped: " + "; ".join(f"{k} ({why})" for k, why in rep.skipped.items()))
    for path in args.directions:
        d = Directions.load(path)
        label = Path(path).with_suffix("").name
        sets[label if label not in sets else f"{label}-{len(sets)}"] = d
    res = analyze_directions(
        G,
        sets,
        C,
        distance=args.distance,
        num_samples=args.samples,
        seed=args.seed,
        trunc_psi=args.trunc,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    paths = write_analysis(res, out, title=f"{mid}: attribute change per direction, d = ±{args.distance:g}")
    write_bytes(out / "edits.png", edit_figure(G, sets, res, per_set=2, samples=3, seed=args.seed))
    print(markdown_summary(res))
    print(f"wrote {paths['markdown']}, {paths['heatmap'].name}, edits.png and {paths['json'].name}")
    return 0
