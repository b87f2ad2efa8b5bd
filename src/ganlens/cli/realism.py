"""``ganlens realism``: how close a ToonFaces generator comes to real renders (ToonFD, marginals).

A thin wrapper over :func:`ganlens.analysis.realism_report`; prints the realism table, the
``FD ratio`` line and the per-factor marginal TV table, and with ``--out`` writes ``realism.md``,
``realism.json``, ``samples.png`` (16 real renders above 16 samples) and ``marginals.png`` (real
and generated attribute histograms), and with ``--calibrate`` ``calibration.png`` (rows: 8 real
renders, the same blurred by each σ, 8 samples).
"""

from __future__ import annotations

from ganlens.cli.common import add_command, check_at_least
from ganlens.errors import GanlensError


def register(sub) -> None:
    p = add_command(
        sub,
        "realism",
        help="score a ToonFaces generator against real renders (ToonFD, FD ratio, attribute marginals)",
        description=(
            "Fréchet distance on the ToonFaces attribute classifier's features (ToonFD) between n samples "
            "of the model (ψ = 1) and n real renders (set A), next to a second, disjoint real set B (the "
            "floor) and an untrained generator of the same config (the ceiling); 'FD ratio' is model / "
            "floor. Per factor, the total-variation distance between the predicted attribute marginals, "
            "on sets of --tv-n images (TV between small sets is biased upwards: two sets of 500 real "
            "renders differ by up to 0.11 on a factor, two of 3000 by at most 0.04). "
            "--calibrate adds real set B blurred by σ = 0.5/1/1.5 px, to show what softness alone costs; "
            "--trunc adds rows for the model sampled with the truncation trick at each ψ (with --repeats, "
            "each ψ's FD ratio on every generated set too)."
        ),
        examples="""
  ganlens realism toonfaces-stylegan2-64
  ganlens realism my-export --n 1000 --calibrate --out realism-my-export
  ganlens realism toonfaces-stylegan2-64 --trunc 0.9 0.8 0.7
  ganlens realism toonfaces-stylegan2-64 --repeats 5      # mean FD ratio over 5 generated sets
  ganlens realism toonfaces-stylegan2-64 --trunc 0.9 0.8 --repeats 5   # each ψ on the same 5 sets
  ganlens realism toonfaces-stylegan2-64 --tv-n 3000 --out r  # marginals on 3000 images a set
  ganlens realism G-folder --real toonfaces64/ --n 2000 --out r --overwrite
""",
    )
    p.add_argument("model", help="zoo name or path of a generator (a ToonFaces model)")
    p.add_argument("--n", type=int, default=500, help="images per set (default 500)")
    p.add_argument(
        "--tv-n",
        type=int,
        help="images per set for the attribute marginals (default: --n; 3000 for a TV floor ≤ 0.04)",
    )
    p.add_argument(
        "--real", help="real images: a ToonFaces dataset or a uint8 .npy, split A|B (default: fresh renders)"
    )
    p.add_argument("--classifier", help="attribute classifier folder (default: the shipped one)")
    p.add_argument("--calibrate", action="store_true", help="add the blurred-real reference rows")
    p.add_argument(
        "--trunc",
        type=float,
        nargs="+",
        default=[],
        metavar="PSI",
        help="also score the model at these truncation ψ (1 = none); the FD ratio stays at ψ = 1",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the generated set (default 0)")
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="score this many generated sets (seeds SEED, SEED+1, ...) and print the FD ratio's mean "
        "and spread; the tables stay SEED's set (default 1)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", help="also write realism.md, realism.json and samples.png here")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ganlens.analysis import (
        gaussian_blur,
        generate,
        marginals_figure,
        quantize,
        realism_report,
        render_real,
        split_real,
    )
    from ganlens.classifier import load_classifier
    from ganlens.utils.io import make_grid, prepare_out_dir, save_image, write_bytes, write_json, write_text
    from ganlens.zoo import load_model, model_id

    tv_n = args.n if args.tv_n is None else args.tv_n
    check_at_least(("--n", args.n, 2), ("--tv-n", tv_n, 2), ("--batch-size", args.batch_size, 1))
    out = prepare_out_dir(args.out, overwrite=args.overwrite) if args.out else None
    G = load_model(args.model)
    C = load_classifier(args.classifier)
    if G.img_channels != 3:
        raise GanlensError(f"model {args.model!r} makes {G.img_channels}-channel images; ToonFD needs RGB")
    real_a = real_b = None
    if args.real:
        real_a, real_b = split_real(args.real, max(args.n, tv_n))
        if real_a.shape[-1] != G.resolution:
            raise GanlensError(
                f"real images in {args.real!r} are {real_a.shape[-1]} px; the model makes {G.resolution} px"
            )
    rep = realism_report(
        G,
        C,
        n=args.n,
        real_a=real_a,
        real_b=real_b,
        seed=args.seed,
        batch_size=args.batch_size,
        calibrate=args.calibrate,
        truncation=args.trunc,
        repeats=args.repeats,
        tv_n=tv_n,
        progress=not args.no_progress,
    )
    pairs = rep.pairs_line()
    text = (
        f"{rep.table()}\n\nFD ratio: {rep.ratio:.2f}\n"
        + (rep.repeats_line() + "\n" + rep.per_set_line() + "\n" if args.repeats > 1 else "")
        + "".join(line + "\n" for line in rep.truncation_lines())
        + f"gap closed (ceiling → floor): {100 * rep.gap_closed:.0f}%\n\n"
        + f"{rep.quality_table()}\n\n"
        + (f"Attribute marginals, n = {rep.tv_n} per set:\n\n" if rep.tv_n != rep.n else "")
        + f"{rep.tv_table()}\n"
        + (f"\n{pairs}\n" if pairs else "")
    )
    print(f"{model_id(args.model)}: n = {rep.n} per set, real = {args.real or 'fresh renders'}\n")
    print(text, end="")
    if out is not None:
        write_text(out / "realism.md", text)
        write_json(
            out / "realism.json",
            {
                "model": model_id(args.model),
                "n": rep.n,
                "tv_n": rep.tv_n,
                "real": args.real or "fresh renders",
                "fd_model": rep.fd_model,
                "fd_floor": rep.fd_floor,
                "fd_ceiling": rep.fd_ceiling,
                "fd_ratio": rep.ratio,
                "fd_ratio_by_seed": dict(zip(map(str, rep.repeats), rep.ratios)),
                "gap_closed": rep.gap_closed,
                "tv_model": rep.tv_model,
                "tv_floor": rep.tv_floor,
                "tv_ceiling": rep.tv_ceiling,
                "spread_model": rep.spread_model,
                "spread_floor": rep.spread_floor,
                "calibration": {
                    f"{s:g}": {"fd": fd, "mean_tv": tv} for s, (fd, tv) in rep.calibration.items()
                },
                "spread_blur": rep.spread_blur,
                "pair_excess_mi": rep.pair_excess,
                "truncation": {
                    f"{psi:g}": {"fd": fd, "mean_tv": tv} for psi, (fd, tv) in rep.truncation.items()
                },
                "truncation_fd_ratio_by_seed": {
                    f"{psi:g}": dict(zip(map(str, rep.truncation_fds[psi]), rep.truncation_ratios(psi)))
                    for psi in rep.truncation_fds
                },
                "quality": {
                    row: {"kid": kid, "precision": prec, "recall": rec}
                    for row, (kid, prec, rec) in rep.quality.items()
                },
                "seconds": rep.seconds,
            },
        )
        fake = generate(G, 16, seed=args.seed, progress=False)
        real = render_real(16, size=G.resolution, progress=False) if real_a is None else real_a[:16]
        save_image(out / "samples.png", make_grid(torch.cat([real, fake]).clamp(-1, 1), nrow=16))
        write_bytes(out / "marginals.png", marginals_figure(rep, C.schema))
        written = ["realism.json", "samples.png", "marginals.png"]
        if rep.calibration:  # rows: real, real blurred by each σ, model; the images the rows score
            rows = [real[:8], *(quantize(gaussian_blur(real[:8], s)) for s in rep.calibration), fake[:8]]
            save_image(out / "calibration.png", make_grid(torch.cat(rows).clamp(-1, 1), nrow=8))
            written.append("calibration.png")
        print(f"wrote {out / 'realism.md'}, {', '.join(written[:-1])} and {written[-1]}")
    return 0
