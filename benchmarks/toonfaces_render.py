"""Rendering speed of ToonFaces: images/s for drawing alone and for the full dataset writer
(PNG image + label + sketch, attributes, captions) with 1 and 2 worker processes.

    .venv/bin/python benchmarks/toonfaces_render.py --n 400 --size 64
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from ganlens.data.toonfaces import make_captions, render_dataset, render_toonface, sample_attributes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    rows = []
    t = time.perf_counter()
    for i in range(args.n):
        rec = sample_attributes(np.random.default_rng(i))
        render_toonface(rec, size=args.size, seed=i)
    dt = time.perf_counter() - t
    rows.append(("render_toonface only (1 process)", args.n / dt))
    t = time.perf_counter()
    for i in range(args.n):
        make_captions(sample_attributes(np.random.default_rng(i)), seed=i)
    rows.append(("attributes + 6 captions only", args.n / (time.perf_counter() - t)))
    for w in (int(x) for x in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            render_dataset(d + "/out", n=args.n, size=args.size, workers=w, progress=False)
            rows.append(
                (f"render_dataset, folder, {w} worker(s), incl. start-up", args.n / (time.perf_counter() - t))
            )
    print(
        f"ToonFaces rendering speed, {args.n} images at {args.size} px (shared CPU: compare rows of one run)"
    )
    print(f"| {'what':<56} | images/s | 50k images take |")
    print(f"|{'-' * 58}|---------:|----------------:|")
    for name, ips in rows:
        print(f"| {name:<56} | {ips:8.1f} | {50000 / ips / 60:11.1f} min |")


if __name__ == "__main__":
    main()
