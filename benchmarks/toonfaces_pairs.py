"""Which pairs of ToonFaces factors does a model tie together? Pairwise mutual information of the
classifier's readings, samples against real renders.

The renderer draws every factor independently (but eye colour behind sunglasses), so in a set of
renders the mutual information of any two factors' readings is close to 0. A model that draws,
say, glasses mostly with slanted brows shows it as an excess over the renders' value. The
marginal TV cannot see this: both factors' marginals may be right. Continuous factors are cut at
each set's own quintiles (``reading_codes``), so only how factors go together counts. Each set
has ``--n`` images, so the estimate's upward bias is the same in both and cancels; a second set
of renders (the floor) shows what is left of it. Several models are measured in one run, against
the same renders.

    .venv/bin/python benchmarks/toonfaces_pairs.py                                   # the shipped model
    .venv/bin/python benchmarks/toonfaces_pairs.py RUN_A/checkpoints/step-00002314 RUN_B/... --n 1500
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from common import add_bench_args, fail, load_g

#: Real renders and the floor's second set start at these seeds, away from the training data
#: (seeds 0–49999).
SEED_REAL, SEED_FLOOR = 600_000, 650_000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "models",
        nargs="*",
        default=["toonfaces-stylegan2-64"],
        help="checkpoint folders, exports or zoo names (default: the shipped model)",
    )
    p.add_argument("--n", type=int, default=1500, help="samples per model and renders per set (default 1500)")
    p.add_argument("--top", type=int, default=8, help="pairs listed per model (default 8)")
    add_bench_args(p)
    args = p.parse_args(argv)

    from ganlens.analysis.realism import generate, quantize, render_real
    from ganlens.classifier import load_classifier, pair_dependence, summed_excess
    from ganlens.errors import GanlensError

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    try:
        if args.n < 100:
            raise GanlensError(f"--n {args.n} must be at least 100 (quintiles of 20)")
        if args.top < 1:
            raise GanlensError(f"--top {args.top} must be at least 1")
        models = [load_g(m) for m in args.models]
        clf = load_classifier(None).eval()
        res = models[0][0].resolution
        with torch.no_grad():
            real = clf.predict(render_real(args.n, size=res, base_seed=SEED_REAL, progress=False))
            floor = clf.predict(render_real(args.n, size=res, base_seed=SEED_FLOOR, progress=False))
            fakes = [
                clf.predict(quantize(generate(G, args.n, seed=args.seed, progress=False))) for G, _ in models
            ]
        base = pair_dependence(floor, real, schema=clf.schema)
        tables = [pair_dependence(f, real, schema=clf.schema) for f in fakes]
    except GanlensError as e:
        return fail("toonfaces pairs", e)

    print(f"{args.n} samples per model (seed {args.seed}) and {args.n} renders per set; {len(base)} pairs")
    print("summed excess mutual information (nats) over the renders' own:\n")
    print("| images | summed excess | pairs above 0.01 |")
    print("| --- | ---: | ---: |")
    for label, rows in [("second real set (floor)", base)] + [(m[1], t) for m, t in zip(models, tables)]:
        print(f"| {label} | {summed_excess(rows):+.3f} | {sum(m - r > 0.01 for _, _, m, r in rows)} |")
    for (_, label), rows in zip(models, tables):
        print(f"\n{label}: the {args.top} pairs with the largest excess\n")
        print("| factor | factor | samples | renders | excess |")
        print("| --- | --- | ---: | ---: | ---: |")
        for a, b, m, r in rows[: args.top]:
            print(f"| {a} | {b} | {m:.4f} | {r:.4f} | {m - r:+.4f} |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
