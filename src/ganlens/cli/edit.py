"""``ganlens edit``: move saved codes along saved directions and write images + edited codes."""

from __future__ import annotations

import re

from ganlens.cli.common import add_class_arg, add_command, apply_class
from ganlens.errors import GanlensError


def register(sub) -> None:
    p = add_command(
        sub,
        "edit",
        help="apply saved directions to saved codes (sampled, generated or inverted) and render them",
        description=(
            "Move every code of a codes file (ganlens generate --ws-out, ganlens invert, or codes.npz of a\n"
            "ganlens sefa report) along one or more saved directions. Writes before/after images, a\n"
            "side-by-side grid (before_after.png, whose path is printed) and edited_codes.npz.\n"
            "Several directions at once: --index 0,2 --distance 2,-1 (one distance per index).\n"
            "Directions can also be picked by the name given with 'ganlens sefa-name'."
        ),
        examples="""  ganlens edit digiface-dcgan64 --codes results/sefa-digiface/codes.npz \\
      --directions results/sefa-digiface/directions.npz --index 0 --distance 2.5 --out results/edit0
  ganlens edit ffhq.pkl --codes inverted/codes.npz --directions pose/directions.npz \\
      --index pose --distance -2 --layers 0-3 --out results/pose-left
  ganlens edit ffhq.pkl --codes ws.npz --directions d.npz --index 0,3 --distance 1.5,-1 \\
      --out results/combo""",
    )
    p.add_argument("model", help="zoo name or checkpoint path")
    p.add_argument("--codes", required=True, help="codes file (.npz) written by generate / invert / sefa")
    p.add_argument("--directions", required=True, help="directions file written by ganlens sefa")
    p.add_argument("--index", required=True, help="direction index or name, or a comma list (0,2)")
    p.add_argument("--distance", required=True, help="distance, or a comma list with one per index")
    p.add_argument(
        "--layers",
        default=None,
        help="w+ rows to move (default: the directions' layers); all, 0-3, coarse, ...",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    p.add_argument(
        "--ignore-model-id",
        action="store_true",
        help="allow codes/directions saved under another model name (same network)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    add_class_arg(p)
    p.set_defaults(func=run)


def _parse_indices(text: str, dirs) -> list[int]:
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(dirs.check_index(int(part)))
        except ValueError:
            if part not in dirs.names:
                raise GanlensError(
                    f"direction {part!r} is neither an index (0 to {len(dirs) - 1}) nor a name; "
                    f"names: {', '.join(dirs.names[:10])}{' ...' if len(dirs) > 10 else ''}"
                ) from None
            out.append(dirs.names.index(part))
    if not out:
        raise GanlensError(f"--index {text!r} names no direction")
    return out


def _parse_distances(text: str) -> list[float]:
    try:
        vals = [float(p) for p in str(text).split(",") if p.strip()]
    except ValueError:
        raise GanlensError(f"--distance {text!r} is not a number or a comma list of numbers") from None
    if not vals:
        raise GanlensError(f"--distance {text!r} is empty")
    return vals


def run(args) -> int:
    import numpy as np
    import torch

    from ganlens.codes import CodesFile
    from ganlens.sefa import Directions, edit_codes, load_codes_for, synthesize
    from ganlens.utils.io import make_grid, prepare_out_dir, save_image
    from ganlens.zoo import check_device, load_model, model_id

    device = check_device(args.device)
    torch.set_grad_enabled(False)
    mid = model_id(args.model)
    G = load_model(args.model, device=device)
    apply_class(G, args.class_index)
    dirs = Directions.load(args.directions)
    dirs.check_model(G, None if args.ignore_model_id else mid)
    cf, codes = load_codes_for(
        G, args.codes, model_id=mid, ignore_model_id=args.ignore_model_id, device=device
    )
    index = _parse_indices(args.index, dirs)
    distance = _parse_distances(args.distance)
    kwargs = dict(index=index, distance=distance, layers=args.layers)
    edited = edit_codes(G, codes, dirs, **kwargs)  # validates everything before we write
    multi_edited = None
    if cf.multi_codes is not None:
        multi = torch.from_numpy(cf.multi_codes.astype(np.float32)).to(device)
        multi_edited = edit_codes(G, multi, dirs, **kwargs)
    out = prepare_out_dir(args.out, overwrite=args.overwrite)

    if multi_edited is not None:
        from ganlens.inversion.mganprior import compose

        alpha = torch.from_numpy(cf.multi_alpha.astype(np.float32)).to(device)
        before = compose(G, multi, alpha, cf.multi_layer).cpu()
        after = compose(G, multi_edited, alpha, cf.multi_layer).cpu()
    else:
        before = synthesize(G, G.normalize_code(codes) if not G.style_based else codes)
        after = synthesize(G, edited)
    for i, (name, b, a) in enumerate(zip(cf.names, before, after)):
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or f"code_{i:04d}"
        save_image(out / "images" / f"{safe}_before.png", b)
        save_image(out / "images" / f"{safe}_after.png", a)
    pairs = torch.stack([before, after], 1).flatten(0, 1)  # rows: (before, after) per code
    grid_path = out / "before_after.png"
    save_image(grid_path, make_grid(pairs, nrow=2, pad_value=1.0))
    CodesFile(
        codes=edited.cpu().numpy(),
        model=cf.model or mid,
        names=cf.names,
        multi_codes=None if multi_edited is None else multi_edited.cpu().numpy(),
        multi_alpha=cf.multi_alpha,
        multi_layer=cf.multi_layer,
    ).save(out / "edited_codes.npz")
    if len(index) == 1 and len(distance) > 1:  # same broadcasting as edit_offset
        index = index * len(distance)
    pairs = zip(index, distance * len(index) if len(distance) == 1 else distance)
    desc = ", ".join(f"{dirs.names[i]!r} (#{i}) by {d:g}" for i, d in pairs)
    print(f"edited {len(cf.names)} codes along {desc}")
    print(grid_path)
    return 0
