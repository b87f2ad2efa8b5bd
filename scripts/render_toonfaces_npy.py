"""Render the first N ToonFaces images (image i from seed i) into one uint8 .npy array (N, R, R, 3).

This is the training set of the shipped ``toonfaces-stylegan2-64`` model: images only, without the
label maps, sketches and captions that ``ganlens data toonfaces`` also writes, so it renders about
three times faster and loads in a second. The file is written atomically.

    .venv/bin/python scripts/render_toonfaces_npy.py --n 50000 --out data/toonfaces64-first50k.npy --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ganlens.data.toonfaces.render import render_toonface
from ganlens.data.toonfaces.schema import sample_attributes


def render_range(args: tuple[int, int, int]) -> np.ndarray:
    start, stop, size = args
    return np.stack(
        [
            render_toonface(sample_attributes(np.random.default_rng(i)), size=size, seed=i).image
            for i in range(start, stop)
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--out", required=True, help="output .npy file")
    p.add_argument("--size", type=int, default=64, help="pixel size (default 64)")
    p.add_argument("--workers", type=int, default=1, help="rendering processes (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".npy":
        sys.exit(f"error: --out {str(out)!r} must end in .npy")
    if out.exists() and not args.overwrite:
        sys.exit(f"error: {str(out)!r} exists; pass --overwrite to replace it")
    if not (1 <= args.workers <= 64 and args.n >= 1):
        sys.exit(f"error: --n {args.n} must be >= 1 and --workers {args.workers} from 1 to 64")
    chunk = 256
    jobs = [(s, min(s + chunk, args.n), args.size) for s in range(0, args.n, chunk)]
    arr = np.empty((args.n, args.size, args.size, 3), np.uint8)
    bar = tqdm(total=args.n, unit="img", mininterval=10)
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for (start, stop, _), block in zip(jobs, pool.imap(render_range, jobs)):
            arr[start:stop] = block
            bar.update(stop - start)
    bar.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".partial.npy")
    np.save(tmp, arr)
    tmp.replace(out)
    print(f"{out}: {arr.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
