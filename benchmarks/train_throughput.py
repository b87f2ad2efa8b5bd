"""StyleGAN2 training throughput on this CPU: images/s per configuration, fp32 vs bf16 autocast.

Times whole training steps (Gmain, Dmain and the lazy regularisers amortised over their intervals:
the timed window is a multiple of 16 steps) on random uint8 images, so data loading is not the
bottleneck being measured. Three trainers of one config alternate in rounds of ``--round`` steps,
so all see the same background load on a shared machine: fp32; "bf16 before", bf16 autocast as
it ran until session 3 (NCHW tensors, strided FIR filters in bf16); and "bf16", today's trainer
(channels-last tensors, strided FIR filters in float32). Prints one table. With ``--processes N``
a second table times the CLI itself as one process with N threads against N single-thread
``torchrun`` ranks (gloo), the same run split in two.

    .venv/bin/python benchmarks/train_throughput.py --threads 2 --steps 16 --configs 0,1 --processes 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganlens.generators import fir
from ganlens.training.config import TrainConfig
from ganlens.training.stylegan2 import StyleGAN2Trainer

PRECISIONS = ("fp32", "bf16 before", "bf16")

CONFIGS = {
    # name: generator / discriminator size at 64 px. The second is the shipped toonfaces-stylegan2-64 (run 3).
    "G 4096/128 D 2048/128 (run 1)": dict(
        channel_base=4096,
        channel_max=128,
        d_channel_base=2048,
        d_channel_max=128,
        w_dim=256,
        z_dim=256,
        map_layers=4,
    ),
    "G 4096/128 D 4096/128 (shipped)": dict(
        channel_base=4096, channel_max=128, w_dim=256, z_dim=256, map_layers=4
    ),
    "G 8192/256 D 8192/256": dict(channel_base=8192, channel_max=256, w_dim=256, z_dim=256, map_layers=4),
}


def count_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@contextlib.contextmanager
def before_speedups():
    """The strided FIR filters in bf16, as before session 3 (the NCHW layout is :func:`nchw`)."""
    fast = fir._depthwise

    def bf16_depthwise(x: torch.Tensor, k: torch.Tensor, stride: int) -> torch.Tensor:
        c = x.shape[1]
        return F.conv2d(x, k.to(x.dtype)[None, None].expand(c, 1, *k.shape), groups=c, stride=stride)

    fir._depthwise = bf16_depthwise
    try:
        yield
    finally:
        fir._depthwise = fast


def make_trainer(data: Path, out: str, batch: int, name: str, *, bf16: bool) -> StyleGAN2Trainer:
    cfg = TrainConfig(
        data=str(data), out=out, resolution=64, batch=batch, bf16=bf16, progress=False, **CONFIGS[name]
    )
    return StyleGAN2Trainer(cfg)


def nchw(trainer: StyleGAN2Trainer) -> StyleGAN2Trainer:
    trainer.memory_format = torch.contiguous_format
    for m in (trainer.G, trainer.D, trainer.G_ema):
        m.to(memory_format=torch.contiguous_format)
    return trainer


def sync(trainer: StyleGAN2Trainer) -> None:
    """Wait for the trainer's queued GPU work, so a timer reads the work done (no-op on CPU)."""
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)


def measure(
    variants: list[tuple[StyleGAN2Trainer, bool]], *, warmup: int, steps: int, round_steps: int
) -> list[float]:
    """Images/s of each (trainer, before_speedups) variant, timed in alternating rounds (same load for all)."""
    for t, before in variants:
        with before_speedups() if before else contextlib.nullcontext():
            for _ in range(warmup):
                t.train_step()
    spent = [0.0] * len(variants)
    done = 0
    while done < steps:
        k = min(round_steps, steps - done)
        for i, (t, before) in enumerate(variants):
            with before_speedups() if before else contextlib.nullcontext():
                sync(t)
                t0 = time.perf_counter()
                for _ in range(k):
                    t.train_step()
                sync(t)
                spent[i] += time.perf_counter() - t0
        done += k
    return [steps * t.cfg.batch / s for (t, _), s in zip(variants, spent)]


