"""``ganlens invert``: invert real photos into a generator (z, w, w+, projector, encoder, hybrid, mGANprior).

The options shared with the restoration commands (``colorize``, ``super-resolve``, ``inpaint``,
``denoise`` in :mod:`ganlens.cli.tasks`) are added by :func:`add_common_arguments`.
"""

from __future__ import annotations

import argparse
import re
import sys

from ganlens.cli.common import add_command
from ganlens.errors import GanlensError


def _float_list(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise GanlensError(
            f"distances {text!r} are not a comma-separated list of numbers like -3,0,3"
        ) from None
    if not vals:
        raise argparse.ArgumentTypeError(f"{text!r} is empty; give numbers like -3,0,3")
    return vals


def add_common_arguments(
    p: argparse.ArgumentParser, *, default_method: str | None = "mganprior", method_help: str | None = None
) -> None:
    # let values such as "-3,0,3" (--edit-distances) through as arguments, not option names
    p._negative_number_matcher = re.compile(r"^-\d[\d.,\-]*$|^-\.\d[\d.,\-]*$")
    p.add_argument("inputs", metavar="IMG|DIR", help="an image file or a folder of images")
    p.add_argument("--model", required=True, help="zoo name or path of the generator (see 'ganlens models')")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--method",
        default=default_method,
        choices=("z", "w", "w+", "projector", "encoder", "hybrid", "mganprior"),
        help=method_help or f"inversion method (default {default_method})",
    )
    p.add_argument(
        "--init",
        default=None,
        choices=("random", "mean", "zero", "encoder"),
        help="z/w/w+: starting point (default random; encoder = the shipped or --encoder encoder's guess)",
    )
    p.add_argument(
        "--encoder",
        default=None,
        metavar="DIR",
        help="encoder folder for --method encoder/hybrid (default: shipped)",
    )
    p.add_argument(
        "--codes", type=int, default=None, dest="n_codes", help="mGANprior: number of codes N (default 20)"
    )
    p.add_argument(
        "--preset",
        default=None,
        choices=("official",),
        help="mGANprior: the official script defaults for this task (N, iterations, SGD lr 1; "
        "inversion 30/3000, colorization 20/1500, super-resolution 30/2000, inpainting 30/3000); "
        "explicit --codes/--steps/--optimizer/--lr win",
    )
    p.add_argument(
        "--layer",
        type=int,
        default=None,
        help="mGANprior: composition layer (default: feature R/16 px wide, R/32 for colorize/inpaint)",
    )
    p.add_argument(
        "--steps", type=int, default=None, help="optimisation steps (default per method: 300; projector 1000)"
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default Adam 0.05 for z/w/w+, 0.1 for mGANprior; SGD 1.0)",
    )
    p.add_argument(
        "--optimizer",
        default=None,
        choices=("adam", "sgd"),
        help="optimiser (default adam; official mGANprior: sgd)",
    )
    p.add_argument(
        "--restarts", type=int, default=1, help="z/w/w+: random restarts per image, best kept (default 1)"
    )
    p.add_argument(
        "--crop",
        type=float,
        default=None,
        help="keep this central fraction of the square crop (default 0.75 with offset 0,0.04: face framing "
        "for DigiFace; 1 keeps the whole square)",
    )
    p.add_argument(
        "--offset", default=None, help="shift the crop by DX,DY fractions of the image (e.g. 0,0.05)"
    )
    p.add_argument(
        "--rgba", default="white", choices=("white", "black", "ignore"), help="composite RGBA inputs on this"
    )
    p.add_argument("--batch-size", type=int, default=8, help="images optimised together (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--overwrite", action="store_true", help="replace the files of a non-empty output folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run: skip finished images")
    p.add_argument("--mse", type=float, default=1.0, help="pixel MSE weight (default 1)")
    p.add_argument("--l1", type=float, default=0.0, help="pixel L1 weight (default 0)")
    p.add_argument("--ssim", type=float, default=0.0, help="1-SSIM weight (default 0)")
    p.add_argument(
        "--lpips", default=None, metavar="PATH", help="LPIPS-VGG16 weights file (enables the perceptual loss)"
    )
    p.add_argument(
        "--lpips-weight", type=float, default=1.0, help="perceptual loss weight when --lpips is given"
    )
    p.add_argument(
        "--edit-directions", default=None, metavar="FILE", help="SeFa directions file: also write edits"
    )
    p.add_argument("--edit-index", type=int, default=0, help="direction to edit along (default 0)")
    p.add_argument(
        "--edit-distances", type=_float_list, default=(-3.0, 0.0, 3.0), help="edit distances (default -3,0,3)"
    )
    p.add_argument(
        "--warn-psnr", type=float, default=18.0, help="warn below this reconstruction PSNR (default 18 dB)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args, *, task: str, G=None):
    """The RunConfig for a task command. ``G``: the loaded model, needed only by the
    super-resolution default (its latent space depends on the architecture)."""
    from ganlens.inversion.images import parse_offset
    from ganlens.inversion.runner import RunConfig

    n_codes, steps, optimizer, lr = args.n_codes, args.steps, args.optimizer, args.lr
    method, init = args.method, args.init
    if method is None:  # super-resolve: the tuned preset (see ganlens.inversion.superres)
        method, init, steps, lr = _sr_default(args, init, steps, lr, G)
    if getattr(args, "preset", None) == "official":
        from ganlens.inversion.mganprior import OFFICIAL_PRESETS

        preset = OFFICIAL_PRESETS.get(task, OFFICIAL_PRESETS["reconstruction"])
        n_codes = preset.n_codes if n_codes is None else n_codes
        steps = preset.steps if steps is None else steps
        if optimizer is None:
            optimizer, lr = "sgd", (1.0 if lr is None else lr)

    return RunConfig(
        inputs=args.inputs,
        model=args.model,
        out=args.out,
        method=method,
        init=init or "random",
        task=task,
        n_codes=20 if n_codes is None else n_codes,
        layer=args.layer,
        steps=steps,
        lr=lr,
        optimizer=optimizer or "adam",
        restarts=args.restarts,
        crop=args.crop,
        offset=parse_offset(args.offset) if args.offset is not None else None,
        rgba=args.rgba,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        overwrite=args.overwrite,
        resume=args.resume,
        mse=args.mse,
        l1=args.l1,
        ssim=args.ssim,
        lpips=args.lpips,
        lpips_weight=args.lpips_weight,
        factor=getattr(args, "factor", 4),
        down=getattr(args, "down", "bilinear"),
        mask=getattr(args, "mask", None),
        mask_type=getattr(args, "mask_type", None),
        paste=not getattr(args, "no_paste", False),
        encoder=args.encoder,
        sigma=getattr(args, "sigma", 25.0),
        edit_directions=args.edit_directions,
        edit_index=args.edit_index,
        edit_distances=tuple(args.edit_distances),
        warn_psnr=args.warn_psnr,
        progress=not args.quiet,
    )


def _sr_default(args, init, steps, lr, G):
    """Encoder-started optimisation (z, or w+ on style-based models) when an encoder is
    available, else mGANprior."""
    from ganlens.inversion.encoder import shipped_encoders
    from ganlens.inversion.superres import SR_PRESET, sr_space
    from ganlens.zoo import load_model, model_id

    no_encoder = args.encoder is None and model_id(args.model) not in shipped_encoders()
    if no_encoder or getattr(args, "preset", None) == "official":  # the official preset is mGANprior's
        return "mganprior", init, steps, lr
    return (
        sr_space(G if G is not None else load_model(args.model)),
        init or "encoder",
        SR_PRESET.steps if steps is None else steps,
        SR_PRESET.lr if lr is None else lr,
    )


def check_ints(args) -> None:
    for name in ("n_codes", "batch_size", "restarts"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise GanlensError(f"--{name.replace('_', '-')} {getattr(args, name)} must be ≥ 1")
    if args.steps is not None and args.steps < 0:
        raise GanlensError(f"--steps {args.steps} must be ≥ 0")


def run_task(args, *, task: str) -> int:
    from ganlens.inversion.runner import run_inversion

    check_ints(args)
    G = None
    if getattr(args, "method", "") is None:  # the super-resolution default depends on the model: load it once
        from ganlens.zoo import load_model

        G = load_model(args.model)
    manifest = run_inversion(config_from_args(args, task=task, G=G), G=G)
    if manifest:
        m = manifest["mean"]
        n = len(manifest["images"])
        psnr = f"{m['psnr']:.2f} dB" if m["psnr"] is not None else "n/a"
        print(
            f"{task}: {n} image(s) -> {args.out}  mean PSNR {psnr}, SSIM {m['ssim']}, {m['seconds']} s/image"
            + (f", {manifest['warnings']} warning(s)" if manifest["warnings"] else ""),
            file=sys.stderr,
        )
    return 0


def register(sub) -> None:
    p = add_command(
        sub,
        "invert",
        help="invert real photos into a generator (z, w, w+, projector, encoder, hybrid, mGANprior)",
        description=(
            "Invert photos: writes per input NAME.png (reconstruction), NAME_compare.png, NAME.npz "
            "(codes for 'ganlens edit'), NAME.json (PSNR, SSIM, seconds, warnings) and a manifest.json. "
            "Interrupted runs "
            "continue with --resume; under torchrun each process takes its own share of a folder."
        ),
        examples="""
  ganlens invert /work/shared/data/faces --model digiface-dcgan64 --method mganprior --codes 20 --out inv
  ganlens invert photo.jpg --model digiface-dcgan64 --method z --steps 300 --restarts 4 --crop 1 --out inv_z
  ganlens invert faces/ --model ffhq.pkl --method projector --lpips vgg16_lpips.pth --device cuda --out proj
  ganlens invert faces/ --model digiface-dcgan64 --out inv --resume          # continue a killed run
  torchrun --nproc_per_node 2 -m ganlens.cli.main invert faces/ --model digiface-dcgan64 --out inv
  ganlens invert photo.png --model digiface-dcgan64 --edit-directions sefa.npz --edit-index 0 \\
      --edit-distances -3,0,3 --out edit
""",
    )
    add_common_arguments(p)
    p.set_defaults(func=lambda args: run_task(args, task="reconstruction"))
