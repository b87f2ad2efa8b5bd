"""``ganlens generate`` (images for a list of seeds, one PNG each plus a grid, optionally the codes) and
``ganlens style-mix`` (NVIDIA-style style-mixing grids).

The library side is :func:`generate_batches` (any :class:`~ganlens.generators.base.Generator`);
the command only validates arguments, loads the model and writes files.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from ganlens.cli.common import add_class_arg, add_command, apply_class, parse_int_list
from ganlens.codes import CodesFile
from ganlens.errors import GanlensError
from ganlens.generators.base import NOISE_MODES, Generator, check_noise_mode
from ganlens.utils.bf16 import warn_if_bf16_slow
from ganlens.utils.io import make_grid, prepare_out_dir, save_image, to_uint8

TRUNC_RANGE = (-1.0, 2.0)  # ψ = 0 gives the average image, ψ < 0 its "opposite" (StyleGAN paper figure)
MAX_SEED = 2**32 - 1  # numpy RandomState accepts 0 … 2³²−1
MAX_SEEDS = 100_000
BATCH_RANGE = (1, 1024)
GRID_MAX = 64  # the grid shows at most this many images (the first ones)


@dataclass
class GeneratedBatch:
    """One batch of :func:`generate_batches`.

    Attributes:
        seeds: the seeds of this batch.
        z: (B, z_dim) float32 CPU, ``G.z_from_seeds(seeds)``.
        codes: (B, *code_shape) float32 CPU, what ``G.synthesis`` consumed (w+ or z).
        images: (B, C, R, R) float32 CPU, nominal range [-1, 1].
    """

    seeds: list[int]
    z: Tensor
    codes: Tensor
    images: Tensor


def check_trunc(G: Generator, trunc_psi: float, trunc_cutoff: int | None) -> None:
    """Raise a one-line error for ψ outside :data:`TRUNC_RANGE` or a cutoff outside 0…num_ws."""
    lo, hi = TRUNC_RANGE
    if not (isinstance(trunc_psi, int | float) and math.isfinite(trunc_psi) and lo <= trunc_psi <= hi):
        raise GanlensError(
            f"truncation psi {trunc_psi!r} is out of range; allowed {lo} to {hi} (1 = no truncation)"
        )
    if trunc_cutoff is not None:
        top = G.num_ws if G.style_based else 0
        if not (isinstance(trunc_cutoff, int) and 0 <= trunc_cutoff <= top):
            extra = "" if G.style_based else f" ({G.arch} has no w+ rows)"
            raise GanlensError(
                f"truncation cutoff {trunc_cutoff!r} is out of range; allowed 0 to {top}{extra}"
            )


def generate_batches(
    G: Generator,
    seeds: list[int],
    *,
    trunc_psi: float = 1.0,
    trunc_cutoff: int | None = None,
    noise_mode: str = "const",
    batch_size: int = 8,
    bf16: bool = False,
    progress: bool = True,
) -> Iterator[GeneratedBatch]:
    """Generate images for ``seeds`` in batches (z drawn the NVIDIA way, ``G.z_from_seeds``).

    Args:
        G: any generator; it stays on its device (``G.device``).
        seeds: non-negative integer seeds.
        trunc_psi, trunc_cutoff: truncation (style-based models; ignored by projection models).
        noise_mode: random, const or none. ``random`` noise is drawn from a ``torch.Generator``
            seeded with the batch's first seed, so a run is reproducible for a given batch size.
        batch_size: images per forward pass.
        bf16: run under bfloat16 autocast (outputs are returned as float32).
        progress: show a tqdm bar.

    Raises:
        GanlensError: bad truncation, noise mode or batch size.
    """
    check_trunc(G, trunc_psi, trunc_cutoff)
    check_noise_mode(noise_mode)
    if not BATCH_RANGE[0] <= batch_size <= BATCH_RANGE[1]:
        raise GanlensError(
            f"batch size {batch_size!r} is out of range; allowed {BATCH_RANGE[0]} to {BATCH_RANGE[1]}"
        )
    device = G.device
    warn_if_bf16_slow(device, enabled=bf16)
    bar = tqdm(total=len(seeds), desc="generate", unit="img", disable=not progress)
    try:
        for start in range(0, len(seeds), batch_size):
            chunk = [int(s) for s in seeds[start : start + batch_size]]
            z = G.z_from_seeds(chunk)  # (B, z_dim)
            gen = None
            if noise_mode == "random":
                gen = torch.Generator(device=device).manual_seed(chunk[0])
            autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with torch.no_grad(), autocast:
                codes = G.mapping(z, trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff)
                images = G.synthesis(codes, noise_mode=noise_mode, generator=gen)
            yield GeneratedBatch(chunk, z.float().cpu(), codes.float().cpu(), images.float().cpu())
            bar.update(len(chunk))
    finally:
        bar.close()


# ---------------------------------------------------------------------- CLI
EXAMPLES = """
  ganlens generate --model digiface-dcgan64 --seeds 0-15 --out out/faces
  ganlens generate --model stylegan_ffhq1024.pth --seeds 0-7,42 --trunc 0.7 --trunc-cutoff 8 --out out/ffhq
  ganlens generate --model my_model/ --seeds 0-99 --batch-size 16 --ws-out ws.npz --out out/s --overwrite
  ganlens generate --model cifar10.pkl --seeds 0-31 --class 7 --out out/horses   # a conditional ADA model
