"""Which G_ema half-life draws best? A run's G re-averaged after training (post-hoc EMA) against its G_ema.

For one checkpoint of a run, this scores the G_ema that training kept, G re-averaged with each of
``--half-lives`` over the run's checkpoints up to that one (``ganlens.training.ema.posthoc_ema``,
what ``ganlens train stylegan2-export --ema-kimg H`` writes), and the raw G, all on the same
generated seeds and real sets, so the rows are paired: the FD ratio over ``--repeats`` sets (mean
and per set), the mean marginal TV, and the TV of the factors of ``--factors``.

    .venv/bin/python benchmarks/toonfaces_posthoc_ema.py RUN                     # its latest checkpoint
    .venv/bin/python benchmarks/toonfaces_posthoc_ema.py RUN --checkpoint RUN/checkpoints/step-00003012 \\
        --half-lives 2.5 5 10 20 --repeats 3 --tv-n 1000
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from common import add_bench_args, fail

FACTORS = "smile,brow_shape,earrings,scale,eye_size"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", help="a run folder written by 'ganlens train stylegan2' (two checkpoints or more)")
    p.add_argument("--checkpoint", help="the last checkpoint to average up to (default: the run's latest)")
    p.add_argument(
        "--half-lives", type=float, nargs="+", default=[2.5, 5.0, 10.0], help="in kimg (default 2.5 5 10)"
    )
    p.add_argument("--n", type=int, default=500, help="images per FD set (default 500)")
    p.add_argument("--repeats", type=int, default=3, help="generated sets per row (default 3)")
    p.add_argument("--tv-n", type=int, default=1000, help="images per set for the marginals (default 1000)")
    p.add_argument("--factors", default=FACTORS, help=f"factors whose TV gets a column (default {FACTORS})")
    add_bench_args(p)
    args = p.parse_args(argv)

    from ganlens.analysis.realism import REAL_SEED_A, REAL_SEED_B, realism_report, render_real
    from ganlens.classifier import load_classifier
    from ganlens.errors import GanlensError
    from ganlens.training.checkpoint import checkpoint_generator, checkpoints_up_to, latest_checkpoint
    from ganlens.training.ema import posthoc_ema

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    try:
        last = latest_checkpoint(args.run) if args.checkpoint is None else args.checkpoint
        if last is None:
            raise GanlensError(f"run folder {args.run!r} has no checkpoint")
        kept = checkpoints_up_to(args.run, last)
        C = load_classifier(None).eval()
        factors = [f for f in args.factors.split(",") if f]
        unknown = [f for f in factors if f not in C.schema.names]
        if unknown:
            raise GanlensError(f"--factors {unknown} are not factors; choose from {list(C.schema.names)}")
        rows = [("G_ema (the run's)", checkpoint_generator(last, "G_ema"), "")]
        for h in args.half_lives:
            ph = posthoc_ema(kept, h)
            rows.append((f"post-hoc {h:g} kimg", ph.generator, f"{100 * ph.start_share:.0f} %"))
        rows.append(("raw G", checkpoint_generator(last, "G"), ""))
        size = max(args.n, args.tv_n)
        real_a = render_real(size, size=rows[0][1].resolution, base_seed=REAL_SEED_A, progress=False)
        real_b = render_real(size, size=rows[0][1].resolution, base_seed=REAL_SEED_B, progress=False)
        reports = []
        for name, G, _ in rows:
            reports.append(
                realism_report(
                    G,
                    C,
                    n=args.n,
                    real_a=real_a,
                    real_b=real_b,
                    seed=args.seed,
                    repeats=args.repeats,
                    tv_n=args.tv_n,
                    progress=False,
                )
            )
            print(f"scored {name} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    except GanlensError as e:
        return fail("toonfaces posthoc-ema", e)

    seeds = f"seeds {args.seed}–{args.seed + args.repeats - 1}"
    print(f"run {args.run}: {len(kept)} checkpoints, {kept[0].name} … {kept[-1].name}")
    print(f"{args.repeats} generated sets of {args.n} ({seeds}); TV on {args.tv_n}\n")
    head = ["generator", "oldest G_ema's share", "FD ratio (mean)", "per set", "mean TV", *factors]
    print("| " + " | ".join(head) + " |")
    print("| --- | ---: | ---: | --- | ---: |" + " ---: |" * len(factors))
    for (name, _, share), rep in zip(rows, reports, strict=True):
        r = np.array(rep.ratios)
        cells = [
            name,
            share or "–",
            f"{r.mean():.2f}",
            " / ".join(f"{x:.2f}" for x in r),
            f"{np.mean(list(rep.tv_model.values())):.3f}",
            *(f"{rep.tv_model[f]:.3f}" for f in factors),
        ]
        print("| " + " | ".join(cells) + " |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
