"""Inversion benchmark: every method on real photos and in-domain samples, then the GAN-prior tasks
against classical baselines, all measured in the same run.

Table 1 (reconstruction): z, w / w+ (style-based models), encoder and hybrid (when an encoder is
shipped for the model), mGANprior — PSNR, SSIM and seconds per image at the same step budget, on
(a) the photos in ``--faces`` framed for the model and (b) ``--samples`` images of the model itself.

Table 2 (tasks): colorization (baseline: the gray input), ×4 super-resolution (baseline: bicubic
upsampling of the low-resolution input) and inpainting with the masks in ``--masks`` (baseline:
OpenCV Telea) — the GAN prior against the baseline on the photos and the first ``--task-samples``
samples. Colorization and inpainting use mGANprior; super-resolution uses the library default
(:func:`ganlens.inversion.superres.super_resolve`: z started from the encoder's guess, when an
encoder is shipped); ``--sr-methods default,mganprior`` adds mGANprior rows for comparison.

Seconds are CPU seconds of this process per image with one thread (``time.process_time``), which
is what an idle core would take; the wall-clock total is printed too (the machine may be shared).

    .venv/bin/python benchmarks/inversion.py                 # full run
    .venv/bin/python benchmarks/inversion.py --quick         # a smoke run (minutes)
    .venv/bin/python benchmarks/inversion.py --methods= --tasks super-resolution --sr-methods default,mganprior
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganlens.inversion.degradations import Colorize, Downsample, Inpaint, read_mask_array
from ganlens.inversion.images import (
    DEFAULT_FACE_CROP,
    DEFAULT_FACE_OFFSET,
    list_images,
    load_image,
    resize_array,
)
from ganlens.inversion.metrics import psnr, ssim
from ganlens.inversion.mganprior import default_layer, mganprior_invert
from ganlens.inversion.optimize import invert
from ganlens.inversion.superres import super_resolve
from ganlens.utils.io import make_grid, save_image, to_uint8, write_json
from ganlens.zoo import load_model, model_id


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="digiface-dcgan64")
    p.add_argument("--faces", default="/work/shared/data/faces")
    p.add_argument("--masks", default="/work/shared/data/masks")
    p.add_argument("--samples", type=int, default=50, help="in-domain samples (default 50)")
    p.add_argument(
        "--task-samples",
        type=int,
        default=20,
        help="in-domain samples used for the tasks (first of --samples, default 20)",
    )
    p.add_argument(
        "--steps", type=int, default=300, help="step budget of every optimising method (default 300)"
    )
    p.add_argument(
        "--task-steps", type=int, default=300, help="steps for the restoration tasks (default 300)"
    )
    p.add_argument("--codes", type=int, default=20, help="mGANprior codes N (default 20)")
    p.add_argument("--layer", type=int, default=None, help="mGANprior layer (default per task)")
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="Adam learning rate (default: each method's own, 0.05 z/w/w+, 0.1 mGANprior)",
    )
    p.add_argument("--batch", type=int, default=10, help="images optimised together (default 10)")
    p.add_argument("--crop", type=float, default=DEFAULT_FACE_CROP)
    p.add_argument("--offset", default=",".join(str(v) for v in DEFAULT_FACE_OFFSET))
    p.add_argument("--methods", default="z,w,w+,encoder,hybrid,mganprior", help="comma list")
    p.add_argument("--tasks", default="colorization,super-resolution,inpainting", help="comma list")
    p.add_argument(
        "--sr-methods",
        default="default",
        help="super-resolution methods: default (super_resolve) and/or mganprior (comma list; "
        "default,mganprior adds the earlier mGANprior rows, ~2 CPU min more)",
    )
    p.add_argument("--images-out", default=None, help="write example images and results.json here")
    p.add_argument("--quick", action="store_true", help="4 in-domain samples, 60 steps")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _cpu_seconds(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def _batched(fn, x, batch):
    """Run fn on chunks of x; returns (images, cpu_seconds, wall_seconds)."""
    outs, cpu, wall = [], 0.0, 0.0
    for i in range(0, len(x), batch):
        (res, c, w) = _cpu_seconds(lambda i=i: fn(x[i : i + batch], i))
        outs.append(res)
        cpu += c
        wall += w
    return torch.cat(outs), cpu, wall


def _scores(pred, ref):
    p, s = psnr(pred.clamp(-1, 1), ref), ssim(pred.clamp(-1, 1), ref)
    p = [min(v, 100.0) for v in p]
    return float(np.mean(p)), float(np.mean(s))


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        args.samples, args.steps, args.task_steps = (
            min(args.samples, 4),
            min(args.steps, 60),
            min(args.task_steps, 60),
        )
    G = load_model(args.model)
    mid = model_id(args.model)
    R = G.resolution
    dx, dy = (float(v) for v in args.offset.split(","))
    files = list_images(args.faces)
    real = torch.stack([load_image(f, R, crop=args.crop, offset=(dx, dy)) for f in files])
    with torch.no_grad():
        codes = G.mapping(G.sample_z(args.samples, seed=1000 + args.seed))
        fake = G.synthesis(codes).clamp(-1, 1)
    sets = {"real photos": real, f"in-domain ({args.samples} samples)": fake}
    methods = [m for m in args.methods.split(",") if m]
    encoder = None
    if any(m in ("encoder", "hybrid") for m in methods):
        try:
            from ganlens.inversion.encoder import load_encoder

            encoder = load_encoder(mid)
        except Exception as e:  # no encoder shipped for this model, or the module is missing
            print(f"note: encoder/hybrid skipped: {e}", file=sys.stderr)
            methods = [m for m in methods if m not in ("encoder", "hybrid")]
    methods = [m for m in methods if m not in ("w", "w+") or m in G.latent_spaces]

    def run(method, x, degradation=None, layer=None, steps=None):
        steps = steps or args.steps

        def fn(chunk, i):
            g = torch.Generator().manual_seed(args.seed + i)
            if method in ("z", "w", "w+"):
                r = invert(
                    G,
                    chunk,
                    space=method,
                    steps=steps,
                    lr=args.lr,
                    degradation=degradation,
                    generator=g,
                    progress=False,
                )
            elif method == "mganprior":
                lay = (
                    layer if layer is not None else default_layer(G, degradation.name if degradation else "")
                )
                r = mganprior_invert(
                    G,
                    chunk,
                    n_codes=args.codes,
                    layer=lay,
                    steps=steps,
                    lr=args.lr,
                    degradation=degradation,
                    generator=g,
                    progress=False,
                )
            elif method == "encoder":
                from ganlens.inversion.hybrid import encoder_invert

                r = encoder_invert(G, encoder, chunk, degradation=degradation)
            elif method == "hybrid":
                from ganlens.inversion.hybrid import hybrid_invert

                r = hybrid_invert(
                    G, encoder, chunk, steps=steps, degradation=degradation, generator=g, progress=False
                )
            else:
                raise ValueError(method)
            return r.images

        return _batched(fn, x, args.batch)

    t_start = time.perf_counter()
    results: dict = {
        "model": mid,
        "steps": args.steps,
        "task_steps": args.task_steps,
        "codes": args.codes,
        "reconstruction": [],
        "tasks": [],
    }
    examples: dict[str, dict[str, torch.Tensor]] = {}
    print(f"\n## Reconstruction — {mid}, {args.steps} steps, batch {args.batch}, N={args.codes} codes\n")
    print("| method | set | PSNR (dB) | SSIM | CPU s/img | wall s/img |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for set_name, x in sets.items():
        for m in methods:
            imgs, cpu, wall = run(m, x)
            p, s = _scores(imgs, x)
            row = {
                "method": m,
                "set": set_name,
                "psnr": p,
                "ssim": s,
                "cpu_s": cpu / len(x),
                "wall_s": wall / len(x),
            }
            results["reconstruction"].append(row)
            print(
                f"| {m} | {set_name} | {p:.2f} | {s:.4f} | {cpu / len(x):.2f} | {wall / len(x):.2f} |",
                flush=True,
            )
            examples.setdefault(set_name, {"input": x})[m] = imgs

    # ------------------------------------------------------------------------- tasks
    tasks = [t for t in args.tasks.split(",") if t]
    mask_files = list_images(args.masks) if "inpainting" in tasks else []
    masks = [
        torch.from_numpy((resize_array(read_mask_array(f)[..., None], R)[..., 0] > 0.5).astype(np.float32))
        for f in mask_files
    ]
    print(
        f"\n## GAN-prior tasks ({args.task_steps} steps; mGANprior N={args.codes}) vs classical baselines\n"
    )
    print(
        "| task | set | baseline | baseline PSNR | baseline SSIM | GAN prior | PSNR | SSIM "
        "| CPU s/img | wall s/img |"
    )
    print("| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    sr_encoder = None
    if "super-resolution" in tasks and "default" in args.sr_methods.split(","):
        try:
            from ganlens.inversion.encoder import load_encoder

            sr_encoder = encoder if encoder is not None else load_encoder(mid)
        except Exception as e:  # no encoder: super_resolve falls back to mGANprior
            print(f"note: super-resolution default runs without an encoder: {e}", file=sys.stderr)
    task_examples: dict[str, dict[str, torch.Tensor]] = {}
    task_sets = {"real photos": real, f"in-domain ({args.task_samples} samples)": fake[: args.task_samples]}
    for task in tasks:
        for set_name, x in task_sets.items():
            if task == "colorization":
                deg = Colorize()
                observed = deg(x)
                base = observed
                base_name = "gray input"
            elif task == "super-resolution":
                deg = Downsample(4, R)
                observed = deg(x)
                base = F.interpolate(observed, size=R, mode="bicubic", align_corners=False).clamp(-1, 1)
                base_name = "bicubic ×4"
            elif task == "inpainting":
                m = torch.stack([masks[i % len(masks)] for i in range(len(x))])[:, None]
                deg = Inpaint(m)
                observed = deg(x)
                base = _telea(x, m)
                base_name = "OpenCV Telea"
            else:
                raise SystemExit(f"unknown task {task!r}")

            gan_methods = (
                [s for s in args.sr_methods.split(",") if s] if task == "super-resolution" else ["mganprior"]
            )
            for gm in gan_methods:

                def fn(chunk, i, deg=deg, task=task, gm=gm):
                    g = torch.Generator().manual_seed(args.seed + i)
                    if gm == "default":  # the tuned super-resolution preset
                        return super_resolve(
                            G,
                            chunk,
                            encoder=sr_encoder,
                            factor=4,
                            steps=args.task_steps,
                            generator=g,
                            progress=False,
                        ).images
                    d = deg.select(slice(i, i + len(chunk))) if isinstance(deg, Inpaint) else deg
                    lay = args.layer if args.layer is not None else default_layer(G, task)
                    return mganprior_invert(
                        G,
                        chunk,
                        n_codes=args.codes,
                        layer=lay,
                        steps=args.task_steps,
                        lr=args.lr,
                        degradation=d,
                        generator=g,
                        progress=False,
                    ).images

                ours, cpu, wall = _batched(fn, observed, args.batch)
                bp, bs = _scores(base, x)
                op, os_ = _scores(ours, x)
                label = (
                    "mGANprior"
                    if gm == "mganprior"
                    else ("encoder → z" if sr_encoder is not None else "mGANprior (no encoder)")
                )
                results["tasks"].append(
                    {
                        "task": task,
                        "set": set_name,
                        "baseline": base_name,
                        "baseline_psnr": bp,
                        "baseline_ssim": bs,
                        "method": label,
                        "psnr": op,
                        "ssim": os_,
                        "cpu_s": cpu / len(x),
                        "wall_s": wall / len(x),
                    }
                )
                print(
                    f"| {task} | {set_name} | {base_name} | {bp:.2f} | {bs:.4f} | {label} | {op:.2f} "
                    f"| {os_:.4f} | {cpu / len(x):.2f} | {wall / len(x):.2f} |",
                    flush=True,
                )
                disp = (
                    deg.to_display(observed, R) if task != "inpainting" else observed + m * 1.0
                )  # holes white
                key = f"{task}|{set_name}" if gm != "mganprior" or task != "super-resolution" else None
                if key is None and f"{task}|{set_name}" in task_examples:
                    task_examples[f"{task}|{set_name}"]["mganprior"] = ours
                    continue
                task_examples[f"{task}|{set_name}"] = {
                    "input": x,
                    "degraded": disp.clamp(-1, 1),
                    "baseline": base,
                    "ours": ours,
                }
    total = time.perf_counter() - t_start
    print(f"\ntotal wall time {total:.0f} s (CPU time of this process {time.process_time():.0f} s)")
    results["wall_total_s"] = total
    if args.images_out:
        _write_examples(Path(args.images_out), examples, task_examples, methods, results)
    return 0


def _telea(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    import cv2

    out = []
    for img, mask in zip(to_uint8(x), m[:, 0].numpy()):
        rec = cv2.inpaint(
            np.ascontiguousarray(img), (mask > 0.5).astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA
        )
        out.append(torch.from_numpy(rec.transpose(2, 0, 1)).float() / 127.5 - 1)
    return torch.stack(out)


def _write_examples(out: Path, examples, task_examples, methods, results, n: int = 5) -> None:
    """Small PNG grids for the README: rows = images; columns = input, then each method / stage."""
    out.mkdir(parents=True, exist_ok=True)
    for set_name, d in examples.items():
        cols = ["input", *[m for m in methods if m in d]]
        tiles = torch.stack([d[c][i] for i in range(min(n, len(d["input"]))) for c in cols])
        key = "real" if set_name.startswith("real") else "indomain"
        save_image(out / f"reconstruction_{key}.png", make_grid(tiles, nrow=len(cols)))
    for name, d in task_examples.items():
        task, set_name = name.split("|")
        if not set_name.startswith("real") and task != "super-resolution":
            continue
        cols = ["input", "degraded", "baseline", "ours", *(["mganprior"] if "mganprior" in d else [])]
        tiles = torch.stack([d[c][i] for i in range(min(n, len(d["input"]))) for c in cols])
        key = "real" if set_name.startswith("real") else "indomain"
        save_image(out / f"{task}_{key}.png", make_grid(tiles, nrow=len(cols)))
    write_json(out / "results.json", json.loads(json.dumps(results)))
    # the example images themselves, so that grids of runs split over processes can be merged
    keep = {
        name: {k: v[:n].clone() for k, v in d.items()}
        for name, d in [*examples.items(), *task_examples.items()]
    }
    torch.save(keep, out / "examples.pt")


if __name__ == "__main__":
    sys.exit(main())