"""


def register(sub) -> None:
    p = add_command(
        sub,
        "generate",
        help="generate images for a list of seeds (one PNG per seed and a grid)",
        description=(
            "Generate one image per seed (z drawn as in NVIDIA's generate.py) and write seedNNNN.png files "
            "plus grid.png. --ws-out saves the codes (w+ or z) for 'ganlens edit'."
        ),
        examples=EXAMPLES,
    )
    p.add_argument("--model", required=True, help="zoo name or path (ganlens folder, .pkl, .pt, .pth, .tar)")
    p.add_argument("--seeds", default="0-15", help="seeds like '0-15' or '1,5,9-12' (default 0-15)")
    add_class_arg(p)
    p.add_argument(
        "--trunc",
        type=float,
        default=1.0,
        help="truncation psi, -1 to 2 (default 1 = none; official v1 uses 0.7)",
    )
    p.add_argument(
        "--trunc-cutoff", type=int, default=None, help="truncate only w+ rows below this (default: all)"
    )
    p.add_argument(
        "--noise-mode", default="const", choices=NOISE_MODES, help="per-layer noise (default const)"
    )
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--bf16", action="store_true", help="run under bfloat16 autocast")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace files in a non-empty output folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep existing seedNNNN.png files and make only the missing ones",
    )
    p.add_argument("--ws-out", default=None, help="also save the codes as a .npz codes file")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)
    register_style_mix(sub)


def _image_name(seed: int) -> str:
    return f"seed{seed:04d}.png"


def _load_png(path: Path, channels: int, resolution: int) -> Tensor:
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB" if channels == 3 else "L"), dtype=np.float32)  # (H, W[, 3])
    except (OSError, ValueError) as e:
        raise GanlensError(
            f"existing image {str(path)!r} cannot be read ({e}); delete it or use --overwrite"
        ) from None
    if arr.shape[:2] != (resolution, resolution):
        raise GanlensError(
            f"existing image {str(path)!r} is {arr.shape[1]}×{arr.shape[0]} but this model makes "
            f"{resolution}×{resolution}; use another --out or --overwrite"
        )
    return torch.from_numpy(arr.reshape(arr.shape[0], arr.shape[1], -1)).permute(2, 0, 1) / 127.5 - 1.0


def run(args: argparse.Namespace) -> int:
    from ganlens.zoo import check_device, load_model, model_id

    seeds = parse_int_list(args.seeds, what="seeds", lo=0, hi=MAX_SEED)
    if len(seeds) > MAX_SEEDS:
        raise GanlensError(f"seeds {args.seeds!r} give {len(seeds)} images; at most {MAX_SEEDS} per run")
    seeds = list(dict.fromkeys(seeds))  # keep order, drop repeats
    if args.ws_out and Path(args.ws_out).suffix.lower() != ".npz":
        raise GanlensError(f"--ws-out {args.ws_out!r} must end in .npz")
    if args.ws_out and Path(args.ws_out).exists() and not (args.overwrite or args.resume):
        raise GanlensError(f"codes file {args.ws_out!r} exists; pass --overwrite to replace it")
    lo, hi = TRUNC_RANGE
    if not (math.isfinite(args.trunc) and lo <= args.trunc <= hi):
        raise GanlensError(
            f"--trunc {args.trunc!r} is out of range; allowed {lo} to {hi} (1 = no truncation)"
        )
    if not BATCH_RANGE[0] <= args.batch_size <= BATCH_RANGE[1]:
        raise GanlensError(
            f"--batch-size {args.batch_size} is out of range; allowed {BATCH_RANGE[0]} to {BATCH_RANGE[1]}"
        )
    device = check_device(args.device)
    out = prepare_out_dir(args.out, overwrite=args.overwrite, resume=args.resume)
    G = load_model(args.model, device=device)
    apply_class(G, args.class_index)
    check_trunc(G, args.trunc, args.trunc_cutoff)
    if not G.style_based and (args.trunc != 1.0 or args.trunc_cutoff):
        print(f"note: {G.arch} has no w space; truncation is ignored")

    todo = [s for s in seeds if not (args.resume and (out / _image_name(s)).is_file())]
    need_codes = bool(args.ws_out)
    run_seeds = seeds if need_codes else todo  # codes of every seed are needed for --ws-out
    todo_set = set(todo)
    grid_imgs: dict[int, Tensor] = {}
    grid_seeds = set(seeds[:GRID_MAX])
    zs: dict[int, Tensor] = {}
    codes: dict[int, Tensor] = {}
    for batch in generate_batches(
        G,
        run_seeds,
        trunc_psi=args.trunc,
        trunc_cutoff=args.trunc_cutoff,
        noise_mode=args.noise_mode,
        batch_size=args.batch_size,
        bf16=args.bf16,
        progress=not args.no_progress,
    ):
        for i, s in enumerate(batch.seeds):
            if need_codes:
                zs[s], codes[s] = batch.z[i], batch.codes[i]
            if s in todo_set:
                save_image(out / _image_name(s), batch.images[i])
            if s in grid_seeds:
                grid_imgs[s] = batch.images[i].clamp(-1, 1)
    for s in seeds[:GRID_MAX]:  # resumed seeds: read their PNGs back for the grid
        if s not in grid_imgs:
            grid_imgs[s] = _load_png(out / _image_name(s), G.img_channels, G.resolution)
    shown = [grid_imgs[s] for s in seeds[:GRID_MAX]]
    grid = make_grid(torch.stack(shown), nrow=max(1, math.ceil(math.sqrt(len(shown)))), pad_value=1.0)
    save_image(out / "grid.png", to_uint8(grid))
    if args.ws_out:
        CodesFile(
            codes=torch.stack([codes[s] for s in seeds]).numpy(),
            z=torch.stack([zs[s] for s in seeds]).numpy(),
            names=[str(s) for s in seeds],
            model=model_id(args.model),
        ).save(args.ws_out)
    skipped = len(seeds) - len(todo)
    print(
        f"wrote {len(todo)} images{f' (kept {skipped} existing)' if skipped else ''} and grid.png to {out}"
        + (f"; codes to {args.ws_out}" if args.ws_out else "")
    )
    return 0


# ---------------------------------------------------------------------- style mixing
@dataclass
class StyleMixResult:
    """Output of :func:`style_mix`.

    Attributes:
        row_images: (R, C, H, W) images of the row seeds (they give the rows not in ``styles``).
        col_images: (K, C, H, W) images of the column seeds (they give the ``styles`` rows).
        mixed: (R, K, C, H, W) row seed ``i`` with the ``styles`` rows of column seed ``j``.
    """

    row_images: Tensor
    col_images: Tensor
    mixed: Tensor


def style_mix(
    G: Generator,
    row_seeds: list[int],
    col_seeds: list[int],
    *,
    styles: list[int],
    trunc_psi: float = 1.0,
    trunc_cutoff: int | None = None,
    noise_mode: str = "const",
    batch_size: int = 8,
) -> StyleMixResult:
    """NVIDIA-style style mixing: copy w+ rows ``styles`` of each column seed into each row seed.

    Raises:
        GanlensError: the model has no w+, a style row is out of range, bad truncation/noise mode.
    """
    from ganlens.generators.stylegan import mix_styles

    if not G.style_based:
        raise GanlensError(
            f"style mixing needs a style-based model (stylegan, stylegan2); {G.arch} has no w+"
        )
    check_trunc(G, trunc_psi, trunc_cutoff)
    check_noise_mode(noise_mode)
    with torch.no_grad():
        ws_r = G.mapping(
            G.z_from_seeds(row_seeds), trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff
        )  # (R, L, D)
        ws_c = G.mapping(
            G.z_from_seeds(col_seeds), trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff
        )  # (K, L, D)
        ws_m = torch.cat(
            [mix_styles(ws_r, ws_c[j : j + 1], styles) for j in range(len(col_seeds))]
        )  # (K·R, L, D)
        allws = torch.cat([ws_r, ws_c, ws_m])
        imgs = torch.cat(
            [G.synthesis(c, noise_mode=noise_mode).float().cpu() for c in allws.split(batch_size)]
        )  # (R + K + K·R, C, H, W)
    r, k = len(row_seeds), len(col_seeds)
    mixed = imgs[r + k :].view(k, r, *imgs.shape[1:]).transpose(0, 1)
    return StyleMixResult(row_images=imgs[:r], col_images=imgs[r : r + k], mixed=mixed)


MIX_EXAMPLES = """
  ganlens style-mix --model stylegan_ffhq1024.pth --row-seeds 85,100,75 --col-seeds 55,821,1789 --out out/mix
  ganlens style-mix --model ffhq.pth --row-seeds 0-3 --col-seeds 10-14 --styles fine --trunc 0.7 --out out/m
