"""StyleGAN2 training throughput against minibatch size, on any device (the GPU question).

One training step of the shipped 64-px config makes about 28,000 operator calls (torch.profiler
on CPU, nested calls included: FIR filters, modulated convolutions, the ADA pipeline, Adam),
whatever the batch. A GPU is then bound by kernel launches at small batches, and images/s should
grow with the batch until it is busy; that is not measured yet. On this CPU a step has a fixed
cost too: batch 4 → 8 raised 10.8 → 12.7 img/s (2 threads, idle machine). The table
answers which batch to train with on a lent GPU before spending its minutes. Batches are timed
with ``train_throughput.measure``: whole steps (a multiple of 16, so the lazy regularisers are
amortised) on random uint8 images, in alternating rounds so all see the same background load.

    .venv/bin/python benchmarks/train_batch_scaling.py --device cuda --batches 64,128,256,512
    .venv/bin/python benchmarks/train_batch_scaling.py --device cpu --batches 16,32,64 --steps 16
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from ganlens.training.config import TrainConfig
from ganlens.training.stylegan2 import StyleGAN2Trainer
from train_throughput import CONFIGS, measure

SHIPPED = "G 4096/128 D 4096/128 (shipped)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--batches", default="16,32,64", help="comma-separated minibatch sizes")
    p.add_argument(
        "--config", choices=list(CONFIGS), default=SHIPPED, help=f"network sizes (default {SHIPPED})"
    )
    p.add_argument("--aug", choices=("none", "ada"), default="ada", help="ADA pipeline at p 0.3, or none")
    p.add_argument("--steps", type=int, default=16, help="timed steps per batch (a multiple of 16)")
    p.add_argument("--round", type=int, default=16, help="steps per alternation round")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npy"
        rng = np.random.default_rng(0)
        np.save(data, rng.integers(0, 256, (max(batches) * 2, 64, 64, 3), dtype=np.uint8))
        trainers = []
        for b in batches:
            out = Path(tmp) / f"run{b}"
            out.mkdir()
            cfg = TrainConfig(
                data=str(data), out=str(out), resolution=64, batch=b, bf16=True, noise="none",
                aug=args.aug, aug_p=0.3 if args.aug == "ada" else 0.0, device=args.device,
                progress=False, **CONFIGS[args.config],
            )  # fmt: skip
            trainers.append(StyleGAN2Trainer(cfg))
        speeds = measure([(t, False) for t in trainers], warmup=2, steps=args.steps, round_steps=args.round)
    device = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"cpu, {torch.get_num_threads()} threads"
    )
    print(f"\nStyleGAN2 64 px, {args.config}, bf16, aug {args.aug}; {device}; {args.steps} steps per batch\n")
    print("| batch | ms / step | images / s | × batch " + str(batches[0]) + " |")
    print("| ---: | ---: | ---: | ---: |")
    for b, ips in zip(batches, speeds):
        print(f"| {b} | {1000 * b / ips:.0f} | {ips:.1f} | {ips / speeds[0]:.2f} |")


if __name__ == "__main__":
    main()
