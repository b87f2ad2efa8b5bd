"""``ganlens sefa``: discover directions and write the report; ``ganlens sefa-name``: label a direction."""

from __future__ import annotations

from ganlens.cli.common import add_class_arg, add_command, apply_class
from ganlens.errors import GanlensError


def register(sub) -> None:
    p = add_command(
        sub,
        "sefa",
        help="find interpretable latent directions in closed form (SeFa) and write an HTML report",
        description=(
            "Factorize the generator's latent-to-feature weights (SeFa), render N samples moved along the\n"
            "top K directions, and write the official sample_first/semantic_first pages plus grids, GIFs,\n"
            "heat maps, an eigenvalue plot and index.html. Prints the path of index.html."
        ),
        examples="""  ganlens sefa digiface-dcgan64 -L all -K 5 -N 5 --seed 0 --out results/sefa-digiface
  ganlens sefa ffhq.pkl -L 0-1 -K 10 --trunc 0.7 --trunc-cutoff 8 --out results/pose
  ganlens sefa ffhq.pkl -L coarse --mode rosinality --out results/ros --overwrite
  ganlens sefa digiface-dcgan64 --mode ganspace -K 5 --out results/ganspace
  ganlens sefa digiface-dcgan64 --directions results/sefa-digiface/directions.npz -K 3 --out results/named""",
    )
    p.add_argument("model", help="zoo name or checkpoint path")
    p.add_argument(
        "-L",
        "--layers",
        default=None,
        help="editable layers: all, 0-1,4, coarse/middle/fine (default: all; with --directions: theirs)",
    )
    p.add_argument("-K", "--num-directions", type=int, default=5, help="directions to show (default: 5)")
    p.add_argument("-N", "--num-samples", type=int, default=5, help="samples per direction (default: 5)")
    p.add_argument("--start", type=float, default=-3.0, help="first distance (default: -3)")
    p.add_argument("--end", type=float, default=3.0, help="last distance (default: 3)")
    p.add_argument("--steps", type=int, default=11, help="distances from start to end (default: 11)")
    p.add_argument(
        "--trunc", type=float, default=0.7, help="truncation psi, style-based models (default: 0.7)"
    )
    p.add_argument("--trunc-cutoff", type=int, default=8, help="truncate the first N w+ rows (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument(
        "--mode",
        default="sefa",
        choices=["sefa", "rosinality", "ganspace", "random"],
        help="sefa (official), rosinality (unnormalised SVD), or a baseline: ganspace, random",
    )
    p.add_argument(
        "--directions",
        default=None,
        help="render saved directions (renamed, GANSpace, sefa-boundary, ...) instead of searching",
    )
    p.add_argument(
        "--ignore-model-id",
        action="store_true",
        help="with --directions: accept a file saved under another model name (same network)",
    )
    p.add_argument("--viz-size", type=int, default=256, help="image size in the HTML pages (default: 256)")
    p.add_argument("--batch-size", type=int, default=32, help="images per synthesis batch (default: 32)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --out (directions already rendered are reused)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_class_arg(p)
    p.set_defaults(func=run)

    q = add_command(
        sub,
        "sefa-name",
        help="give a saved direction a name (e.g. 'pose'); shown in reports and used by ganlens edit",
        examples="""  ganlens sefa-name results/sefa-digiface/directions.npz --index 0 --name "head pose"
  ganlens sefa-name results/sefa-digiface/directions.npz --list""",
    )
    q.add_argument("directions", help="directions file (.npz or its .json)")
    q.add_argument("--index", type=int, help="direction to rename")
    q.add_argument("--name", help="new name")
    q.add_argument("--list", action="store_true", help="print the directions and their names")
    q.set_defaults(func=run_name)

    b = add_command(
        sub,
        "sefa-boundary",
        help="supervised baseline: an InterFaceGAN-style direction from labelled codes (linear SVM/logistic)",
        description=(
            "Fit a linear classifier on the codes of a codes file and save the unit normal of its boundary\n"
            "as a one-direction directions file (usable by ganlens edit and the report tools). Labels: a\n"
            ".npy file or a text file with one number per code (whitespace or comma separated). With\n"
            "--ratio, labels are continuous scores and, as in InterFaceGAN, the top/bottom ratio of the\n"
            "codes become the positive/negative examples."
        ),
        examples="""  ganlens sefa-boundary ffhq.pkl --codes ws.npz --labels smile.txt --name smile --out sm
  ganlens sefa-boundary ffhq.pkl --codes ws.npz --labels age.npy --ratio 0.02 -L 4-7 --out age""",
    )
    b.add_argument("model", help="zoo name or checkpoint path")
    b.add_argument("--codes", required=True, help="codes file (.npz) written by generate / invert / sefa")
    b.add_argument("--labels", required=True, help="0/1 labels (or scores with --ratio), .npy or text")
    b.add_argument("--ratio", type=float, default=None, help="treat labels as scores; keep top/bottom ratio")
    b.add_argument("-L", "--layers", default="all", help="w+ rows used and edited (default: all)")
    b.add_argument("--method", default="svm", choices=["svm", "logistic"], help="classifier (default: svm)")
    b.add_argument("--name", default="boundary", help="name of the direction (default: boundary)")
    b.add_argument("--out", required=True, help="output stem: writes OUT.npz and OUT.json")
    b.add_argument("--overwrite", action="store_true", help="replace an existing directions file")
    b.add_argument(
        "--ignore-model-id", action="store_true", help="allow codes saved under another model name"
    )
    add_class_arg(b)
    b.set_defaults(func=run_boundary)


def run(args) -> int:
    import torch

    from ganlens.sefa import Directions, sefa_report
    from ganlens.zoo import check_device, load_model, model_id

    device = check_device(args.device)
    torch.set_grad_enabled(False)
    directions = None
    if args.directions:
        directions = Directions.load(args.directions)
        if args.mode != "sefa":
            raise GanlensError(
                "--mode and --directions exclude each other: the file already holds the directions"
            )
    elif args.ignore_model_id:
        raise GanlensError("--ignore-model-id only applies with --directions")
    G = load_model(args.model, device=device)
    apply_class(G, args.class_index)
    mid = model_id(args.model)
    if directions is not None and args.ignore_model_id:
        directions.model_id = mid  # accept directions saved under another name for the same network
    result = sefa_report(
        G,
        args.out,
        model_id=mid,
        directions=directions,
        layers=args.layers if (args.layers is not None or directions is not None) else "all",
        num_directions=args.num_directions,
        num_samples=args.num_samples,
        start=args.start,
        end=args.end,
        steps=args.steps,
        trunc_psi=args.trunc,
        trunc_cutoff=args.trunc_cutoff,
        seed=args.seed,
        method=args.mode,
        overwrite=args.overwrite,
        resume=args.resume,
        viz_size=args.viz_size,
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
    print(result.files.index)
    return 0


def run_name(args) -> int:
    from ganlens.sefa import Directions

    dirs = Directions.load(args.directions)
    if args.list or args.index is None:
        if args.index is not None or args.name is not None:
            raise GanlensError("give both --index and --name to rename, or --list alone")
        for k, (name, ev) in enumerate(zip(dirs.names, dirs.eigenvalues)):
            print(f"{k:4d}  {ev:12.5g}  {name}")
        return 0
    if args.name is None:
        raise GanlensError("--name is required with --index")
    old = dirs.names[dirs.check_index(args.index)]
    dirs.rename(args.index, args.name)
    dirs.save_meta(args.directions)
    print(f"direction {args.index}: {old!r} -> {dirs.names[args.index]!r}")
    return 0


def _read_labels(path: str):
    from pathlib import Path

    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise GanlensError(f"labels file {path!r} does not exist")
    try:
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False).reshape(-1).astype(np.float64)
        return np.array(p.read_text(encoding="utf-8").replace(",", " ").split(), dtype=np.float64)
    except (OSError, ValueError) as e:
        raise GanlensError(f"labels file {path!r} is not a list of numbers: {e}") from None


def run_boundary(args) -> int:
    from pathlib import Path

    from ganlens.sefa import interfacegan_boundary, labels_from_scores, load_codes_for
    from ganlens.zoo import load_model, model_id

    mid = model_id(args.model)
    G = load_model(args.model)
    apply_class(G, args.class_index)
    _, codes = load_codes_for(G, args.codes, model_id=mid, ignore_model_id=args.ignore_model_id)
    labels = _read_labels(args.labels)
    if len(labels) != len(codes):
        raise GanlensError(
            f"{args.labels!r} has {len(labels)} labels but {args.codes!r} has {len(codes)} codes"
        )
    if args.ratio is not None:
        idx, labels = labels_from_scores(labels, ratio=args.ratio)
        codes = codes[idx]
    out = Path(args.out).with_suffix("") if Path(args.out).suffix in (".npz", ".json") else Path(args.out)
    npz = out.with_name(out.name + ".npz")
    if npz.exists() and not args.overwrite:
        raise GanlensError(f"{str(npz)!r} exists; pass --overwrite to replace it")
    d = interfacegan_boundary(G, codes, labels, args.layers, method=args.method, name=args.name, model_id=mid)
    d.save(npz)
    acc = d.metrics["val_accuracy"][0]
    print(f"{args.name}: {len(codes)} codes, held-out accuracy {acc:.3f}")
    print(npz)
    return 0
