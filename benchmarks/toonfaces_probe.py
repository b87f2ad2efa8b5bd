"""Probe a ToonFaces StyleGAN2 run's checkpoints: does D memorise, and how far is G_ema from G?

For each checkpoint (a ``checkpoints/step-*`` folder, or every one of a run folder) it prints:

* D's mean score on n training images, on n fresh renders it never saw (seeds from 30,000,000,
  disjoint from the training set and from the realism sets) and on n samples of the raw G. A D
  that memorises its training set scores training images above fresh ones (the gap ADA's r_t
  watches, measured directly here because the renderer can make unseen real images);
* the FD ratio and mean marginal TV of the raw G and of G_ema (the protocol of
  ``benchmarks/toonfaces.py``: n renders as real set A, a disjoint set B for the floor).

    .venv/bin/python benchmarks/toonfaces_probe.py --data /root/ganlens-runs/toonfaces64-first50k.npy \\
        /root/ganlens-runs/toonfaces-stylegan2-64-v10
    # two checkpoints, fewer images
    .venv/bin/python benchmarks/toonfaces_probe.py --data DATA.npy RUN/checkpoints/step-00003125 \\
        RUN/checkpoints/step-00003350 --n 256
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from common import add_bench_args, fail

#: base seed of the unseen renders (the training sets use seeds from 0, the realism sets 10^7 and 2·10^7)
FRESH_SEED = 30_000_000


def checkpoints_of(path: Path) -> list[Path]:
    """``path`` itself if it is a checkpoint, else its run's checkpoints, oldest first."""
    from ganlens.errors import GanlensError
    from ganlens.training.checkpoint import STATE_NAME, list_checkpoints

    if (path / STATE_NAME).is_file():
        return [path]
    found = list_checkpoints(path)
    if not found:
        raise GanlensError(f"{str(path)!r} is neither a checkpoint folder nor a run folder with checkpoints")
    return found


@torch.no_grad()
def scores(D, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """D's score per image, (N,), in full batches (D's minibatch-stddev groups need them): a short
    last batch is scored as the last ``batch_size`` images, keeping only its new ones."""
    n, out = len(images), []
    for i in range(0, n, batch_size):
        j = min(i, max(n - batch_size, 0))
        out.append(D(images[j : j + batch_size])[i - j :].flatten())
    return torch.cat(out)


def mean_score(D, images: torch.Tensor, batch_size: int) -> float:
    """Mean of D over ``images`` (see :func:`scores`)."""
    return scores(D, images, batch_size).mean().item()


def probe(ckpt: Path, train: torch.Tensor, fresh: torch.Tensor, meter, batch_size: int) -> dict:
    from ganlens.analysis.realism import generate
    from ganlens.generators import build_generator
    from ganlens.training.checkpoint import load_module, read_checkpoint_state
    from ganlens.training.discriminator import DiscriminatorConfig, StyleGAN2Discriminator

    ck = read_checkpoint_state(ckpt)
    D = StyleGAN2Discriminator(DiscriminatorConfig.from_dict(ck.state["d_config"])).eval()
    load_module(ck.path, "D", D)
    gens = {}
    for name in ("G", "G_ema"):
        gens[name] = build_generator(ck.state["g_config"]).eval()
        load_module(ck.path, name, gens[name])
    fake = generate(gens["G"], len(train), seed=0, batch_size=batch_size, progress=False)
    row: dict = {"checkpoint": ckpt.name, "kimg": ck.nimg / 1000}
    row["d_train"], row["d_fresh"], row["d_fake"] = (
        mean_score(D, x, batch_size) for x in (train, fresh, fake)
    )
    for name, G in gens.items():
        res = meter.measure(G)
        row[f"{name}_ratio"], row[f"{name}_tv"] = res["fd_ratio"], res["mean_tv"]
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", help="checkpoint folders or run folders (then every checkpoint)")
    p.add_argument("--data", required=True, help="the run's training images (.npy, .npz, .zip or folder)")
    p.add_argument("--n", type=int, default=500, help="images per set (default 500)")
    p.add_argument("--batch-size", type=int, default=64, help="a multiple of D's mbstd group (default 64)")
    add_bench_args(p, seed=None)
    args = p.parse_args(argv)

    from ganlens.analysis.realism import render_real
    from ganlens.errors import GanlensError
    from ganlens.training.data import load_images
    from toonfaces_curve import Meter

    torch.set_num_threads(max(1, args.threads))
    try:
        if args.n < 2:
            raise GanlensError(f"--n {args.n} must be at least 2")
        ckpts = [c for path in args.paths for c in checkpoints_of(Path(path))]
        images = load_images(args.data, resolution=64)
        if len(images) < args.n:
            raise GanlensError(f"--data {args.data!r} has {len(images)} images, fewer than --n {args.n}")
        pick = np.sort(np.random.default_rng(0).choice(len(images), args.n, replace=False))
        train = images[torch.from_numpy(pick)].float() / 127.5 - 1
        fresh = render_real(args.n, base_seed=FRESH_SEED, progress=False)
        meter = Meter(args.n, 0, args.batch_size)
        print(
            f"D's mean score on {args.n} training images, {args.n} unseen renders and {args.n} raw-G samples;"
        )
        print(f"FD ratio (floor {meter.fd_floor:.1f}) and mean marginal TV of G and G_ema\n")
        print(
            f"{'kimg':>8} {'D(train)':>9} {'D(unseen)':>10} {'D(fake)':>8}  {'G ratio':>8} {'G TV':>6}"
            f"  {'G_ema ratio':>11} {'G_ema TV':>8}"
        )
        for ckpt in ckpts:
            r = probe(ckpt, train, fresh, meter, args.batch_size)
            print(
                f"{r['kimg']:8.2f} {r['d_train']:+9.3f} {r['d_fresh']:+10.3f} {r['d_fake']:+8.3f}"
                f"  {r['G_ratio']:8.2f} {r['G_tv']:6.3f}  {r['G_ema_ratio']:11.2f} {r['G_ema_tv']:8.3f}",
                flush=True,
            )
    except GanlensError as e:
        return fail("toonfaces probe", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
