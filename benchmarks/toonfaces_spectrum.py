"""Where in frequency does a ToonFaces generator fall short? Power spectra of samples and renders.

ToonFD punishes blur hardest (a real set blurred by σ = 1 px scores an FD ratio near 5), so this
measures how much image power the generator's samples carry per frequency band, against fresh
renders. For each set it takes the luma of every image, removes its mean, and averages the 2-D
power spectrum over images, then over rings of radius f cycles per image. The first table gives,
per octave band and in all (DC left out), each set's power divided by real set A's (1 = as much
as the renders). The second divides each band's ratio by the set's overall one: the *shape* of the
spectrum, where blur shows as a fall towards high frequencies whatever the overall contrast. Real
set B is the floor (ratios ≈ 1); real B blurred by σ = 0.5 and 1 px calibrates what blur does.

    .venv/bin/python benchmarks/toonfaces_spectrum.py                       # the shipped model
    .venv/bin/python benchmarks/toonfaces_spectrum.py --model RUN_EXPORT --plot spectrum.png

Same real sets (A: seeds 10,000,000 + i, B: 20,000,000 + i) and generated set (seed 0) as
``benchmarks/toonfaces.py``; samples are quantised to 8 bits like saved PNGs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common import add_bench_args, fail

#: luma weights (ITU-R BT.601)
LUMA = (0.299, 0.587, 0.114)


def radial_power(images: torch.Tensor) -> np.ndarray:
    """Mean power at each integer radius 0 … R/2 (cycles per image) of the images' luma, (R/2 + 1,)."""
    x = images.float()
    y = sum(w * x[:, c] for c, w in enumerate(LUMA))  # (N, R, R)
    y = y - y.mean(dim=(1, 2), keepdim=True)
    power = torch.fft.fft2(y).abs().square().mean(0).numpy()  # (R, R)
    n = power.shape[0]
    f = np.fft.fftfreq(n) * n  # cycles per image
    radius = np.rint(np.hypot(f[:, None], f[None, :])).astype(int)
    keep = radius <= n // 2
    sums = np.bincount(radius[keep], weights=power[keep], minlength=n // 2 + 1)
    counts = np.bincount(radius[keep], minlength=n // 2 + 1)
    return sums / np.maximum(counts, 1)


def bands(resolution: int) -> list[tuple[int, int]]:
    """Octaves [1, 2), [2, 4), … up to the Nyquist radius R/2 (inclusive in the last band)."""
    out, lo = [], 1
    while lo < resolution // 2:
        out.append((lo, min(2 * lo, resolution // 2 + 1)))
        lo *= 2
    return out


def band_ratios(spec: np.ndarray, ref: np.ndarray, resolution: int) -> list[float]:
    return [float(spec[lo:hi].sum() / ref[lo:hi].sum()) for lo, hi in bands(resolution)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", default="toonfaces-stylegan2-64", help="zoo name or export (default: the shipped one)"
    )
    p.add_argument("--n", type=int, default=500, help="images per set (default 500)")
    p.add_argument("--trunc", type=float, default=1.0, help="truncation ψ of the samples (default 1)")
    p.add_argument("--plot", type=Path, default=None, help="also draw the spectra (PNG)")
    add_bench_args(p, seed_help="seed of the generated set")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from ganlens.analysis.realism import (
        REAL_SEED_A,
        REAL_SEED_B,
        gaussian_blur,
        generate,
        quantize,
        render_real,
    )
    from ganlens.errors import GanlensError
    from ganlens.zoo import load_model

    try:
        G = load_model(args.model)
    except GanlensError as e:
        return fail("toonfaces_spectrum", e)
    R = G.resolution
    t0 = time.perf_counter()
    real_a = render_real(args.n, size=R, base_seed=REAL_SEED_A, progress=False)
    real_b = render_real(args.n, size=R, base_seed=REAL_SEED_B, progress=False)
    fake = quantize(generate(G, args.n, seed=args.seed, trunc_psi=args.trunc, progress=False))
    sets = {
        "real set B (floor)": real_b,
        "model": fake,
        "real set B, blur σ 0.5 px": quantize(gaussian_blur(real_b, 0.5)),
        "real set B, blur σ 1 px": quantize(gaussian_blur(real_b, 1.0)),
    }
    ref = radial_power(real_a)
    spectra = {name: radial_power(x) for name, x in sets.items()}
    elapsed = time.perf_counter() - t0

    bs = bands(R)
    head = " | ".join(f"{lo}–{hi - 1}" for lo, hi in bs)
    total = {name: float(spec[1:].sum() / ref[1:].sum()) for name, spec in spectra.items()}
    print(f"model: {args.model} ({R}px), n = {args.n} per set, ψ {args.trunc:g}; {elapsed:.0f} s\n")
    print("Power per band (cycles per image) ÷ real set A's\n")
    print(f"| images | {head} | all |")
    print("| --- |" + " ---: |" * (len(bs) + 1))
    for name, spec in spectra.items():
        ratios = band_ratios(spec, ref, R)
        print(f"| {name} | " + " | ".join(f"{r:.3f}" for r in ratios) + f" | {total[name]:.3f} |")
    print("\nSpectral shape: each band's ratio ÷ the set's overall ratio (blur: falls towards high f)\n")
    print(f"| images | {head} |")
    print("| --- |" + " ---: |" * len(bs))
    for name, spec in spectra.items():
        print(f"| {name} | " + " | ".join(f"{r / total[name]:.3f}" for r in band_ratios(spec, ref, R)) + " |")

    if args.plot is not None:
        from ganlens.utils.plots import new_figure, save_figure

        f = np.arange(len(ref))
        fig, ax = new_figure(figsize=(6.4, 4.2), dpi=120)
        ax.loglog(f[1:], ref[1:], color="black", lw=2, label="real set A")
        for name, spec in spectra.items():
            ax.loglog(f[1:], spec[1:], lw=1.5, ls="--" if "blur" in name else "-", label=name)
        ax.set_xlabel("frequency (cycles per image)")
        ax.set_ylabel("mean power of the luma")
        ax.set_title(f"{args.model}: power spectra (n = {args.n})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, args.plot)
        print(f"\nwrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
