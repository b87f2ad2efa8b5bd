"""How much of a ToonFaces generator's toon-FD is *what* it draws, and how much is *how* it draws it?

The classifier reads every sample's attributes (its record: face shape, hair, smile, pose...), and
the renderer draws those records again, perfectly. The re-rendered set has the samples' attribute
distribution (as the classifier sees it, correlations between factors included) and the renderer's
drawing quality, so its FD ratio is the part of the gap that comes from the attributes alone. A
control re-renders real set B the same way: it should stay at the floor (ratio about 1), which
checks that reading and redrawing loses nothing the FD sees.

With ``--factors``, every factor (and the pose factors together, and everything but pose) is then
corrected one at a time: its values in the re-rendered records are replaced by fresh draws from
the renderer's own distribution (factors are drawn independently there, so this fixes that
factor's marginal and its correlations with the rest). The drop in the FD ratio says how much of the
attribute part that factor costs.

    .venv/bin/python benchmarks/toonfaces_rerender.py                       # the shipped model
    .venv/bin/python benchmarks/toonfaces_rerender.py --model RUN_EXPORT --factors --threads 2

Same real sets (A: seeds 10,000,000 + i, B: 20,000,000 + i) and generated set (seed 0) as
``benchmarks/toonfaces.py``, so its "samples" row is that benchmark's headline FD ratio.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from common import add_bench_args, fail

#: base seeds of the redrawn records' nuisance details and of the prior draws (disjoint from the rest)
RERENDER_SEED = 30_000_000
PRIOR_SEED = 50_000_000
POSE = ("roll", "yaw", "scale", "offset_x", "offset_y")


def render_records(records: list[dict], *, size: int, base_seed: int) -> torch.Tensor:
    """Draw attribute records (image i with nuisance seed ``base_seed + i``), (N, 3, size, size) in [-1, 1]."""
    from ganlens.data.toonfaces.render import render_toonface

    out = np.stack([render_toonface(r, size=size, seed=base_seed + i).image for i, r in enumerate(records)])
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def with_prior(records: list[dict], names: list[str], prior: list[dict], schema) -> list[dict]:
    """``records`` with the factors ``names`` taken from ``prior``; conditional factors that a
    change switches on come from the prior too, those it switches off become None."""
    out = []
    for i, (rec, pri) in enumerate(zip(records, prior)):
        r = {**rec, **{k: pri[k] for k in names}}
        for f in schema:
            if not f.applies(r):
                r[f.name] = None
            elif r[f.name] is None and pri[f.name] is not None:
                r[f.name] = pri[f.name]
            elif r[f.name] is None:  # off in the prior's record too: draw it as the renderer would
                rng = np.random.default_rng([PRIOR_SEED, i])
                r[f.name] = f.classes[int(rng.choice(len(f.classes), p=f.probs or None))]
        out.append(r)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", default="toonfaces-stylegan2-64", help="zoo name or model folder (default: shipped)"
    )
    p.add_argument("--n", type=int, default=500, help="images per set (default 500)")
    p.add_argument("--factors", action="store_true", help="also correct each factor in turn (~25 s each)")
    add_bench_args(p, seed_help="seed of the generated set")
    args = p.parse_args(argv)

    from ganlens.analysis.realism import (
        REAL_SEED_A,
        REAL_SEED_B,
        RealReference,
        generate,
        quantize,
        render_real,
    )
    from ganlens.classifier import load_classifier
    from ganlens.data.toonfaces.schema import sample_attributes
    from ganlens.errors import GanlensError
    from ganlens.zoo import load_model

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    try:
        if args.n < 10:
            raise GanlensError(f"--n {args.n} must be at least 10")
        G = load_model(args.model)
        C = load_classifier(None)
    except GanlensError as e:
        return fail("toonfaces rerender", e)
    size = G.resolution
    real_a = render_real(args.n, size=size, base_seed=REAL_SEED_A, progress=False)
    real_b = render_real(args.n, size=size, base_seed=REAL_SEED_B, progress=False)
    samples = quantize(generate(G, args.n, seed=args.seed, progress=False))
    ref = RealReference(C, real_a)
    floor = ref.fd(real_b)
    sample_records = C.predict_records(samples)

    rows = [
        ("real set B (the floor)", real_b),
        (
            "real set B, re-rendered (control)",
            render_records(C.predict_records(real_b), size=size, base_seed=RERENDER_SEED),
        ),
        (f"samples ({args.model}, seed {args.seed})", samples),
        ("samples, re-rendered", render_records(sample_records, size=size, base_seed=RERENDER_SEED)),
    ]
    print(f"n = {args.n} per set; toon-FD against real set A; floor {floor:.1f}\n")
    print("| images | toon-FD | FD ratio | mean marginal TV |")
    print("| --- | ---: | ---: | ---: |")
    ratios = {}
    for label, images in rows:
        fd, tv, *_ = ref.score(images)
        ratios[label] = fd / floor
        mean_tv = float(np.nanmean(list(tv.values())))
        print(f"| {label} | {fd:.1f} | {fd / floor:.2f} | {mean_tv:.3f} |", flush=True)
    attr = ratios["samples, re-rendered"]
    print(
        f"\nwith perfect drawing, the samples' attributes alone would score {attr:.2f}; the model "
        f"scores {ratios[rows[2][0]]:.2f}"
    )
    if args.factors:
        prior = [sample_attributes(np.random.default_rng(PRIOR_SEED + i)) for i in range(args.n)]
        groups = {f.name: [f.name] for f in C.schema}
        groups["pose (roll, yaw, scale, offsets)"] = list(POSE)
        groups["everything but pose"] = [f.name for f in C.schema if f.name not in POSE]
        groups["every factor"] = [f.name for f in C.schema]
        print("\nre-rendered samples with one factor (or group) drawn as the renderer draws it:\n")
        print("| corrected | FD ratio | change |")
        print("| --- | ---: | ---: |")
        for label, names in groups.items():
            images = render_records(
                with_prior(sample_records, names, prior, C.schema), size=size, base_seed=RERENDER_SEED
            )
            ratio = ref.fd(images) / floor
            print(f"| {label} | {ratio:.2f} | {ratio - attr:+.2f} |", flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
