"""``ganlens train classifier``: train the ToonFaces attribute classifier."""

from __future__ import annotations

from ganlens.cli.common import add_command

EXAMPLES = """
  ganlens data toonfaces --n 50000 --size 64 --out data/toon64 --workers 2
  ganlens train classifier --data data/toon64 --steps 8000 --out runs/classifier
  ganlens train classifier --data data/toon64 --steps 12000 --out runs/classifier --resume  # extend
  ganlens train classifier --data data/toon64 --val data/toon64_val --steps 200 --out runs/quick --overwrite
  ganlens train classifier --data data/toon64 --stem-stride 1 --channels 32,64,128,192,192 --bf16 \
      --steps 8000 --batch-size 32 --out runs/classifier-s1
"""


def register_train(sub) -> None:
    p = add_command(
        sub,
        "classifier",
        help="train the attribute classifier (one head per ToonFaces factor) on a ToonFaces render",
        examples=EXAMPLES,
    )
    p.add_argument("--data", required=True, help="ToonFaces dataset folder or zip")
    p.add_argument(
        "--out", required=True, help="output folder (checkpoint.pt, config.json, model.safetensors, ...)"
    )
    p.add_argument("--steps", type=int, default=8000, help="total optimisation steps (default 8000)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate, cosine decay (default 2e-3)")
    p.add_argument("--val", default=None, help="held-out dataset (default: the last 2%% of --data)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument(
        "--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)"
    )
    p.add_argument(
        "--stem-stride",
        type=int,
        choices=(1, 2),
        default=2,
        help="stride of the first conv; 1 keeps full-resolution detail (thin lines) at ~3x the cost (default 2)",
    )
    p.add_argument(
        "--channels",
        default="32,64,128,192",
        help="comma-separated widths of the stem and each stride-2 stage (default 32,64,128,192)",
    )
    p.add_argument(
        "--bf16", action="store_true", help="bfloat16 autocast for forward/backward (faster on CPU)"
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="start afresh in a non-empty output folder")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ganlens.classifier import scores_table, train_classifier
    from ganlens.errors import GanlensError

    if args.threads is not None:
        if args.threads < 1:
            raise GanlensError(f"--threads {args.threads!r} must be >= 1")
        torch.set_num_threads(args.threads)
    try:
        channels = tuple(int(c) for c in args.channels.split(","))
    except ValueError:
        raise GanlensError(
            f"--channels {args.channels!r} must be comma-separated integers, e.g. 32,64,128,192"
        ) from None
    s = train_classifier(
        args.data,
        arch={"channels": channels, "stem_stride": args.stem_stride},
        bf16=args.bf16,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        val=args.val,
        limit=args.limit,
        seed=args.seed,
        device=args.device,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    print(f"trained {s.steps} steps (resumed from {s.resumed_from}) in {s.seconds:.0f} s; wrote {s.out}")
    if s.scores:
        print(scores_table(s.scores))
    return 0
