"""Rendering speed of ToonFaces: images/s for drawing alone, for attributes + captions, and for the
full dataset writer (PNG image + label + sketch, attributes, captions) with 1 and 2 worker processes.

The machine is shared, so next to wall-clock images/s the table gives images per CPU-second
(this process plus its workers), which does not depend on what else is running.

    .venv/bin/python benchmarks/toonfaces_render.py --n 400 --size 64
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import numpy as np

from ganlens.data.toonfaces import make_captions, render_dataset, render_toonface, sample_attributes


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _measure(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - t, _cpu() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    n = args.n
    rows = []

    def draw() -> None:
        for i in range(n):
            render_toonface(sample_attributes(np.random.default_rng(i)), size=args.size, seed=i)

    def caps() -> None:
        for i in range(n):
            make_captions(sample_attributes(np.random.default_rng(i)), seed=i)

    rows.append(("render_toonface only, 1 process", *_measure(draw)))
    rows.append(("attributes + 6 captions only", *_measure(caps)))
    for w in (int(x) for x in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as d:
            wall, cpu = _measure(
                lambda d=d, w=w: render_dataset(d + "/o", n=n, size=args.size, workers=w, progress=False)
            )
            rows.append((f"render_dataset (all files), {w} worker(s)", wall, cpu))
    print(f"ToonFaces rendering, {n} images at {args.size} px")
    print(f"| {'what':<44} | wall images/s | images per CPU-s | 50k on 2 idle cores |")
    print(f"|{'-' * 46}|--------------:|-----------------:|--------------------:|")
    for name, wall, cpu in rows:
        per_cpu = n / cpu if cpu > 0 else float("nan")
        print(f"| {name:<44} | {n / wall:13.1f} | {per_cpu:16.1f} | {50000 / (2 * per_cpu) / 60:14.1f} min |")


if __name__ == "__main__":
    main()
