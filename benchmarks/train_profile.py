"""Where a StyleGAN2 training step spends its time: precision and layout variants, then torch.profiler.

Trains the shipped ``toonfaces-stylegan2-64`` (G and its D, as ``--init-g`` does) on random uint8
images, so data loading is not what is measured. First a table of images/s for bf16 autocast on
channels-last tensors (what the trainer does on the CPU), bf16 on NCHW tensors (what it does on a
GPU), float32 on NCHW tensors, and bf16 on NCHW with ``--fold-resample`` (the FIR filters folded
into the up/down convolutions), timed in alternating rounds (``train_throughput.measure``); then
the operators that took the most device time over ``--profile-steps`` steps of the first variant,
self time, so that nested calls are not counted twice (``--shapes``: one row per input shape).

Session 22, one H200, batch 256: 440 / 403 / 423 ms per step (582 / 635 / 605 img/s); 74 % of the
GPU time in cuDNN convolutions, 11 % in NCHW <-> NHWC transforms.

    .venv/bin/python benchmarks/train_profile.py --device cuda --batch 256
    .venv/bin/python benchmarks/train_profile.py --device cpu --batch 8 --steps 16 --profile-steps 4
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from ganlens.training.config import TrainConfig
from ganlens.training.stylegan2 import StyleGAN2Trainer
from train_throughput import measure

VARIANTS = ("bf16, channels-last", "bf16, NCHW", "fp32, NCHW", "bf16, NCHW, folded FIR")


def trainer(data: Path, out: Path, *, device: str, batch: int, variant: str) -> StyleGAN2Trainer:
    out.mkdir()
    cfg = TrainConfig(
        data=str(data), out=str(out), resolution=64, batch=batch, bf16=variant.startswith("bf16"),
        noise="none", aug="none", device=device, progress=False, init_generator="toonfaces-stylegan2-64",
        ema_rampup=0.0, r1_gamma=0.1, pl_weight=2.0, fold_resample="folded" in variant,
    )  # fmt: skip
    t = StyleGAN2Trainer(cfg)
    t.memory_format = torch.channels_last if "channels-last" in variant else torch.contiguous_format
    for m in (t.G, t.D, t.G_ema):  # the trainer's own choice depends on the device: set it here
        m.to(memory_format=t.memory_format)
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=16, help="timed steps per variant (a multiple of 16)")
    p.add_argument(
        "--profile-steps", type=int, default=16, help="profiled steps of the first variant (0: no profile)"
    )
    p.add_argument("--round", type=int, default=4, help="steps per alternation round (default 4)")
    p.add_argument("--top", type=int, default=30, help="operators in the profile table")
    p.add_argument("--variants", default="0,1,2,3", help="indices into: " + "; ".join(VARIANTS))
    p.add_argument("--shapes", action="store_true", help="profile rows per operator and input shape")
    p.add_argument("--json", help="also write {variant: images/s} here (scripts/gpu_toonfaces.sh reads it)")
    args = p.parse_args()
    chosen = [VARIANTS[int(i)] for i in args.variants.split(",")]
    cuda = args.device.startswith("cuda")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npy"
        rng = np.random.default_rng(0)
        np.save(data, rng.integers(0, 256, (args.batch * 2, 64, 64, 3), dtype=np.uint8))
        ts = [
            trainer(data, Path(tmp) / f"run{i}", device=args.device, batch=args.batch, variant=v)
            for i, v in enumerate(chosen)
        ]
        speeds = measure([(t, False) for t in ts], warmup=3, steps=args.steps, round_steps=args.round)
        where = torch.cuda.get_device_name() if cuda else f"cpu, {torch.get_num_threads()} threads"
        print(f"\nStyleGAN2 64 px, toonfaces-stylegan2-64 G and D, batch {args.batch}; {where}\n")
        print("| variant | ms / step | images / s |")
        print("| --- | ---: | ---: |")
        for v, ips in zip(chosen, speeds):
            print(f"| {v} | {1000 * args.batch / ips:.0f} | {ips:.1f} |")
        if args.json:
            Path(args.json).write_text(json.dumps(dict(zip(chosen, speeds)), indent=1) + "\n")
        if args.profile_steps <= 0:
            return
        t = ts[0]
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities, record_shapes=args.shapes) as prof:
            for _ in range(args.profile_steps):
                t.train_step()
            if cuda:
                torch.cuda.synchronize()
        key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
        print(f"\n{chosen[0]}: {args.profile_steps} steps, top operators by {key}\n")
        table = prof.key_averages(group_by_input_shape=args.shapes)
        print(table.table(sort_by=key, row_limit=args.top, max_name_column_width=60))


if __name__ == "__main__":
    main()
