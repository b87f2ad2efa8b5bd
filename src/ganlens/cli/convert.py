"""``ganlens convert``: write any supported checkpoint in another format, then prove it is the same model.

The library side is :func:`convert_generator` (a loaded :class:`~ganlens.generators.base.Generator`
in, a :class:`ConvertResult` out). The file is first written under a temporary name next to the
destination, reloaded through the ordinary loaders (``ganlens.zoo.load_path``) and compared with the
source on a few seeds; only a model that reproduces the source images is moved into place. So a
failed or interrupted conversion never replaces an existing file.

Which (architecture, format) pairs exist is the table :data:`WRITERS`; everything else is refused
with a one-line error naming the formats that architecture allows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ganlens.cli.common import add_command
from ganlens.errors import GanlensError
from ganlens.generators.base import Generator

TARGETS = ("ganlens", "nvidia", "nvidia-tf", "rosinality", "genforce")
#: the file suffix each target's loader is chosen by (``ganlens.zoo.load_path``); ganlens is a folder
SUFFIXES = {"nvidia": ".pkl", "nvidia-tf": ".pkl", "rosinality": ".pt", "genforce": ".pth"}
DEFAULT_SEEDS = (0, 1, 2, 3)
DEFAULT_ATOL = 1e-4


def _write_native(G: Generator, path: Path) -> None:
    G.save_pretrained(str(path), overwrite=True)


def _write_nvidia(G: Generator, path: Path) -> None:
    from ganlens.loaders.export import save_nvidia_pickle

    save_nvidia_pickle(G, path)


def _write_nvidia_tf(G: Generator, path: Path) -> None:
    from ganlens.loaders.export import save_tf_pickle

    save_tf_pickle(G, path)


def _write_rosinality(G: Generator, path: Path) -> None:
    from ganlens.loaders.export import save_rosinality

    save_rosinality(G, path)


def _write_genforce(G: Generator, path: Path) -> None:
    from ganlens.loaders.export import save_genforce

    save_genforce(G, path)


def _write_genforce_legacy(G: Generator, path: Path) -> None:
    from ganlens.loaders import genforce_legacy
    from ganlens.utils.io import atomic_path

    state_fn = {
        "stylegan": genforce_legacy.to_genforce_stylegan_state,
        "pggan": genforce_legacy.to_genforce_pggan_state,
    }[G.arch]
    with atomic_path(path) as tmp:  # same wrapper key the genforce training code writes
        torch.save({"generator_smooth": state_fn(G)}, str(tmp))


#: (architecture, target) -> writer(G, path). A target missing for an architecture is unsupported.
WRITERS: dict[tuple[str, str], Callable[[Generator, Path], None]] = {
    **{(arch, "ganlens"): _write_native for arch in ("dcgan", "pggan", "stylegan", "stylegan2")},
    ("stylegan2", "nvidia"): _write_nvidia,
    ("stylegan2", "nvidia-tf"): _write_nvidia_tf,
    ("stylegan2", "rosinality"): _write_rosinality,
    ("stylegan2", "genforce"): _write_genforce,
    ("stylegan", "genforce"): _write_genforce_legacy,
    ("pggan", "genforce"): _write_genforce_legacy,
}


def targets_for(arch: str) -> tuple[str, ...]:
    """The formats a model of architecture ``arch`` can be written in."""
    return tuple(t for t in TARGETS if (arch, t) in WRITERS)


@dataclass
class ConvertResult:
    """What :func:`convert_generator` wrote and how well the reloaded model matched.

    Attributes:
        path: the written file (or folder for ``ganlens``).
        target: the format.
        size_bytes: size on disk (folder: both files).
        max_abs_diff: max |Δ| between source and reloaded images over ``seeds`` (NaN: not verified).
        image_scale: max |image| of the source images (the diff is judged relative to max(1, this)).
        seeds: the seeds compared.
        notes: warnings the exporter raised (e.g. a format without ``conv_clamp``).
    """

    path: Path
    target: str
    size_bytes: int
    max_abs_diff: float
    image_scale: float
    seeds: tuple[int, ...]
    notes: list[str] = field(default_factory=list)


@torch.no_grad()
def _images(G: Generator, seeds: tuple[int, ...]) -> Tensor:
    z = G.z_from_seeds(list(seeds))
    # ψ < 1 so w_avg takes part in the comparison (each format stores it differently)
    psi = 0.7 if G.style_based else 1.0
    # conditional models: seed i with class i mod c_dim
    kw = {"c": torch.arange(len(seeds)) % G.c_dim} if G.c_dim else {}
    return G.synthesis(G.mapping(z, trunc_psi=psi, **kw), noise_mode="const").float().cpu()


def image_difference(
    G_a: Generator, G_b: Generator, seeds: tuple[int, ...] = DEFAULT_SEEDS
) -> tuple[float, float]:
    """(max |Δ| between the two models' images for ``seeds``, max |image| of ``G_a``)."""
    a = _images(G_a, seeds)
    if type(G_a) is not type(G_b) or G_a.config != G_b.config:
        raise GanlensError(
            f"the reloaded model differs in architecture or config: {G_a.config!r} vs {G_b.config!r}"
        )
    b = _images(G_b, seeds)
    return float((a - b).abs().max()), float(a.abs().max())


def check_target(G: Generator, target: str) -> None:
    """Raise a one-line error unless ``G`` can be written as ``target``."""
    if target not in TARGETS:
        raise GanlensError(f"target format {target!r} is unknown; allowed: {', '.join(TARGETS)}")
    if (G.arch, target) not in WRITERS:
        raise GanlensError(
            f"a {G.arch} model cannot be written in the {target} format; "
            f"formats for {G.arch}: {', '.join(targets_for(G.arch))}"
        )


def check_out_path(out: str | os.PathLike[str], target: str, *, overwrite: bool) -> Path:
    """Validate the destination: the suffix the target's loader needs, no silent overwrite."""
    out = Path(out)
    if target == "ganlens":
        if out.suffix.lower() in set(SUFFIXES.values()) | {".tar", ".safetensors", ".json"}:
            raise GanlensError(
                f"output {str(out)!r} looks like a file name; the ganlens format is a folder "
                f"(config.json + model.safetensors), give a name without {out.suffix}"
            )
        if out.exists() and not out.is_dir():
            raise GanlensError(
                f"output {str(out)!r} exists and is not a folder; the ganlens format is a folder"
            )
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise GanlensError(
                f"output folder {str(out)!r} is not empty; pass --overwrite to replace its model"
            )
        return out
    suffix = SUFFIXES[target]
    if out.suffix.lower() != suffix:
        raise GanlensError(
            f"output {str(out)!r} must end in {suffix} for the {target} format "
            "(loaders pick the format by suffix)"
        )
    if out.is_dir():
        raise GanlensError(f"output {str(out)!r} is a folder; the {target} format is a single {suffix} file")
    if out.exists() and not overwrite:
        raise GanlensError(f"output file {str(out)!r} exists; pass --overwrite to replace it")
    return out


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _move_into_place(tmp: Path, out: Path) -> None:
    if tmp.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        for p in tmp.iterdir():  # file by file so other files in the folder are left alone
            os.replace(p, out / p.name)
    else:
        os.replace(tmp, out)


def convert_generator(
    G: Generator,
    target: str,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    verify: bool = True,
    seeds: tuple[int, ...] = DEFAULT_SEEDS,
    atol: float = DEFAULT_ATOL,
) -> ConvertResult:
    """Write ``G`` in format ``target`` at ``out``, reload it and compare images.

    Args:
        G: the source generator (any architecture the target supports).
        target: one of :data:`TARGETS`.
        out: a folder (``ganlens``) or a file with the target's suffix (:data:`SUFFIXES`).
        overwrite: replace an existing file / the model in a non-empty folder.
        verify: reload the written model and compare images on ``seeds`` (ψ 0.7 for style-based models).
        atol: allowed max |Δ|, times max(1, max |image|).

    Raises:
        GanlensError: unsupported architecture/target pair, bad or existing output path, or a
            reloaded model whose images differ by more than the tolerance (nothing is written then).
    """
    check_target(G, target)
    out = check_out_path(out, target, overwrite=overwrite)
    if not seeds:
        raise GanlensError("give at least one seed to verify the conversion with")
    G = G.eval().requires_grad_(False).to("cpu")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".convert", dir=out.parent))
    tmp = tmp_root / ("model" if target == "ganlens" else f"model{SUFFIXES[target]}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            WRITERS[(G.arch, target)](G, tmp)
        notes = [" ".join(str(w.message).split()) for w in caught]
        diff, scale = float("nan"), float("nan")
        if verify:
            from ganlens.zoo import load_path

            G2 = load_path(tmp).eval().requires_grad_(False)
            diff, scale = image_difference(G, G2, tuple(seeds))
            if not diff <= atol * max(1.0, scale):
                raise GanlensError(
                    f"the {target} file does not reproduce the model: max |Δ| {diff:.3g} on images of range "
                    f"±{scale:.3g} exceeds {atol:g}; nothing was written"
                    + (f" ({notes[0]})" if notes else "")
                )
        size = _size(tmp)
        _move_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return ConvertResult(
        path=out,
        target=target,
        size_bytes=size,
        max_abs_diff=diff,
        image_scale=scale,
        seeds=tuple(seeds),
        notes=notes,
    )


# ---------------------------------------------------------------------- CLI
def register(sub) -> None:
    p = add_command(
        sub,
        "convert",
        help="write a generator in another checkpoint format (verified by reloading it)",
        description=(
            "Load a generator (zoo name, ganlens folder, NVIDIA .pkl, rosinality .pt, genforce .pth, "
            "DigiFace .tar) and write it as a ganlens folder or an official format. The written file is "
            "reloaded and compared with the source on a few seeds before it replaces anything.\n\n"
            "formats per architecture:\n"
            + "\n".join(
                f"  {a:<10} {', '.join(targets_for(a))}" for a in ("stylegan2", "stylegan", "pggan", "dcgan")
            )
        ),
        examples="""
  ganlens convert stylegan2-ffhq-config-f.pkl --to ganlens --out ffhq-ganlens
  ganlens convert ffhq-ganlens --to rosinality --out ffhq.pt
  ganlens convert ffhq-ganlens --to genforce --out stylegan2_ffhq1024.pth --overwrite
  ganlens convert my-model.pt --to nvidia-tf --out my-model-tf.pkl --seeds 0-7
  ganlens convert digiface-dcgan64 --to ganlens --out digiface-folder
""",
    )
    p.add_argument("src", metavar="SRC", help="zoo name or path of the model to convert")
    p.add_argument("--to", required=True, metavar="FORMAT", help=f"target format: {', '.join(TARGETS)}")
    p.add_argument("--out", required=True, help="output folder (ganlens) or file (.pkl / .pt / .pth)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument(
        "--seeds", default="0-3", help="seeds whose images are compared after writing (default 0-3)"
    )
    p.add_argument("--atol", type=float, default=DEFAULT_ATOL, help="allowed max |Δ| (× max(1, image range))")
    p.add_argument("--no-verify", action="store_true", help="skip reloading and comparing (not recommended)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganlens.cli.common import parse_int_list
    from ganlens.zoo import load_model, model_id

    if args.to not in TARGETS:
        raise GanlensError(f"target format {args.to!r} is unknown; allowed: {', '.join(TARGETS)}")
    if not (args.atol > 0):
        raise GanlensError(f"--atol {args.atol!r} must be positive")
    seeds = tuple(parse_int_list(args.seeds, what="seeds", lo=0, hi=2**32 - 1))
    # check the destination before the (possibly slow) load
    check_out_path(args.out, args.to, overwrite=args.overwrite)
    G = load_model(args.src)
    res = convert_generator(
        G, args.to, args.out, overwrite=args.overwrite, verify=not args.no_verify, seeds=seeds, atol=args.atol
    )
    for note in res.notes:
        print(f"note: {note}")
    what = f"{G.arch} {G.resolution}px"
    print(
        f"wrote {model_id(args.src)} ({what}) as {res.target} to {res.path} "
        f"({res.size_bytes / 2**20:.1f} MiB)"
    )
    if args.no_verify:
        print("not verified (--no-verify)")
    else:
        print(
            f"verified: reloaded {res.path} and compared seeds {args.seeds}: "
            f"max |Δ| = {res.max_abs_diff:.3g} "
            f"(images within ±{res.image_scale:.3g})"
        )
    return 0
