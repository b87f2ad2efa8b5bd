"""Which real ToonFaces renders does the model miss? Recall, split by the renders' own attributes.

Recall (Kynkäänniemi et al. 2019, k = 3, on the shipped classifier's features) is the share of
real images that lie inside the generated set's manifold. A model that drops a mode (say, never
draws a cap) covers the real images of that mode worse than the rest. A render's attribute record
is ground truth, so every real image can be put in its group: a categorical factor's class, or a
continuous factor's quintile. For each group this prints the model's recall and, as the floor, the
recall of a second set of real renders of the same size. Factors come sorted by how unevenly the
model covers their groups (the range of model ÷ floor over the groups): a dropped mode tops the
list, and a model that misses real images evenly, whatever they show, gives short ranges.

    .venv/bin/python benchmarks/toonfaces_coverage.py                          # the shipped model
    .venv/bin/python benchmarks/toonfaces_coverage.py RUN/checkpoints/step-00002314 --n 2000
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from common import add_bench_args, fail, load_g

#: Real renders of the covered set and of the floor's second set start at these seeds, away from
#: the training data (seeds 0–49999) and from the realism benchmark's sets.
SEED_REAL, SEED_FLOOR = 700_000, 800_000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "model", nargs="?", default="toonfaces-stylegan2-64", help="checkpoint folder, export or zoo name"
    )
    p.add_argument(
        "--n", type=int, default=1000, help="samples, real renders and floor renders (default 1000)"
    )
    p.add_argument(
        "--k", type=int, default=3, help="nearest neighbour that sets each ball's radius (default 3)"
    )
    add_bench_args(p)
    args = p.parse_args(argv)

    from ganlens.analysis.realism import generate, quantize, render_real_records
    from ganlens.classifier import load_classifier, recall_by_factor
    from ganlens.errors import GanlensError

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    try:
        if args.n < 100:
            raise GanlensError(f"--n {args.n} must be at least 100 (five quintiles of 20)")
        G, label = load_g(args.model)
        clf = load_classifier(None).eval()
        with torch.no_grad():
            real, records = render_real_records(
                args.n, size=G.resolution, base_seed=SEED_REAL, progress=False
            )
            floor, _ = render_real_records(args.n, size=G.resolution, base_seed=SEED_FLOOR, progress=False)
            fake = quantize(generate(G, args.n, seed=args.seed, progress=False))
            feats = {
                name: clf.extract_features(x)
                for name, x in (("real", real), ("floor", floor), ("fake", fake))
            }
        model = recall_by_factor(feats["real"], feats["fake"], records, clf.schema, k=args.k)
        base = recall_by_factor(feats["real"], feats["floor"], records, clf.schema, k=args.k)
    except GanlensError as e:
        return fail("toonfaces coverage", e)

    def overall(table: dict[str, tuple[float, int]]) -> float:
        return sum(v * n for v, n in table.values()) / sum(n for _, n in table.values())

    first = clf.schema.names[0]
    print(f"model: {label}; {args.n} samples (seed {args.seed}), {args.n} real renders, k = {args.k}")
    print(f"recall: model {overall(model[first]):.3f}, second real set (floor) {overall(base[first]):.3f}\n")
    rows = []
    for name, groups in model.items():
        ratios = [groups[g][0] / max(base[name][g][0], 1e-9) for g in groups if groups[g][1] >= 20]
        if ratios:
            rows.append((max(ratios) - min(ratios), name, groups))
    print("| factor | range of model ÷ floor | recall per group: model / floor (real images) |")
    print("| --- | ---: | --- |")
    for spread, name, groups in sorted(rows, reverse=True):
        cells = "; ".join(f"{g} {v:.2f} / {base[name][g][0]:.2f} ({n})" for g, (v, n) in groups.items())
        print(f"| {name} | {spread:.2f} | {cells} |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
