"""``ganlens train encoder``: train an In-Domain style encoder for a generator (thin CLI wrapper)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from ganlens.cli.common import add_command
from ganlens.errors import GanlensError

EXAMPLES = """
  # a few steps on the generator's own samples, checkpoints and loss.png in runs/enc
  ganlens train encoder --model digiface-dcgan64 --steps 2000 --out runs/enc
  # continue the same run up to 4000 steps
  ganlens train encoder --model digiface-dcgan64 --steps 4000 --out runs/enc --resume
  # also fit real photos in image space (pixel MSE), bf16 autocast on a recent CPU
  ganlens train encoder --model digiface-dcgan64 --steps 2000 --out runs/enc2 --data photos/ --bf16
"""


def register_train(kinds) -> None:
    p = add_command(
        kinds,
        "encoder",
        help="train an image-to-code encoder for a generator (In-Domain style)",
        description=(
            "Train an encoder E so that G(E(x)) reconstructs x: on the generator's own samples (code "
            "regression + image MSE) and, with --data, on real images (image MSE). Writes checkpoints, "
            "loss.png and the final encoder (config.json + model.safetensors) into --out/encoder."
        ),
        examples=EXAMPLES,
    )
    p.add_argument("--model", required=True, help="zoo name or path of the generator")
    p.add_argument("--steps", type=int, required=True, help="total training steps")
    p.add_argument("--out", required=True, help="output folder (checkpoints, loss.png, encoder/)")
    p.add_argument("--data", default=None, help="folder of real images to also train on (image-space losses)")
    p.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
    p.add_argument(
        "--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4, ×0.8 every steps/4)"
    )
    p.add_argument("--code-weight", type=float, default=1.0, help="weight of MSE(E(G(c)), c) (default 1)")
    p.add_argument("--image-weight", type=float, default=1.0, help="weight of MSE(G(E(x)), x) (default 1)")
    p.add_argument(
        "--lpips",
        default=None,
        metavar="PATH",
        help="LPIPS-VGG16 weights: adds a perceptual term on --data images",
    )
    p.add_argument(
        "--perceptual-weight", type=float, default=1.0, help="weight of the LPIPS term (default 1)"
    )
    p.add_argument("--base-channels", type=int, default=32, help="stem channels (default 32)")
    p.add_argument("--max-channels", type=int, default=512, help="channel cap (default 512)")
    p.add_argument("--no-augment", action="store_true", help="do not mirror half of each batch")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on CPUs with AVX512-BF16)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--checkpoint-every", type=int, default=200, help="steps between checkpoints (default 200)"
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="reuse a non-empty --out without resuming")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganlens.inversion.encoder import EncoderConfig, train_encoder
    from ganlens.utils.io import prepare_out_dir, write_json
    from ganlens.zoo import check_device, load_model, model_id

    if args.steps <= 0:
        raise GanlensError(f"--steps {args.steps} must be positive")
    if args.threads < 0:
        raise GanlensError(f"--threads {args.threads} must be 0 (default) or positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = check_device(args.device)
    out = prepare_out_dir(args.out, overwrite=args.overwrite, resume=args.resume)
    ckdir = out / "checkpoints"
    if args.overwrite and not args.resume:
        for name in ("checkpoint.safetensors", "checkpoint.json"):
            (ckdir / name).unlink(missing_ok=True)
    if args.lpips and not args.data:
        raise GanlensError("--lpips needs --data: the perceptual term is computed on real images")
    perceptual = None
    if args.lpips:
        from ganlens.inversion.losses import LPIPS

        perceptual = LPIPS.from_file(args.lpips, device=device).eval().requires_grad_(False)
    G = load_model(args.model, device=device)
    config = EncoderConfig.for_generator(G, base_channels=args.base_channels, max_channels=args.max_channels)
    result = train_encoder(
        G,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        data_dir=args.data,
        config=config,
        code_weight=args.code_weight,
        image_weight=args.image_weight,
        perceptual=perceptual,
        perceptual_weight=args.perceptual_weight,
        augment=not args.no_augment,
        bf16=args.bf16,
        device=device,
        seed=args.seed,
        checkpoint_dir=ckdir,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        meta={"generator": model_id(args.model)},
        progress=not args.quiet,
    )
    enc_dir = out / "encoder"
    result.encoder.meta["training"]["hardware"] = (
        f"{device.type}, {torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}"
    )
    result.encoder.save_pretrained(enc_dir, overwrite=True)
    last = {k: v[-1] for k, v in result.history.items() if v}
    write_json(
        out / "summary.json",
        {
            "steps": result.steps,
            "resumed_from": result.resumed_from,
            "seconds_this_run": round(result.seconds, 1),
            "last_losses": last,
        },
    )
    print(f"trained {result.steps} steps ({result.seconds:.0f} s this run); last losses {json.dumps(last)}")
    print(f"encoder: {Path(enc_dir)}  loss plot: {ckdir / 'loss.png'}")
    return 0
