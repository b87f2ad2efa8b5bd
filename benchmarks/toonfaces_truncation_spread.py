"""Which collapsed ToonFaces factors are a W-distribution problem, and which are in how G draws?

The shipped model's continuous factors are bell-shaped where the renders are uniform (spread below
1). If a factor's spread is short because the mapping network packs W too tightly along it, then
the truncation trick with ψ > 1, which pushes every w away from the average, widens it; if G draws
the factor the same way whatever the w, ψ barely moves it. For each ψ this prints, per factor, the
spread of the classifier's readings (÷ real renders; 1 = as varied) and the marginal TV against the
real renders, on the same seeds for every ψ.

    .venv/bin/python benchmarks/toonfaces_truncation_spread.py                 # the shipped model
    .venv/bin/python benchmarks/toonfaces_truncation_spread.py RUN/checkpoints/step-00007013 --psi 1 1.5 2
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from common import add_bench_args, fail, load_g


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "model", nargs="?", default="toonfaces-stylegan2-64", help="checkpoint folder, export or zoo name"
    )
    p.add_argument(
        "--psi", type=float, nargs="+", default=[1.0, 1.2, 1.5, 2.0], help="ψ values (default 1 1.2 1.5 2)"
    )
    p.add_argument("--n", type=int, default=1000, help="samples per ψ and real renders (default 1000)")
    add_bench_args(p)
    args = p.parse_args(argv)

    import numpy as np

    from ganlens.analysis.realism import RealReference, generate, quantize, render_real
    from ganlens.classifier import load_classifier
    from ganlens.errors import GanlensError

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    try:
        if args.n < 50:
            raise GanlensError(f"--n {args.n} must be at least 50")
        bad = [psi for psi in args.psi if psi <= 0]
        if bad:
            raise GanlensError(f"--psi {bad[0]:g} must be above 0")
        G, label = load_g(args.model)
        clf = load_classifier(None).eval()
        with torch.no_grad():  # the realism report's protocol: uint8-quantised samples, 10 bins
            ref = RealReference(clf, render_real(args.n, size=G.resolution, progress=False))
            scores = {
                psi: ref.score(
                    quantize(generate(G, args.n, seed=args.seed, trunc_psi=psi, progress=False)), fd=False
                )
                for psi in args.psi
            }
    except GanlensError as e:
        return fail("toonfaces truncation-spread", e)

    print(f"model: {label}; {args.n} samples per ψ (seed {args.seed}) against {args.n} real renders (set A)")
    print("spread ÷ real (1 = as varied) / marginal TV, per ψ\n")
    print("| factor | " + " | ".join(f"ψ {psi:g}" for psi in args.psi) + " |")
    print("| --- |" + " ---: |" * len(args.psi))
    for name in clf.schema.names:
        cells = [f"{scores[psi].spread[name]:.2f} / {scores[psi].tv[name]:.3f}" for psi in args.psi]
        print(f"| {name} | " + " | ".join(cells) + " |")
    means = [float(np.nanmean(list(scores[psi].tv.values()))) for psi in args.psi]
    print("| mean TV | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
