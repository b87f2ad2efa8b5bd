"""Does a conditional ToonFaces StyleGAN2 (``train stylegan2 --cond FACTOR``) draw the class it is given?

For every class of the categorical factor the model was conditioned on, it draws ``--n`` samples
(the same seeds for every class) and lets the shipped classifier read the factor. The table gives,
per class, the share of samples read as that class ("hit rate"), next to two references measured
in the same run: the share of real renders of that class (what a G that ignored its label would
score) and the classifier's accuracy on real renders of that class (about the best a G can score).
With ``--out`` it writes ``classes.png``: one row per class, the same 8 seeds in every row.

    .venv/bin/python benchmarks/toonfaces_conditional.py RUN/checkpoints/step-00001250 --factor hat
    .venv/bin/python benchmarks/toonfaces_conditional.py models/toon64-hat --factor hat --out results/cond
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from common import add_bench_args, fail, load_g

#: base seed of the real renders (disjoint from the training set and the other benchmarks' renders)
REAL_SEED = 50_000_000


@torch.no_grad()
def draw(G, seeds: list[int], cls: int, batch: int = 64) -> torch.Tensor:
    """Images (N, 3, R, R) in [-1, 1] of ``seeds`` with class ``cls``."""
    from ganlens.generators.base import z_from_seeds

    out = []
    for s in range(0, len(seeds), batch):
        z = z_from_seeds(seeds[s : s + batch], G.z_dim)
        out.append(G.synthesis(G.mapping(z, c=cls), noise_mode="const").float().clamp(-1, 1))
    return torch.cat(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", help="a conditional model: training checkpoint folder, export or zoo name")
    p.add_argument("--factor", required=True, help="the categorical ToonFaces factor it was conditioned on")
    p.add_argument(
        "--n", type=int, default=200, help="samples per class, and real renders in all (default 200)"
    )
    add_bench_args(p, seed_help="first seed of the samples")
    p.add_argument("--out", help="folder for classes.png")
    p.add_argument("--overwrite", action="store_true", help="replace an existing classes.png")
    args = p.parse_args(argv)

    from ganlens.analysis.realism import render_real_records
    from ganlens.classifier import load_classifier
    from ganlens.errors import GanlensError

    torch.set_num_threads(max(1, args.threads))
    t0 = time.time()
    try:
        if args.n < 8:
            raise GanlensError(f"--n {args.n} must be at least 8")
        out = None
        if args.out:
            out = Path(args.out) / "classes.png"
            if out.exists() and not args.overwrite:
                raise GanlensError(f"{str(out)!r} exists; pass --overwrite to replace it")
        C = load_classifier(None)
        f = C.schema[args.factor]
        if not f.categorical:
            raise GanlensError(f"factor {args.factor!r} is continuous; give a categorical one")
        G, label = load_g(args.model)
        if G.c_dim != f.num_classes:
            raise GanlensError(
                f"the model has c_dim {G.c_dim}, but {args.factor!r} has {f.num_classes} classes "
                f"({', '.join(f.classes)}); was it trained with --cond {args.factor}?"
            )
        seeds = list(range(args.seed, args.seed + args.n))
        samples = [draw(G, seeds, k) for k in range(f.num_classes)]
        real, records = render_real_records(args.n, size=G.resolution, base_seed=REAL_SEED, progress=False)
        truth = torch.tensor([f.classes.index(r[f.name]) for r in records])  # the renders' own classes
        read_real = C.predict(real)[f.name]
        reads = [C.predict(x)[f.name] for x in samples]
    except GanlensError as e:
        return fail("toonfaces conditional", e)

    print(f"model: {label}; factor {f.name}; n = {args.n} samples per class (seeds {seeds[0]}-{seeds[-1]})\n")
    print(
        "| class | samples read as the class (hit rate) | share of real renders (G ignoring c) "
        "| classifier on real renders of the class |"
    )
    print("| --- | ---: | ---: | ---: |")
    hits = []
    for k, cls in enumerate(f.classes):
        hit = float((reads[k] == k).float().mean())
        share = float((truth == k).float().mean())
        mask = truth == k
        acc = float((read_real[mask] == k).float().mean()) if mask.any() else float("nan")
        hits.append(hit)
        print(f"| {cls} | {hit:.3f} | {share:.3f} | {acc:.3f} |")
    print(f"\nmean hit rate {sum(hits) / len(hits):.3f} over {len(hits)} classes; chance {1 / len(hits):.3f}")
    if out is not None:
        from ganlens.utils.io import make_grid, save_image

        rows = torch.cat([x[:8] for x in samples])
        save_image(out, make_grid(rows, nrow=8, padding=1, pad_value=1.0))
        print(f"wrote {out} (rows: {', '.join(f.classes)})")
    print(f"{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
