"""Can the marginals be fixed in W alone? Two W-only levers on a ToonFaces StyleGAN2, measured.

Every w that reaches the synthesis network goes through its style affines, so any affine map of W,
w' = w + L (w − w_avg) + c, folds exactly into them (``ganlens.training.latents.fold_w_affine``):
a model of the same format that draws another distribution of images.
This script tries two such maps and scores each against real renders with the shipped classifier,
the protocol of ``benchmarks/toonfaces.py`` (uint8-quantised samples of the seed-0 stream; ToonFD
of 500 ÷ the floor of two real sets of 500; marginal TV of ``--tv-n`` against as many renders):

1. **a factor's direction, stretched**: d = the least-squares direction in W of the attribute
   reader's reading of ``--factor`` (over ``--dir-n`` latents), and L = (s − 1) d dᵀ for each
   ``--scales`` s, which widens the spread of W along d alone;
2. **a fitted affine map**: L (w_dim × w_dim) and c learnt by Adam for ``--steps`` steps on the
   reader term the trainer uses (``--reader``; every factor's KL or 1-D W2 between a generated
   batch's readings and ``--real-n`` renders'; ``--fit-factors``: those factors alone), with the
   generator frozen. The reader is the
   run's own second classifier, not the one that scores.

    .venv/bin/python benchmarks/toonfaces_w_affine.py --threads 2            # the shipped model
    .venv/bin/python benchmarks/toonfaces_w_affine.py --factor scale --scales 1.2 1.5 --steps 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from common import add_bench_args, fail, load_g

#: base seed of the renders whose readings the fit matches (apart from the scoring sets A and B)
FIT_REAL_SEED = 30_000_000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "model", nargs="?", default="toonfaces-stylegan2-64", help="export or zoo name (StyleGAN2)"
    )
    p.add_argument(
        "--reader", default=None, help="attribute reader folder (default: the model's attribute_reader/)"
    )
    p.add_argument(
        "--factor", default="smile", help="the factor whose direction is stretched (default smile)"
    )
    p.add_argument(
        "--scales", type=float, nargs="*", default=[1.3, 1.6, 2.0], help="stretches (default 1.3 1.6 2)"
    )
    p.add_argument(
        "--dir-n", type=int, default=2000, help="latents the direction is regressed on (default 2000)"
    )
    p.add_argument("--steps", type=int, default=90, help="Adam steps of the fitted map; 0: none (default 90)")
    p.add_argument("--batch", type=int, default=64, help="latents per fitting step (default 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 0.001)")
    p.add_argument(
        "--fit-factors", default="", help="comma-separated factors the fit matches (default: every factor)"
    )
    p.add_argument("--real-n", type=int, default=4096, help="renders the fit matches (default 4096)")
    p.add_argument("--tv-n", type=int, default=3000, help="samples and renders per marginal (default 3000)")
    add_bench_args(p, seed_help="seed of the scored samples")
    args = p.parse_args(argv)

    import numpy as np

    from ganlens.analysis.realism import (
        REAL_SEED_B,
        RealReference,
        generate,
        quantize,
        render_real,
    )
    from ganlens.classifier import load_classifier
    from ganlens.cli.common import check_at_least
    from ganlens.errors import GanlensError
    from ganlens.training.attributes import reader_term
    from ganlens.training.export import resolve_reader
    from ganlens.training.latents import fold_w_affine

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    try:
        check_at_least(("--dir-n", args.dir_n, 300), ("--batch", args.batch, 8), ("--tv-n", args.tv_n, 500))
        if args.steps < 0 or any(s <= 0 for s in args.scales):
            raise GanlensError(f"--steps {args.steps} must be >= 0 and every --scales value above 0")
        G, label = load_g(args.model)
        if getattr(G, "arch", "") != "stylegan2" or G.c_dim:
            raise GanlensError(f"{label!r} is a {G.arch} model; this needs an unconditional StyleGAN2")
        G = G.eval().requires_grad_(False)
        reader_dir = resolve_reader(args.reader or args.model)
        if args.reader is None and reader_dir == Path(args.model):
            raise GanlensError(f"{label!r} has no attribute_reader/ folder; give --reader")
        R = load_classifier(reader_dir).eval().requires_grad_(False)
        fit_factors = tuple(f for f in args.fit_factors.split(",") if f)
        for name in (args.factor, *fit_factors):
            if name not in R.schema.names:
                raise GanlensError(f"factor {name!r} is not a factor; choose from {list(R.schema.names)}")
        C = load_classifier(None).eval()
        real_a = render_real(args.tv_n, size=G.resolution, progress=False)
        ref = RealReference(C, real_a)
        ref500 = RealReference(C, real_a[:500])
        floor = ref500.fd(render_real(500, size=G.resolution, base_seed=REAL_SEED_B, progress=False))
        w_avg = G.w_avg.detach().float()

        def score(model) -> tuple[float, dict[str, float]]:
            fake = quantize(generate(model, args.tv_n, seed=args.seed, progress=False))
            return ref500.fd(fake[:500]) / floor, ref.score(fake, fd=False, pairs=False).tv

        rows = [("the model", *score(G))]

        # 1. the factor's least-squares direction in W, stretched
        gen = torch.Generator().manual_seed(4242)
        z = G.sample_z(args.dir_n, generator=gen)
        with torch.no_grad():
            ws = G.mapping(z)
            w = ws[:, 0].float()
            images = torch.cat(
                [G.synthesis(ws[i : i + 100], noise_mode="const") for i in range(0, len(ws), 100)]
            )
        reading = R.predict(images)[args.factor].float()
        x = w - w.mean(0)
        beta = torch.linalg.lstsq(x, (reading - reading.mean())[:, None]).solution[:, 0]
        d = beta / beta.norm()
        r = float(np.corrcoef((x @ d).numpy(), reading.numpy())[0, 1])
        print(f"{args.factor}: direction from {args.dir_n} latents, r = {r:.3f} (in-sample)")
        for s in args.scales:
            stretched = fold_w_affine(G, (s - 1) * torch.outer(d, d), torch.zeros_like(d))
            rows.append((f"{args.factor} direction × {s:g}", *score(stretched)))

        # 2. an affine map of W fitted to the reader's marginals
        if args.steps:
            real = render_real(args.real_n, size=G.resolution, base_seed=FIT_REAL_SEED, progress=False)
            with torch.no_grad():
                parts = [R(real[i : i + 256]) for i in range(0, len(real), 256)]
            real_read = {k: torch.cat([b[k] for b in parts]).float() for k in parts[0]}
            L = torch.zeros(G.w_dim, G.w_dim, requires_grad=True)
            c = torch.zeros(G.w_dim, requires_grad=True)
            opt = torch.optim.Adam([L, c], lr=args.lr)
            gen = torch.Generator().manual_seed(777)
            terms = []
            for step in range(args.steps):
                with torch.no_grad():
                    ws = G.mapping(G.sample_z(args.batch, generator=gen))
                ws = ws + (ws - w_avg) @ L.T + c
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    term = reader_term(
                        R(G.synthesis(ws, noise_mode="const")), real_read, R.schema, fit_factors
                    )
                opt.zero_grad()
                term.backward()
                opt.step()
                terms.append(float(term.detach()))
                if (step + 1) % 10 == 0:
                    print(
                        f"  fit step {step + 1}: reader term {np.mean(terms[-10:]):.4f} (mean of 10)",
                        flush=True,
                    )
            fitted = fold_w_affine(G, L.detach(), c.detach())
            on = ", ".join(fit_factors) or "every factor"
            rows.append(
                (f"affine map fitted to {on}, {args.steps} steps (‖L‖ {float(L.norm()):.2f})", *score(fitted))
            )
    except GanlensError as e:
        return fail("toonfaces w-affine", e)

    print(f"\nmodel: {label}; seed {args.seed}; FD ratio on 500 samples, marginals on {args.tv_n}")
    print(f"\n| W map | FD ratio | mean TV | {args.factor} TV | factors above 0.1 |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, ratio, tv in rows:
        above = ", ".join(f"{k} {v:.3f}" for k, v in sorted(tv.items(), key=lambda kv: -kv[1]) if v > 0.1)
        print(
            f"| {name} | {ratio:.2f} | {np.nanmean(list(tv.values())):.3f} | {tv[args.factor]:.3f} | {above} |"
        )
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
