"""``ganlens data toonfaces``: render the ToonFaces multi-modal dataset."""

from __future__ import annotations

from ganlens.cli.common import HELP_FORMATTER, add_command

EXAMPLES = """
  ganlens data toonfaces --n 50000 --size 64 --out data/toonfaces64 --workers 2
  ganlens data toonfaces --n 2000 --size 128 --out data/toon128.d --format zip --seed 1000
  ganlens data toonfaces --n 50000 --size 64 --out data/toonfaces64 --workers 2 --resume   # after Ctrl-C
"""


def register(sub) -> None:
    p = sub.add_parser(
        "data",
        help="render datasets (toonfaces)",
        description="Render datasets. Run 'ganlens data KIND --help' for options and examples.",
        formatter_class=HELP_FORMATTER,
    )
    kinds = p.add_subparsers(dest="data_kind", metavar="KIND")
    t = add_command(
        kinds,
        "toonfaces",
        help="render ToonFaces: cartoon faces with attributes, label maps, sketches and captions",
        examples=EXAMPLES,
    )
    t.add_argument("--n", type=int, required=True, help="number of images")
    t.add_argument("--size", type=int, default=64, help="image size in pixels (default 64)")
    t.add_argument("--out", required=True, help="output folder (zip format: OUT/toonfaces.zip)")
    t.add_argument("--format", dest="fmt", default="folder", help="folder (default) or zip")
    t.add_argument("--seed", type=int, default=0, help="base seed; image i uses seed+i (default 0)")
    t.add_argument("--workers", type=int, default=1, help="rendering processes (default 1)")
    t.add_argument("--captions", type=int, default=6, help="captions per image (default 6)")
    t.add_argument(
        "--preview",
        type=int,
        default=16,
        help="write preview.png/preview.html of the first N images into OUT (0 = none; default 16)",
    )
    t.add_argument("--overwrite", action="store_true", help="replace the files of a non-empty output folder")
    t.add_argument(
        "--resume", action="store_true", help="continue an interrupted render with the same settings"
    )
    t.set_defaults(func=run_toonfaces)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_toonfaces(args) -> int:
    from ganlens.data.toonfaces import render_dataset

    s = render_dataset(
        args.out,
        n=args.n,
        size=args.size,
        seed=args.seed,
        fmt=args.fmt,
        workers=args.workers,
        overwrite=args.overwrite,
        resume=args.resume,
        captions_per_image=args.captions,
    )
    if args.preview > 0:
        from ganlens.data.toonfaces.preview import write_preview

        page = write_preview(s.path, args.out, n=args.preview)
        print(f"preview: {page}")
    print(
        f"wrote {s.path} ({s.n} images: {s.rendered} rendered, {s.skipped} already there; "
        f"{s.images_per_s:.1f} images/s)"
    )
    return 0
