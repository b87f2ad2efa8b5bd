"""Do other attribute readers see the model's errors as the shipped classifier does?

The realism benchmark reads generated images with one network, the shipped attribute classifier. A
training aid that should fix the attribute marginals needs a reader that sees the same errors
without being that network. This script reads one set of samples and two sets of real renders
with the shipped classifier and with each classifier folder given (``ganlens train classifier``,
say from another seed), and prints per reader the toon-FD ratio on its own features and, per
factor, the marginal TV of the samples against real set A beside the floor (real set B against
A), all in the realism report's 10 bins.

    .venv/bin/python benchmarks/toonfaces_readers.py runs/classifier-seed1
    .venv/bin/python benchmarks/toonfaces_readers.py runs/classifier-seed1 --model RUN/checkpoints/step-00002375
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from common import add_bench_args, fail, load_g

#: Real set A and real set B (the floor) start at these seeds, away from the training data.
SEED_A, SEED_B = 4_000_000, 5_000_000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("readers", nargs="+", help="classifier folders (config.json + model.safetensors)")
    p.add_argument("--model", default="toonfaces-stylegan2-64", help="checkpoint folder, export or zoo name")
    p.add_argument("--n", type=int, default=1000, help="samples and renders per set (default 1000)")
    add_bench_args(p)
    args = p.parse_args(argv)

    from ganlens.analysis.realism import RealReference, generate, quantize, render_real
    from ganlens.classifier import load_classifier
    from ganlens.errors import GanlensError

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    try:
        if args.n < 50:
            raise GanlensError(f"--n {args.n} must be at least 50")
        readers = {"shipped classifier": load_classifier(None)}
        for path in args.readers:
            readers[path] = load_classifier(path)
        G, label = load_g(args.model)
        with torch.no_grad():
            real_a = render_real(args.n, size=G.resolution, base_seed=SEED_A, progress=False)
            real_b = render_real(args.n, size=G.resolution, base_seed=SEED_B, progress=False)
            fake = quantize(generate(G, args.n, seed=args.seed, progress=False))
            scores = {}
            for name, clf in readers.items():
                ref = RealReference(clf.eval(), real_a)
                scores[name] = (ref.score(fake, pairs=False), ref.score(real_b, pairs=False))
    except GanlensError as e:
        return fail("toonfaces readers", e)

    print(f"model: {label}; {args.n} samples (seed {args.seed}) and two sets of {args.n} real renders\n")
    print("| reader | toon-FD ratio on its features | mean TV | mean TV, floor |")
    print("| --- | ---: | ---: | ---: |")
    for name, (fake_s, floor_s) in scores.items():
        print(
            f"| {name} | {fake_s.fd / floor_s.fd:.2f} | {np.mean(list(fake_s.tv.values())):.3f} "
            f"| {np.mean(list(floor_s.tv.values())):.3f} |"
        )
    names = list(scores)
    print("\n| factor | " + " | ".join(f"TV, {n} (floor)" for n in names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for factor in scores[names[0]][0].tv:
        cells = [f"{scores[n][0].tv[factor]:.3f} ({scores[n][1].tv[factor]:.3f})" for n in names]
        print(f"| {factor} | " + " | ".join(cells) + " |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
