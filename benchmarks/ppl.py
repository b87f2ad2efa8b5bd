"""Perceptual path length of a generator in W and Z, 'end' and 'full' sampling, in one table.

With ``--lpips PATH`` the distance is LPIPS-VGG16 (the official metric; its weights are not
shipped). Without it, the distance is the mean squared pixel difference ("pixel PPL"), which needs
no weights: not comparable with published PPL values, but the same comparisons (W against Z, ends
against the whole path, one model against another) hold.

    .venv/bin/python benchmarks/ppl.py                                    # the shipped ToonFaces model
    .venv/bin/python benchmarks/ppl.py --model ffhq.pkl --lpips vgg16_lpips.pth --crop --n 100000
"""

from __future__ import annotations

import argparse
import sys
import time

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", default="toonfaces-stylegan2-64", help="zoo name or path (default: the shipped one)"
    )
    p.add_argument("--lpips", default=None, help="LPIPS-VGG16 weights (default: pixel MSE as the distance)")
    p.add_argument("--n", type=int, default=2000, help="pairs per row (default 2000; the official 100000)")
    p.add_argument("--crop", action="store_true", help="the FFHQ face crop")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from ganlens.analysis.ppl import perceptual_path_length
    from ganlens.errors import GanlensError
    from ganlens.inversion.losses import LPIPS
    from ganlens.zoo import load_model

    try:
        G = load_model(args.model)
        if args.lpips:
            distance, name = LPIPS.from_file(args.lpips, resize=None), "LPIPS-VGG16"
        else:
            distance, name = (lambda a, b: (a - b).square().mean(dim=(1, 2, 3))), "pixel MSE"
        spaces = ("w", "z") if G.style_based else ("z",)
        rows = []
        for space in spaces:
            for sampling in ("end", "full"):
                t0 = time.perf_counter()
                r = perceptual_path_length(
                    G, distance, n=args.n, space=space, sampling=sampling, crop=args.crop,
                    batch_size=args.batch_size, progress=False,
                )  # fmt: skip
                d = r.to_dict()
                rows.append((space, sampling, d, time.perf_counter() - t0))
    except GanlensError as e:
        print(f"ppl: error: {e}", file=sys.stderr)
        return 2
    print(
        f"model: {args.model} ({G.arch}, {G.resolution}px); distance: {name}; n = {args.n} pairs per row, ε 1e-4\n"
    )
    print("| space | sampling | PPL (1–99 % mean) | median | 99th percentile | seconds |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for space, sampling, d, sec in rows:
        print(f"| {space} | {sampling} | {d['ppl']:.4g} | {d['median']:.4g} | {d['p99']:.4g} | {sec:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
