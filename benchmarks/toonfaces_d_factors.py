"""Does a ToonFaces StyleGAN2's discriminator see the generator's attribute errors?

The realism table shows where the generated attribute marginals miss the real ones (total-variation
distance per factor). An ideal D scores an image by log p_real(x)/p_fake(x), so real images in a
bin that the generator over-draws (a smile value it draws twice as often as the renderer) should
score lower than real images in a bin it under-draws, by about the difference of the bins' log
ratios. This script measures that: per factor it bins n real renders and n samples by the shipped
classifier's predictions (categorical: the class; continuous: 5 equal bins over the factor's range)
and prints, per bin, both frequencies, their log ratio log(p_real / p_fake), and D's mean score on
the real and on the generated images in that bin. ``slope`` is the weighted least-squares slope of
D's per-bin mean against the log ratio: about 1 for a D that tracks the marginal, 0 for one that
ignores it (a negative slope means D even prefers real images where G over-draws).

With ``--out`` it also writes ``d_ranked.png``: real renders, then the samples D scores highest
and lowest, which shows what D does look at.

    .venv/bin/python benchmarks/toonfaces_d_factors.py toonfaces-stylegan2-64 --out results/d_factors
    # a run's checkpoint (its D and G_ema)
    .venv/bin/python benchmarks/toonfaces_d_factors.py RUN/checkpoints/step-00000848 --n 512
    # the same checkpoint's low-resolution D (a run trained with --lowres-d), on box-filtered images
    .venv/bin/python benchmarks/toonfaces_d_factors.py RUN/checkpoints/step-00000848 --d D_low
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from common import add_bench_args, bin_ids, fail

#: base seed of the real renders (disjoint from the training set, the realism sets and the probe's)
REAL_SEED = 40_000_000
FACTORS = "smile,brow_shape,facial_hair,eye_size,glasses,scale,yaw,face_width,mouth_open,hat"


class BoxFiltered(torch.nn.Module):
    """A low-resolution D (``--lowres-d``) fed full-size images, box-filtered as in training."""

    def __init__(self, D: torch.nn.Module, factor: int):
        super().__init__()
        self.D, self.factor = D, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(torch.nn.functional.avg_pool2d(x, self.factor))


def load_pair(path: str, which: str = "D"):
    """(G, D, label) from a zoo name or export with ``discriminator/``, or a training checkpoint
    (G_ema, and its ``D`` or ``D_low``)."""
    from ganlens.errors import GanlensError
    from ganlens.training.checkpoint import STATE_NAME, has_module, load_module, read_checkpoint_state

    p = Path(path)
    if (p / STATE_NAME).is_file():
        from ganlens.generators import build_generator
        from ganlens.training.discriminator import DiscriminatorConfig, StyleGAN2Discriminator

        ck = read_checkpoint_state(p)
        G = build_generator(ck.state["g_config"]).eval()
        load_module(ck.path, "G_ema", G)
        if which == "D_low" and not has_module(ck.path, "D_low"):
            raise GanlensError(f"{path!r} has no D_low; it comes from a run without --lowres-d")
        D = StyleGAN2Discriminator(
            DiscriminatorConfig.from_dict(ck.state["d_config" if which == "D" else "d_low_config"])
        )
        load_module(ck.path, which, D)
        if which == "D_low":
            D = BoxFiltered(D, G.resolution // D.config.resolution)
        return G, D.eval(), f"{p.name} ({ck.nimg / 1000:.2f} kimg, G_ema, {which})"
    if which != "D":
        raise GanlensError(f"--d {which} needs a training checkpoint folder; {path!r} is not one")
    from ganlens.training.export import model_discriminator
    from ganlens.zoo import load_model

    G = load_model(path)
    D = model_discriminator(path)
    if D is None:
        raise GanlensError(f"{path!r} has no discriminator/ folder; give a model exported with --with-d")
    return G, D.eval(), path


def factor_table(factor, pred_real, pred_fake, d_real: np.ndarray, d_fake: np.ndarray, min_count: int = 10):
    """Per bin (label, p_real, p_fake, log ratio, mean D real, mean D fake) and the two slopes."""

    br, labels = bin_ids(factor, pred_real)
    bf, _ = bin_ids(factor, pred_fake)
    rows = []
    for b, label in enumerate(labels):
        pr, pf = float((br == b).mean()), float((bf == b).mean())
        if pr < 0.02 and pf < 0.02:
            continue
        sr = float(d_real[br == b].mean()) if (br == b).sum() >= min_count else float("nan")
        sf = float(d_fake[bf == b].mean()) if (bf == b).sum() >= min_count else float("nan")
        rows.append((label, pr, pf, float(np.log((pr + 1e-3) / (pf + 1e-3))), sr, sf))

    def slope(col: int) -> float:
        x = np.array([r[3] for r in rows])
        y = np.array([r[col] for r in rows])
        w = np.array([r[1] + r[2] for r in rows])
        ok = ~np.isnan(y)
        if ok.sum() < 2:
            return float("nan")
        x, y, w = x[ok], y[ok], w[ok]
        xm, ym = np.average(x, weights=w), np.average(y, weights=w)
        var = np.average((x - xm) ** 2, weights=w)
        return float(np.average((x - xm) * (y - ym), weights=w) / var) if var > 1e-9 else float("nan")

    return rows, slope(4), slope(5)


def half_tvs(factor, pred_real, pred_fake, d_fake: np.ndarray) -> tuple[float, float]:
    """The factor's TV (5 bins or classes) between the real renders and the half of the samples D
    scores highest, and the half it scores lowest: whether a wrong marginal lives in the samples D
    finds least real (a rendering failure the classifier reads as one value) or in all of them."""
    br, labels = bin_ids(factor, pred_real)
    bf, _ = bin_ids(factor, pred_fake)
    p_real = np.bincount(br, minlength=len(labels)) / len(br)
    order = np.argsort(-d_fake)
    tvs = []
    for half in (order[: len(order) // 2], order[len(order) // 2 :]):
        p_half = np.bincount(bf[half], minlength=len(labels)) / len(half)
        tvs.append(float(0.5 * np.abs(p_real - p_half).sum()))
    return tvs[0], tvs[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="zoo name or export with discriminator/, or a checkpoint folder")
    p.add_argument(
        "--d", choices=("D", "D_low"), default="D", help="which discriminator of a checkpoint (default D)"
    )
    p.add_argument("--n", type=int, default=1024, help="real renders and samples each (default 1024)")
    p.add_argument("--factors", default=FACTORS, help=f"comma-separated factors (default {FACTORS})")
    add_bench_args(p, seed=11)
    p.add_argument("--batch-size", type=int, default=64, help="a multiple of D's mbstd group (default 64)")
    p.add_argument("--out", help="folder for d_ranked.png (the samples D likes most and least)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing d_ranked.png")
    args = p.parse_args(argv)

    from ganlens.analysis.realism import generate, render_real
    from ganlens.classifier import load_classifier
    from ganlens.errors import GanlensError
    from toonfaces_probe import scores

    torch.set_num_threads(max(1, args.threads))
    try:
        if args.n < 64:
            raise GanlensError(f"--n {args.n} must be at least 64")
        out = None
        if args.out:
            out = Path(args.out) / "d_ranked.png"
            if out.exists() and not args.overwrite:
                raise GanlensError(f"{str(out)!r} exists; pass --overwrite to replace it")
        G, D, label = load_pair(args.model, args.d)
        C = load_classifier(None)
        names = [s.strip() for s in args.factors.split(",") if s.strip()]
        unknown = [s for s in names if s not in C.schema.names]
        if unknown:
            raise GanlensError(f"unknown factors {unknown}; allowed: {', '.join(C.schema.names)}")
        fake = generate(G, args.n, seed=args.seed, batch_size=args.batch_size, progress=False)
        real = render_real(args.n, size=G.resolution, base_seed=REAL_SEED, progress=False)
        d_real, d_fake = (scores(D, x, args.batch_size).numpy() for x in (real, fake))
        pred_real, pred_fake = C.predict(real), C.predict(fake)
    except GanlensError as e:
        return fail("toonfaces d-factors", e)

    gap = d_real.mean() - d_fake.mean()
    print(f"model: {label}; n = {args.n} real renders and {args.n} samples")
    print(
        f"D: real {d_real.mean():+.2f} (sd {d_real.std():.2f}), samples {d_fake.mean():+.2f} "
        f"(sd {d_fake.std():.2f}); {100 * (d_real > 0).mean():.1f} % of real and "
        f"{100 * (d_fake < 0).mean():.1f} % of samples on the right side of 0\n"
    )
    summary = []
    for name in names:
        f = C.schema[name]
        rows, s_real, s_fake = factor_table(f, pred_real[name], pred_fake[name], d_real, d_fake)
        tv = 0.5 * sum(abs(r[1] - r[2]) for r in rows)
        halves = half_tvs(f, pred_real[name], pred_fake[name], d_fake)
        summary.append((name, tv, s_real, s_fake, max(r[4] for r in rows) - min(r[4] for r in rows), *halves))
        print(f"{name}: slope of D on log(p_real/p_fake): real {s_real:+.2f}, samples {s_fake:+.2f}")
        print(f"  {'bin':>14} {'p_real':>7} {'p_fake':>7} {'log ratio':>9} {'D(real)':>8} {'D(fake)':>8}")
        for b, pr, pf, lr, sr, sf in rows:
            print(f"  {b:>14} {pr:7.3f} {pf:7.3f} {lr:+9.2f} {sr:+8.2f} {sf:+8.2f}")
        print()
    print(
        "| factor | TV (5 bins or classes) | slope, real | slope, samples | range of D(real) over bins "
        "| TV, samples D scores in its top half | TV, bottom half |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, tv, sr, sf, rng, top, bottom in summary:
        print(f"| {name} | {tv:.3f} | {sr:+.2f} | {sf:+.2f} | {rng:.2f} | {top:.3f} | {bottom:.3f} |")
    print(f"\nfor scale: D's mean real-minus-sample gap is {gap:.2f}; an ideal D's slope is 1")

    if out is not None:
        from ganlens.utils.io import make_grid, save_image

        order = np.argsort(-d_fake)
        picks = torch.cat([real[:8], fake[order[:8].copy()], fake[order[-8:].copy()]])
        out.parent.mkdir(parents=True, exist_ok=True)
        grid = make_grid(picks.clamp(-1, 1), nrow=8)  # (3, H, W)
        save_image(out, grid.repeat_interleave(3, dim=1).repeat_interleave(3, dim=2))  # 3x, nearest
        print(f"wrote {out}: rows are real renders, the 8 samples D scores highest, the 8 it scores lowest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
