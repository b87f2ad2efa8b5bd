"""SeFa benchmark: factorization time (ours vs the official numpy ``eig`` path) and report time.

Run:  .venv/bin/python benchmarks/sefa.py [--repeats 7] [--threads N]

Prints one table. Factorization is timed on
  * a StyleGAN2 at 1024² built with the package's real ``StyleGAN2Generator`` class (random init,
    all 18 w+ rows: 17 conv affines + the final ToRGB affine, 6080 × 512 stacked), and
  * the DigiFace DCGAN (8192 × 100),
each next to the official computation (float32 column normalisation + ``np.linalg.eig`` of the
d × d product, as genforce/sefa ``factorize_weight``; re-implemented here, not copied) on the very
same matrices. The report row times ``sefa_report`` (5 samples × 5 directions × 11 steps, every
file) on the DCGAN. Times are the best of ``--repeats`` runs (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch


def best_ms(fn, repeats: int) -> float:
    fn()  # warm-up (imports, allocations)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000 * min(ts)


def official_eig(mats: list[np.ndarray]) -> None:
    """The official path: transpose-stack (d × M) in float32, unit columns, ``np.linalg.eig``."""
    w = np.concatenate([m.T for m in mats], axis=1).astype(np.float32)
    w = w / np.linalg.norm(w, axis=0, keepdims=True)
    np.linalg.eig(w.dot(w.T))


def gram(mats: list[np.ndarray]) -> None:
    """The float32 product alone (6080 × 512 stacked: 1.6 G multiply-adds), the floor of any exact path."""
    a = torch.from_numpy(np.concatenate(mats))
    a.T @ a


def stylegan2_1024():
    from ganlens.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator

    with torch.device("meta"):  # shapes only, no 30M-parameter allocation ...
        meta = StyleGAN2Generator(StyleGAN2Config(resolution=1024))
    shapes = {i: tuple(w.shape) for i, w in meta.projection_weights().items()}
    g = torch.Generator().manual_seed(0)  # ... then random affine matrices of exactly those shapes
    mats = {i: torch.randn(s, generator=g) for i, s in shapes.items()}

    class _Affines:  # just what factorize() reads from a generator
        arch, style_based, num_layers = "stylegan2", True, meta.num_layers
        code_shape = meta.code_shape

        def layer_groups(self):
            return meta.layer_groups()

        def projection_weights(self):
            return mats

    return _Affines(), [m.numpy() for m in mats.values()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from ganlens.sefa import factorize, sefa_report
    from ganlens.zoo import load_model

    rows = []
    G2, mats2 = stylegan2_1024()
    M = sum(m.shape[0] for m in mats2)
    label = f"StyleGAN2-1024 shapes (real class), 18 layers, {M}x512"
    rows.append((label, "ganlens float64 (default)", best_ms(lambda: factorize(G2), args.repeats)))
    rows.append((label, "ganlens float32", best_ms(lambda: factorize(G2, precision="float32"), args.repeats)))
    rows.append((label, "  of which the AᵀA product, float32", best_ms(lambda: gram(mats2), args.repeats)))
    rows.append(
        (label, "official (float32 np.linalg.eig)", best_ms(lambda: official_eig(mats2), args.repeats))
    )

    G = load_model("digiface-dcgan64")
    matsd = [G.projection_weights()[0].numpy()]
    label = f"digiface-dcgan64, layer 0, {matsd[0].shape[0]}x{matsd[0].shape[1]}"
    rows.append((label, "ganlens float64 (default)", best_ms(lambda: factorize(G), args.repeats)))
    rows.append(
        (label, "official (float32 np.linalg.eig)", best_ms(lambda: official_eig(matsd), args.repeats))
    )

    timings = {}
    with tempfile.TemporaryDirectory() as tmp:

        def report():
            r = sefa_report(G, os.path.join(tmp, "r"), model_id="digiface-dcgan64", num_directions=5,
                            num_samples=5, steps=11, overwrite=True, progress=False)  # fmt: skip
            timings.update(r.timings)

        rep_ms = best_ms(report, max(1, min(args.repeats, 3)))
    rows.append(("digiface-dcgan64 report, N5 K5 x 11 steps", "sefa_report (all files)", rep_ms))

    w = max(len(r[0]) for r in rows)
    m = max(len(r[1]) for r in rows)
    print(
        f"torch threads: {torch.get_num_threads()}, load average: {os.getloadavg()[0]:.1f}, "
        f"cores: {os.cpu_count()}, repeats: {args.repeats}"
    )
    print(f"{'case'.ljust(w)}  {'method'.ljust(m)}  time (ms)")
    print(f"{'-' * w}  {'-' * m}  ---------")
    for case, method, ms in rows:
        print(f"{case.ljust(w)}  {method.ljust(m)}  {ms:9.1f}")
    print("last report run, seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    print("goals: factorization < 20 ms, report < 15 s")


if __name__ == "__main__":
    main()