def cli_speed(
    data: Path, out: Path, name: str, *, processes: int, threads: int, kimg: float, batch: int
) -> float:
    """img/s of ``ganlens train stylegan2`` (bf16) in ``processes`` torchrun ranks × ``threads`` threads,
    averaged over the ticks after the first (which holds start-up and warm-up)."""
    c = CONFIGS[name]
    args = [
        "train", "stylegan2", "--data", str(data), "--res", "64", "--out", str(out), "--kimg", str(kimg),
        "--batch", str(batch), "--z-dim", str(c["z_dim"]), "--w-dim", str(c["w_dim"]),
        "--map-layers", str(c["map_layers"]), "--channel-base", str(c["channel_base"]),
        "--channel-max", str(c["channel_max"]), "--tick-kimg", str(kimg / 4), "--snapshot-kimg", "1000",
        "--noise", "none", "--bf16", "--threads", str(threads), "--no-progress", "--overwrite",
    ]  # fmt: skip
    if "d_channel_base" in c:
        args += ["--d-channel-base", str(c["d_channel_base"]), "--d-channel-max", str(c["d_channel_max"])]
    cli = [str(Path(sys.executable).parent / "ganlens")]
    if processes > 1:
        cli = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(processes),
            cli[0],
        ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    subprocess.run(cli + args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    ticks = [(r["nimg"] - p["nimg"], r["img_per_s"]) for p, r in zip(rows, rows[1:])]
    return sum(n for n, _ in ticks) / sum(n / speed for n, speed in ticks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=16, help="timed steps (use a multiple of 16)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--round", type=int, default=4, help="steps per alternation round (default 4)")
    ap.add_argument("--configs", default="0", help="comma-separated indices into the config list, or 'all'")
    ap.add_argument(
        "--processes",
        type=int,
        default=0,
        help="also time the CLI (shipped config, bf16) as 1 process × N threads vs N torchrun processes "
        "× 1 thread, N = this (0: skip)",
    )
    ap.add_argument("--cli-kimg", type=float, default=0.64, help="kimg per CLI run (default 0.64)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = list(CONFIGS)
    if args.configs != "all":
        names = [names[int(i)] for i in args.configs.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npy"
        np.save(data, np.random.RandomState(0).randint(0, 256, (256, 64, 64, 3), dtype=np.uint8))
        rows = []
        load0 = os.getloadavg()[0]
        for name in names:
            variants = [
                (make_trainer(data, tmp, args.batch, name, bf16=False), False),
                (nchw(make_trainer(data, tmp, args.batch, name, bf16=True)), True),
                (make_trainer(data, tmp, args.batch, name, bf16=True), False),
            ]
            speeds = measure(variants, warmup=args.warmup, steps=args.steps, round_steps=args.round)
            g_params, d_params = count_params(variants[0][0].G), count_params(variants[0][0].D)
            for prec, ips in zip(PRECISIONS, speeds):
                rows.append((name, prec, g_params, d_params, ips, ips / speeds[0]))
                print(f"  measured {name} {prec}: {ips:.2f} img/s", flush=True)
        load1 = os.getloadavg()[0]
    print(
        f"\nStyleGAN2 training throughput, 64 px, batch {args.batch}, {args.threads} thread(s), "
        f"{args.steps} timed steps (R1 every 16, path length every 4, mixing 0.9); "
        f"load average {load0:.1f} -> {load1:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"{'config':34s} {'precision':11s} {'G params':>9s} {'D params':>9s} "
        f"{'img/s':>7s} {'kimg/h':>7s} {'vs fp32':>7s}"
    )
    for name, prec, gp, dp, ips, rel in rows:
        print(
            f"{name:34s} {prec:11s} {gp / 1e6:8.2f}M {dp / 1e6:8.2f}M {ips:7.2f} {ips * 3.6:7.1f} {rel:6.2f}x"
        )

    if args.processes > 1:
        procs_table(args)


def procs_table(args: argparse.Namespace) -> None:
    """One process with N threads vs N single-thread torchrun processes, in A B A B order."""
    name = list(CONFIGS)[1]
    n = args.processes
    speeds: dict[str, list[float]] = {f"1 process × {n} threads": [], f"{n} processes × 1 thread": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npy"
        np.save(data, np.random.RandomState(0).randint(0, 256, (512, 64, 64, 3), dtype=np.uint8))
        for _ in range(2):
            for label, (procs, threads) in zip(speeds, ((1, n), (n, 1))):
                ips = cli_speed(
                    data,
                    Path(tmp) / "run",
                    name,
                    processes=procs,
                    threads=threads,
                    kimg=args.cli_kimg,
                    batch=args.batch,
                )
                speeds[label].append(ips)
                print(f"  measured {label}: {ips:.2f} img/s", flush=True)
    base = sum(speeds[next(iter(speeds))]) / 2
    print(
        f"\n`ganlens train stylegan2`, {name}, bf16, batch {args.batch}, {args.cli_kimg} kimg per run, two runs each"
    )
    print(f"{'layout':26s} {'img/s':>7s} {'kimg/h':>7s} {'speed-up':>8s}")
    for label, v in speeds.items():
        ips = sum(v) / len(v)
        print(f"{label:26s} {ips:7.2f} {ips * 3.6:7.1f} {ips / base:7.2f}x")


if __name__ == "__main__":
    main()
