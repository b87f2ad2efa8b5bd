"""GAN-prior restoration commands: ``ganlens colorize``, ``super-resolve``, ``inpaint``, ``denoise``.

Each frames the input photos like ``ganlens invert``, applies the task's degradation to them (gray,
×factor downsampling, mask, noise), inverts the degraded picture with the degradation inside the
loss (mGANprior by default; super-resolution: z started from the encoder when one is shipped,
see :mod:`ganlens.inversion.superres`) and writes NAME.png (result), NAME_degraded.png,
NAME_compare.png (input | degraded | result), NAME.npz, NAME.json (PSNR/SSIM of the result
against the input).
"""

from __future__ import annotations

import argparse

from ganlens.cli.common import add_command
from ganlens.cli.invert import add_common_arguments, run_task


def _factor(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; use 2, 4, 8 or 16") from None
    if v not in (2, 4, 8, 16):
        raise argparse.ArgumentTypeError(f"{v} is not allowed; use 2, 4, 8 or 16")
    return v


def register(sub) -> None:
    p = add_command(
        sub,
        "colorize",
        help="colorize photos with a GAN prior (the result keeps the input's luminance)",
        examples="""
  ganlens colorize /work/shared/data/faces --model digiface-dcgan64 --out color
  ganlens colorize old_photo.jpg --model digiface-dcgan64 --codes 20 --layer 2 --steps 400 --out color
""",
    )
    add_common_arguments(p)
    p.set_defaults(func=lambda args: run_task(args, task="colorization"))

    p = add_command(
        sub,
        "super-resolve",
        help="super-resolve photos ×2/×4/×8/×16 with a GAN prior",
        description="Downsample each framed photo by --factor (the loss compares downsampled images).",
        examples="""
  ganlens super-resolve /work/shared/data/faces --model digiface-dcgan64 --factor 4 --out sr
  ganlens super-resolve face.png --model digiface-dcgan64 --factor 8 --down bicubic --out sr8
  ganlens super-resolve faces/ --model digiface-dcgan64 --method mganprior --out sr_mgp
""",
    )
    add_common_arguments(
        p,
        default_method=None,
        method_help="inversion method (default: z started from the encoder's guess for the bicubic-"
        "upsampled input, 300 Adam steps, lr 0.03, when an encoder is shipped or given with --encoder; "
        "mganprior otherwise)",
    )
    p.add_argument("--factor", type=_factor, default=4, help="downsampling factor 2, 4, 8 or 16 (default 4)")
    p.add_argument(
        "--down",
        default="bilinear",
        choices=("bilinear", "bicubic"),
        help="downsampling kernel (default bilinear, as mGANprior)",
    )
    p.set_defaults(func=lambda args: run_task(args, task="super-resolution"))

    p = add_command(
        sub,
        "inpaint",
        help="fill missing regions of photos with a GAN prior (mask: white/1 = missing)",
        description=(
            "The mask file must have the size of the input photo (it is framed with the same "
            "--crop/--offset) "
            "or the model resolution; or use a generated --mask-type."
        ),
        examples="""
  ganlens inpaint faces/ --model digiface-dcgan64 --mask /work/shared/data/masks/mask-2.png --out inp
  ganlens inpaint face.png --model digiface-dcgan64 --mask-type center --out inp_center
  ganlens inpaint face.png --model digiface-dcgan64 --mask-type strokes --seed 3 --out inp_strokes
""",
    )
    add_common_arguments(p)
    p.add_argument("--mask", default=None, metavar="FILE", help="mask image, white (1) = missing")
    p.add_argument(
        "--mask-type", default=None, choices=("center", "strokes", "pixels"), help="generated mask instead"
    )
    p.add_argument(
        "--no-paste",
        action="store_true",
        help="save the raw generator output (official) instead of pasting it into the holes only",
    )
    p.set_defaults(func=lambda args: run_task(args, task="inpainting"))

    p = add_command(
        sub,
        "denoise",
        help="denoise photos with a GAN prior (Gaussian noise of --sigma is added to the input)",
        examples="""
  ganlens denoise /work/shared/data/faces --model digiface-dcgan64 --sigma 25 --out dn
""",
    )
    add_common_arguments(p)
    p.add_argument("--sigma", type=float, default=25.0, help="noise std in 0-255 units (default 25)")
    p.set_defaults(func=lambda args: run_task(args, task="denoising"))
