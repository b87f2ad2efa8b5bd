"""Quality and speed of the shipped digiface-dcgan64 encoder, encoder-only vs hybrid vs optimisation.

Prints a table (PSNR on uint8, seconds per image) measured in this run on
* held-out generated samples (z from seeds that training never drew: training uses a
  torch.Generator stream, these come from NumPy RandomState seeds 900000+), and
* the real photos in a folder (centre crop, Lanczos resize to 64), default /work/shared/data/faces.

Rows: a random (untrained) encoder, the shipped encoder alone, hybrid 100 steps (IDP: Adam lr 0.01,
domain weight 2; also lr 0.05 and without the domain term), and plain z optimisation for 100 steps
from a random start (no encoder, Adam lr 0.01 and 0.05).
With --grid DIR it also saves comparison grids (target / encoder / hybrid).

    .venv/bin/python benchmarks/encoder_quality.py --n 16 --grid docs/images/encoder
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from ganlens.inversion.encoder import Encoder, load_encoder, load_image_folder
from ganlens.inversion.hybrid import encoder_invert, hybrid_invert
from ganlens.inversion.metrics import psnr
from ganlens.utils.io import make_grid, save_image
from ganlens.zoo import load_model


def run_method(name, fn, target):
    t0 = time.perf_counter()
    images = fn(target)
    sec = (time.perf_counter() - t0) / len(target)
    vals = psnr(images, target)
    return {"method": name, "psnr": float(np.mean(vals)), "psnr_std": float(np.std(vals)), "sec": sec}, images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16, help="held-out generated samples")
    ap.add_argument("--faces", default="/work/shared/data/faces", help="folder of real photos")
    ap.add_argument("--encoder", default="digiface-dcgan64", help="model id or encoder folder")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--grid", default=None, help="save comparison grids into this folder")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    G = load_model("digiface-dcgan64")
    E = load_encoder(args.encoder)
    torch.manual_seed(0)
    E_rand = Encoder(E.config).eval().requires_grad_(False)
    sets = {
        "generated (held-out)": G.synthesis(G.z_from_seeds(list(range(900000, 900000 + args.n)))).detach()
    }
    if Path(args.faces).is_dir():
        sets["real photos"] = load_image_folder(args.faces, G.resolution)

    def zopt(t, lr):
        from ganlens.inversion.optimize import invert

        g = torch.Generator().manual_seed(0)
        return invert(G, t, space="z", steps=args.steps, lr=lr, generator=g, progress=False).images

    def hyb(t, **kw):
        return hybrid_invert(G, E, t, steps=args.steps, progress=False, **kw).images

    methods = {
        "random encoder": lambda t: encoder_invert(G, E_rand, t).images,
        "encoder": lambda t: encoder_invert(G, E, t).images,
        f"hybrid {args.steps} steps": hyb,
        f"hybrid {args.steps} steps, lr 0.05": lambda t: hyb(t, lr=0.05),
        f"hybrid {args.steps} steps, no domain term": lambda t: hyb(t, domain_weight=0.0),
        f"z optimisation {args.steps} steps, lr 0.01": lambda t: zopt(t, 0.01),
        f"z optimisation {args.steps} steps, lr 0.05": lambda t: zopt(t, 0.05),
    }
    rows = []
    for set_name, target in sets.items():
        outs = {}
        for m, fn in methods.items():
            r, imgs = run_method(m, fn, target)
            rows.append({"set": set_name, **r})
            outs[m] = imgs
        if args.grid:
            k = min(8, len(target))
            tiles = torch.cat([target[:k], outs["encoder"][:k], outs[f"hybrid {args.steps} steps"][:k]])
            slug = "generated" if set_name.startswith("gen") else "real"
            save_image(Path(args.grid) / f"{slug}_target_encoder_hybrid.png", make_grid(tiles, nrow=k))
    print(f"| set | method | PSNR dB (mean ± std) | s / image ({torch.get_num_threads()} CPU thread) |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['set']} | {r['method']} | {r['psnr']:.2f} ± {r['psnr_std']:.2f} | {r['sec']:.3f} |")


if __name__ == "__main__":
    main()
