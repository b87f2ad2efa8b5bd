"""StyleGAN2 training throughput on this CPU: images/s per configuration, fp32 vs bf16 autocast.

Times whole training steps (Gmain, Dmain and the lazy regularisers amortised over their intervals:
the timed window is a multiple of 16 steps) on random uint8 images, so data loading is not the
bottleneck being measured. Prints one table.

    .venv/bin/python benchmarks/train_throughput.py --threads 1 --steps 16
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
    # name: generator / discriminator size at 64 px. The first is the shipped toonfaces-stylegan2-64.
    "G 4096/128 D 2048/128 (shipped)": dict(
        channel_base=4096,
        channel_max=128,
        d_channel_base=2048,
        d_channel_max=128,
        w_dim=256,
        z_dim=256,
        map_layers=4,
    ),
    "G 4096/128 D 4096/128": dict(channel_base=4096, channel_max=128, w_dim=256, z_dim=256, map_layers=4),
    "G 8192/256 D 8192/256": dict(channel_base=8192, channel_max=256, w_dim=256, z_dim=256, map_layers=4),
}


def count_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def measure(cfg: TrainConfig, *, warmup: int, steps: int) -> tuple[float, int, int]:
    trainer = StyleGAN2Trainer(cfg)
    for _ in range(warmup):
        trainer.train_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    dt = time.perf_counter() - t0
    return steps * cfg.batch / dt, count_params(trainer.G), count_params(trainer.D)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=16, help="timed steps (use a multiple of 16)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--configs", default="0", help="comma-separated indices into the config list, or 'all'")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = list(CONFIGS)
    if args.configs != "all":
        names = [names[int(i)] for i in args.configs.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npy"
        np.save(data, np.random.RandomState(0).randint(0, 256, (256, 64, 64, 3), dtype=np.uint8))
        rows = []
        for name in names:
            base = None
            for bf16 in (False, True):
                cfg = TrainConfig(
                    data=str(data),
                    out=tmp,
                    resolution=64,
                    batch=args.batch,
                    bf16=bf16,
                    progress=False,
                    **CONFIGS[name],
                )
                ips, g_params, d_params = measure(cfg, warmup=args.warmup, steps=args.steps)
                base = base or ips
                rows.append((name, "bf16" if bf16 else "fp32", g_params, d_params, ips, ips / base))
                print(f"  measured {name} {'bf16' if bf16 else 'fp32'}: {ips:.2f} img/s", flush=True)
    print(
        f"\nStyleGAN2 training throughput, 64 px, batch {args.batch}, {args.threads} thread(s), "
        f"{args.steps} timed steps (R1 every 16, path length every 4, mixing 0.9)"
    )
    print(
        f"{'config':34s} {'precision':9s} {'G params':>9s} {'D params':>9s} "
        f"{'img/s':>7s} {'kimg/h':>7s} {'vs fp32':>7s}"
    )
    for name, prec, gp, dp, ips, rel in rows:
        print(
            f"{name:34s} {prec:9s} {gp / 1e6:8.2f}M {dp / 1e6:8.2f}M {ips:7.2f} {ips * 3.6:7.1f} {rel:6.2f}x"
        )


if __name__ == "__main__":
    main()