"""


def register_style_mix(sub) -> None:
    p = add_command(
        sub,
        "style-mix",
        help="style-mixing grid: rows keep their coarse styles, columns donate the chosen w+ rows",
        description=(
            "Like NVIDIA's style_mixing.py: the top row shows the column seeds, the left column the row "
            "seeds, and cell (i, j) is row seed i with the --styles w+ rows taken from column seed j. "
            "Writes grid.png and one ROW-COL.png per cell."
        ),
        examples=MIX_EXAMPLES,
    )
    p.add_argument("--model", required=True, help="zoo name or path of a style-based model")
    p.add_argument("--row-seeds", required=True, help="seeds of the rows, e.g. '85,100,75'")
    add_class_arg(p)
    p.add_argument("--col-seeds", required=True, help="seeds of the columns, e.g. '55,821,1789'")
    p.add_argument(
        "--styles",
        default="0-6",
        help="w+ rows taken from the columns: list like '0-6' or coarse/middle/fine",
    )
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi, -1 to 2 (default 1 = none)")
    p.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only w+ rows below this")
    p.add_argument("--noise-mode", default="const", choices=NOISE_MODES)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace files in a non-empty output folder")
    p.set_defaults(func=run_style_mix)


def run_style_mix(args: argparse.Namespace) -> int:
    from ganlens.zoo import check_device, load_model

    rows = parse_int_list(args.row_seeds, what="row seeds", lo=0, hi=MAX_SEED)
    cols = parse_int_list(args.col_seeds, what="column seeds", lo=0, hi=MAX_SEED)
    if len(rows) * len(cols) > 1024:
        raise GanlensError(f"{len(rows)} row × {len(cols)} column seeds is too many cells; at most 1024")
    if not BATCH_RANGE[0] <= args.batch_size <= BATCH_RANGE[1]:
        raise GanlensError(f"--batch-size {args.batch_size} is out of range; allowed 1 to {BATCH_RANGE[1]}")
    device = check_device(args.device)
    out = prepare_out_dir(args.out, overwrite=args.overwrite)
    G = load_model(args.model, device=device)
    apply_class(G, args.class_index)
    if not G.style_based:
        raise GanlensError(
            f"style mixing needs a style-based model (stylegan, stylegan2); {args.model!r} is {G.arch}"
        )
    groups = G.layer_groups()
    if args.styles in groups:
        styles = list(groups[args.styles])
    else:
        styles = parse_int_list(args.styles, what="styles", lo=0, hi=G.num_ws - 1)
    res = style_mix(
        G, rows, cols, styles=styles, trunc_psi=args.trunc, trunc_cutoff=args.trunc_cutoff,
        noise_mode=args.noise_mode, batch_size=args.batch_size,
    )  # fmt: skip
    blank = torch.ones_like(res.row_images[0])
    cells = [blank, *res.col_images]
    for i in range(len(rows)):
        cells += [res.row_images[i], *res.mixed[i]]
        for j, c in enumerate(cols):
            save_image(out / f"{rows[i]}-{c}.png", res.mixed[i, j])
    grid = make_grid(torch.stack(cells).clamp(-1, 1), nrow=len(cols) + 1, padding=0)
    save_image(out / "grid.png", to_uint8(grid))
    print(f"wrote a {len(rows)}×{len(cols)} style-mixing grid (w+ rows {styles}) to {out / 'grid.png'}")
    return 0
