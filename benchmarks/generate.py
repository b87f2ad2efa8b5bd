"""Images per second of every architecture on CPU: 64 and 256 px, batch 1 and 16, fp32 vs bf16 autocast.

Run:  .venv/bin/python benchmarks/generate.py              (about 5 minutes on 2 idle cores)
      .venv/bin/python benchmarks/generate.py --quick      (64 px only, a few seconds per row)
      .venv/bin/python benchmarks/generate.py --threads 1  (on a machine busy with other jobs: with
                                                            all cores the OpenMP threads mostly wait)

Channel configs are the official nf(r) tables capped at ``--channel-cap`` (default 128, a quarter
of the official 512, so that the 256-px rows finish on a laptop CPU):

* dcgan: PyTorch DCGAN tutorial (z 100, ngf 64, channels ngf·R/(2r), capped);
* pggan: ``min(16384 // r, cap)``, z 512, nearest + conv;
* stylegan (v1): ``min(16384 // r, cap)``, z = w = 512, 8 mapping layers, fused_scale auto;
* stylegan2 (config F): ``min(32768 // r, cap)``, z = w = 512, 8 mapping layers (skipped if absent).

Weights are random (speed does not depend on them). Each row: one warm-up call, then timed calls
until ``--min-time`` seconds have passed (at least one). bf16 = ``torch.autocast('cpu', bfloat16)``.
The last column is bf16 speed relative to fp32 on the same row, measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time

import torch

from ganlens.generators import build_generator


def configs(resolution: int, cap: int) -> dict[str, dict]:
    out = {
        "dcgan": {"arch": "dcgan", "resolution": resolution, "z_dim": 100, "ngf": 64, "channel_max": cap},
        "pggan": {"arch": "pggan", "resolution": resolution, "fmaps_base": 16384, "fmaps_max": cap},
        "stylegan": {"arch": "stylegan", "resolution": resolution, "fmaps_base": 16384, "fmaps_max": cap},
    }
    if importlib.util.find_spec("ganlens.generators.stylegan2") is not None:
        out["stylegan2"] = {
            "arch": "stylegan2",
            "resolution": resolution,
            "channel_base": 32768,
            "channel_max": cap,
        }
    return out


def time_generate(G, batch: int, *, bf16: bool, min_time: float) -> float:
    """Images per second for ``G(z)`` (mapping + synthesis, const noise)."""
    z = torch.randn(batch, G.z_dim)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
    with torch.no_grad(), ctx:
        G(z[:1])  # warm-up (allocator, kernels)
        n, t0 = 0, time.perf_counter()
        while True:
            G(z)
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
    return n * batch / elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--resolutions", default="64,256")
    p.add_argument("--batches", default="1,16")
    p.add_argument("--archs", default="dcgan,pggan,stylegan,stylegan2")
    p.add_argument("--channel-cap", type=int, default=128)
    p.add_argument("--min-time", type=float, default=1.0, help="seconds of timed calls per row (default 1)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--quick", action="store_true", help="64 px only, min-time 0.3")
    args = p.parse_args()
    if args.quick:
        args.resolutions, args.min_time = "64", 0.3
    torch.set_num_threads(args.threads)
    archs = args.archs.split(",")
    res_list = [int(r) for r in args.resolutions.split(",")]
    batches = [int(b) for b in args.batches.split(",")]

    print(
        f"# ganlens generate benchmark: torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, "
        f"{args.threads} threads, channel cap {args.channel_cap}, load average {os.getloadavg()[0]:.1f}"
    )
    header = ["arch", "res", "channels (4→R)", "params (M)", "batch", "fp32 img/s", "bf16 img/s", "bf16/fp32"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    t_start = time.perf_counter()
    for res in res_list:
        for arch, cfg in configs(res, args.channel_cap).items():
            if arch not in archs:
                continue
            torch.manual_seed(0)
            G = build_generator(cfg).eval().requires_grad_(False)
            c = G.config
            nf = c.channels if arch == "dcgan" else c.nf
            chans = f"{nf(4)}→{nf(res // 2) if arch == 'dcgan' else nf(res)}"
            params = sum(p.numel() for p in G.parameters()) / 1e6
            for b in batches:
                fp32 = time_generate(G, b, bf16=False, min_time=args.min_time)
                bf16 = time_generate(G, b, bf16=True, min_time=args.min_time)
                row = [
                    arch,
                    str(res),
                    chans,
                    f"{params:.1f}",
                    str(b),
                    f"{fp32:.2f}",
                    f"{bf16:.2f}",
                    f"{bf16 / fp32:.2f}×",
                ]
                print("| " + " | ".join(row) + " |", flush=True)
    print(f"\n(total {time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
