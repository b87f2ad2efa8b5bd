"""``ganlens ppl``: perceptual path length of a generator (the StyleGAN/StyleGAN2 metric).

A thin wrapper over :func:`ganlens.analysis.perceptual_path_length` with LPIPS-VGG16 as the
distance; the LPIPS weights file is the user's (``--lpips PATH``), as for ``ganlens invert``.
"""

from __future__ import annotations

from ganlens.cli.common import add_class_arg, add_command
from ganlens.errors import GanlensError


def register(sub) -> None:
    p = add_command(
        sub,
        "ppl",
        help="perceptual path length (PPL) of a generator, with your LPIPS-VGG16 weights",
        description=(
            "Perceptual path length (Karras et al.): the LPIPS distance between the images at t and "
            "t + epsilon along latent paths, over epsilon², averaged over pairs after dropping the "
            "lowest and highest 1 %. W: lines between mapped codes; Z: slerp. 'end' samples t = 0 "
            "(the StyleGAN2 paper's ppl_wend), 'full' t ~ U(0, 1). The official numbers use n = 100000 "
            "and, for FFHQ, --crop."
        ),
        examples="""
  ganlens ppl ffhq.pkl --lpips vgg16_lpips.pth --space w --sampling end --crop --device cuda   # ppl_wend
  ganlens ppl toonfaces-stylegan2-64 --lpips vgg16_lpips.pth --n 10000 --out ppl.json
  ganlens ppl digiface-dcgan64 --lpips vgg16_lpips.pth --space z --sampling full --n 2000
""",
    )
    p.add_argument("model", help="zoo name or path of a generator")
    p.add_argument(
        "--lpips", required=True, metavar="PATH", help="LPIPS-VGG16 weights file (.pt/.pth/.safetensors)"
    )
    p.add_argument("--space", choices=("w", "z"), default="w", help="latent space of the paths (default w)")
    p.add_argument(
        "--sampling", choices=("end", "full"), default="end", help="t = 0 (end) or t ~ U(0, 1) (full)"
    )
    p.add_argument("--n", type=int, default=100_000, help="latent pairs (default 100000, the official count)")
    p.add_argument("--epsilon", type=float, default=1e-4, help="path step (default 1e-4)")
    p.add_argument("--crop", action="store_true", help="the FFHQ face crop before LPIPS")
    p.add_argument("--batch-size", type=int, default=16, help="pairs per batch (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of latents, t and noise (default 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    add_class_arg(p)
    p.add_argument("--out", help="also write the result as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ganlens.analysis.ppl import perceptual_path_length
    from ganlens.inversion.losses import LPIPS
    from ganlens.utils.io import write_json
    from ganlens.zoo import check_device, load_model

    if args.out and Path(args.out).exists() and not args.overwrite:
        raise GanlensError(f"{args.out!r} exists; pass --overwrite to replace it")
    device = check_device(args.device)
    G = load_model(args.model, device=device)
    lpips = LPIPS.from_file(args.lpips, device=device, resize=None)
    r = perceptual_path_length(
        G,
        lpips,
        n=args.n,
        space=args.space,
        sampling=args.sampling,
        epsilon=args.epsilon,
        crop=args.crop,
        batch_size=args.batch_size,
        seed=args.seed,
        c=args.class_index,
        progress=not args.no_progress,
    )
    d = r.to_dict()
    print(
        f"PPL ({r.space}, {r.sampling}, ε {r.epsilon:g}{', crop' if r.crop else ''}, n {d['n']}): "
        f"{r.value:.2f}   (median {d['median']:.2f}; {r.seconds:.0f} s)"
    )
    if args.out:
        write_json(args.out, {"model": args.model, **d})
        print(f"wrote {args.out}")
    return 0
