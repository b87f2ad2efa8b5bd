"""StyleGAN2 training throughput against minibatch size, on any device (the GPU question).

One training step of the shipped 64-px config makes about 28,000 operator calls (torch.profiler
on CPU, nested calls included: FIR filters, modulated convolutions, the ADA pipeline, Adam),
whatever the batch. A GPU is then bound by kernel launches at small batches, and images/s should
grow with the batch until it is busy; that is not measured yet. On this CPU a step has a fixed
cost too: batch 4 → 8 raised 3.1 → 4.4 img/s (1 thread, machine busy with training). The table answers which batch to train
with on a lent GPU before spending its minutes. Every batch is timed over whole steps (lazy
regularisers amortised: the window is a multiple of 16 steps) on random uint8 images, in
alternating rounds so all batches see the same background load.

    .venv/bin/python benchmarks/train_batch_scaling.py --device cuda --batches 64,128,256,512
    .venv/bin/python benchmarks/train_batch_scaling.py --device cpu --batches 16,32,64 --steps 16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganlens.training.stylegan2 import StyleGAN2Trainer, TrainConfig

CONFIGS = {
    "shipped": dict(channel_base=4096, channel_max=128, w_dim=256, z_dim=256, map_layers=4),
    "wide": dict(channel_base=8192, channel_max=256, w_dim=256, z_dim=256, map_layers=4),
}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--batches", default="16,32,64", help="comma-separated minibatch sizes")
    p.add_argument("--config", choices=sorted(CONFIGS), default="shipped")
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
            t = StyleGAN2Trainer(cfg)
            for _ in range(2):  # warm-up (cuDNN autotuning, allocator)
                t.train_step()
            trainers.append(t)
        spent = [0.0] * len(batches)
        done = 0
        while done < args.steps:
            k = min(args.round, args.steps - done)
            for i, t in enumerate(trainers):
                sync(args.device)
                t0 = time.perf_counter()
                for _ in range(k):
                    t.train_step()
                sync(args.device)
                spent[i] += time.perf_counter() - t0
            done += k
    device = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"cpu, {torch.get_num_threads()} threads"
    )
    print(
        f"\nStyleGAN2 64 px, config {args.config}, bf16, aug {args.aug}; {device}; {args.steps} steps per batch\n"
    )
    print("| batch | ms / step | images / s | × batch " + str(batches[0]) + " |")
    print("| ---: | ---: | ---: | ---: |")
    base = batches[0] * args.steps / spent[0]
    for b, s in zip(batches, spent):
        ips = b * args.steps / s
        print(f"| {b} | {1000 * s / args.steps:.0f} | {ips:.1f} | {ips / base:.2f} |")


if __name__ == "__main__":
    main()
