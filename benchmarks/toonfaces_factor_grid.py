"""What does a generator draw where the classifier reads a given value of one factor?

A lower marginal TV is only worth something if the samples really show the attribute, and not
a pattern that the classifier (or a reader trained like it) happens to read that way. This script
reads a set of real renders and a set of samples with the shipped classifier, sorts both into the
factor's bins (its classes, or equal bins over a continuous factor's range), and draws one
picture: per bin, a row of renders and below it a row of samples that the classifier reads in
that bin, enlarged nearest-neighbour, optionally cropped to a window (the mouth for smile, the
brows for brow shape). It prints how often each set falls in each bin.

    .venv/bin/python benchmarks/toonfaces_factor_grid.py --factor smile --out smile.png
    .venv/bin/python benchmarks/toonfaces_factor_grid.py --factor brow_shape --window 16 8 32 48 \\
        --model RUN/checkpoints/step-00002688 --out brows.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from common import add_bench_args, bin_ids, fail, load_g

#: The real renders start at this seed, away from the training data.
SEED_REAL = 4_000_000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--factor", required=True, help="a ToonFaces factor, e.g. smile or brow_shape")
    p.add_argument("--model", default="toonfaces-stylegan2-64", help="checkpoint folder, export or zoo name")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--n", type=int, default=1000, help="samples and renders (default 1000)")
    p.add_argument("--bins", type=int, default=5, help="bins of a continuous factor (default 5)")
    p.add_argument("--per-bin", type=int, default=8, help="images per row (default 8)")
    p.add_argument(
        "--window",
        type=int,
        nargs=4,
        metavar=("TOP", "LEFT", "HEIGHT", "WIDTH"),
        help="crop every image to this window (pixels at the model's resolution); default the whole image",
    )
    p.add_argument("--zoom", type=int, default=3, help="nearest-neighbour enlargement (default 3)")
    add_bench_args(p)
    args = p.parse_args(argv)

    from ganlens.analysis.realism import generate, quantize, render_real
    from ganlens.classifier import load_classifier
    from ganlens.errors import GanlensError
    from ganlens.utils.io import make_grid, save_image

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    try:
        clf = load_classifier(None).eval()
        if args.factor not in clf.schema.names:
            raise GanlensError(
                f"--factor {args.factor!r} is not a ToonFaces factor; choose one of {list(clf.schema.names)}"
            )
        factor = clf.schema[args.factor]
        if factor.requires is not None:
            raise GanlensError(
                f"--factor {args.factor!r} is defined only where {factor.requires[0]} is one of "
                f"{list(factor.requires[1])}; choose a factor without a condition"
            )
        for name in ("n", "bins", "per_bin", "zoom"):
            if getattr(args, name) < 1:
                raise GanlensError(f"--{name.replace('_', '-')} {getattr(args, name)} must be at least 1")
        if Path(args.out).exists() and not args.overwrite:
            raise GanlensError(f"--out {args.out!r} exists; pass --overwrite to replace it")
        G, label = load_g(args.model)
        size = G.resolution
        if args.window is not None:
            top, left, h, w = args.window
            if top < 0 or left < 0 or h < 1 or w < 1 or top + h > size or left + w > size:
                raise GanlensError(f"--window {args.window} must lie inside the {size}x{size} image")
        with torch.no_grad():
            real = render_real(args.n, size=size, base_seed=SEED_REAL, progress=False)
            fake = quantize(generate(G, args.n, seed=args.seed, progress=False))
            idx_real, labels = bin_ids(factor, clf.predict(real)[args.factor], args.bins)
            idx_fake, _ = bin_ids(factor, clf.predict(fake)[args.factor], args.bins)
            idx = {"renders": torch.from_numpy(idx_real), "samples": torch.from_numpy(idx_fake)}
    except GanlensError as e:
        return fail("toonfaces factor grid", e)

    images = {"renders": real, "samples": fake}
    if args.window is not None:
        top, left, h, w = args.window
        images = {k: v[:, :, top : top + h, left : left + w] for k, v in images.items()}
    blank = torch.ones_like(images["renders"][:1])
    rows = []
    for b in range(len(labels)):
        for kind in ("renders", "samples"):
            pick = images[kind][idx[kind] == b][: args.per_bin]
            pad = blank.expand(args.per_bin - pick.shape[0], -1, -1, -1)
            rows.append(torch.cat([pick, pad]))
    grid = make_grid(torch.cat(rows), nrow=args.per_bin)
    grid = grid.repeat_interleave(args.zoom, -1).repeat_interleave(args.zoom, -2)
    save_image(args.out, grid)

    print(
        f"model: {label}; {args.n} samples (seed {args.seed}) and {args.n} real renders, read by the shipped classifier"
    )
    print(
        f"{args.out}: per {args.factor} bin, a row of renders then a row of samples read in it (white: none)\n"
    )
    print(f"| {args.factor} | renders | samples | samples / renders |")
    print("| --- | ---: | ---: | ---: |")
    for b, name in enumerate(labels):
        r, s = ((idx[k] == b).double().mean().item() for k in ("renders", "samples"))
        ratio = f"{s / r:.2f}" if r > 0 else "–"
        print(f"| {name} | {r:.3f} | {s:.3f} | {ratio} |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
