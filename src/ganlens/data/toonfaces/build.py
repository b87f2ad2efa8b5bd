"""Render a whole ToonFaces dataset to a folder or a zip: resumable, atomic, multi-process."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from ganlens.data.toonfaces.captions import make_captions
from ganlens.data.toonfaces.labels import LABEL_CLASSES, LABEL_PALETTE, label_to_pil
from ganlens.data.toonfaces.render import render_toonface
from ganlens.data.toonfaces.schema import TOONFACES_SCHEMA, sample_attributes
from ganlens.data.toonfaces.storage import (
    ATTRIBUTES_FILE,
    CAPTIONS_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    MODALITY_DIRS,
    SCHEMA_FILE,
    ZIP_NAME,
    file_name,
    name_width,
    pack_zip,
    png_bytes,
)
from ganlens.errors import GanlensError
from ganlens.utils.io import write_bytes, write_json, write_text

FORMATS = ("folder", "zip")
MARKER = ".toonfaces-render.json"
STAGING = ".staging"
SUPERSAMPLE = 4


@dataclass
class RenderSummary:
    """What :func:`render_dataset` did.

    Attributes:
        path: the dataset folder or zip file.
        n: images in the dataset.
        rendered: images rendered in this run; ``skipped``: found on disk (resume).
        seconds: wall time of the rendering loop; ``images_per_s``: rendered / seconds.
    """

    path: Path
    n: int
    rendered: int
    skipped: int
    seconds: float
    images_per_s: float


def image_seed(base_seed: int, index: int) -> int:
    """Seed of image ``index``: ``base_seed + index`` (so any image can be re-rendered alone)."""
    return int(base_seed) + int(index)


def toonface_record(
    index: int, *, base_seed: int, n: int, captions_per_image: int = 6
) -> tuple[dict, list[str]]:
    """The attribute record and captions of image ``index`` (pure function of the seed)."""
    seed = image_seed(base_seed, index)
    attrs = sample_attributes(np.random.default_rng(seed))
    rec = {"index": index, "seed": seed, "name": file_name(index, n), **attrs}
    return rec, make_captions(attrs, seed=seed, n=captions_per_image)


def _work(job: tuple[str, list[int], int, int, int, int]) -> list[tuple[dict, list[str], bool]]:
    root, indices, n, size, base_seed, ncap = job
    out = []
    for i in indices:
        rec, caps = toonface_record(i, base_seed=base_seed, n=n, captions_per_image=ncap)
        paths = {m: Path(root) / d / rec["name"] for m, d in MODALITY_DIRS.items()}
        done = all(p.is_file() for p in paths.values())
        if not done:
            attrs = {k: rec[k] for k in TOONFACES_SCHEMA.names}
            r = render_toonface(attrs, size=size, seed=rec["seed"], supersample=SUPERSAMPLE)
            write_bytes(paths["label"], png_bytes(label_to_pil(r.label)))
            write_bytes(paths["sketch"], png_bytes(Image.fromarray(r.sketch)))
            write_bytes(paths["image"], png_bytes(Image.fromarray(r.image)))  # last: marks the image done
        out.append((rec, caps, done))
    return out


def _settings(n: int, size: int, seed: int, fmt: str, ncap: int) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "n": n,
        "size": size,
        "seed": seed,
        "storage": fmt,
        "captions_per_image": ncap,
        "supersample": SUPERSAMPLE,
    }


def render_dataset(
    out: str | os.PathLike[str],
    *,
    n: int,
    size: int = 64,
    seed: int = 0,
    fmt: str = "folder",
    workers: int = 1,
    overwrite: bool = False,
    resume: bool = False,
    captions_per_image: int = 6,
    chunk: int = 64,
    progress: bool = True,
) -> RenderSummary:
    """Render ``n`` ToonFaces (image ``i`` from seed ``seed + i``) into ``out``.

    Args:
        out: output folder. ``fmt="zip"`` writes ``out/toonfaces.zip`` (staged in ``out/.staging``).
        n, size, seed: count, pixel size (16..1024), base seed.
        fmt: ``"folder"`` or ``"zip"``.
        workers: rendering processes.
        overwrite: allow a non-empty ``out`` (existing files are replaced).
        resume: continue an interrupted render with the same settings (finished images are kept).
        captions_per_image: captions per image (at least 5 is the dataset's contract).

    Raises:
        GanlensError: bad arguments, or ``out`` holds other files and neither flag is given.
    """
    if not (isinstance(n, int) and n >= 1):
        raise GanlensError(f"--n {n!r} must be a positive integer")
    if not (isinstance(size, int) and 16 <= size <= 1024):
        raise GanlensError(f"--size {size!r} is not allowed; use an integer from 16 to 1024")
    if fmt not in FORMATS:
        raise GanlensError(f"--format {fmt!r} is not allowed; use one of {', '.join(FORMATS)}")
    if not (isinstance(workers, int) and 1 <= workers <= 64):
        raise GanlensError(f"--workers {workers!r} must be an integer from 1 to 64")
    if not 1 <= captions_per_image <= 50:
        raise GanlensError(f"captions_per_image {captions_per_image!r} must be from 1 to 50")
    out = Path(out)
    settings = _settings(n, size, seed, fmt, captions_per_image)
    if out.exists() and not out.is_dir():
        raise GanlensError(f"output path {str(out)!r} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        marker = out / MARKER
        if not resume:
            hint = " or --resume to continue it" if marker.is_file() else ""
            raise GanlensError(
                f"output folder {str(out)!r} is not empty; pass --overwrite to replace its files{hint}"
            )
        if not marker.is_file():
            raise GanlensError(f"cannot --resume in {str(out)!r}: it holds no ToonFaces render")
        old = json.loads(marker.read_text(encoding="utf-8"))
        # n may change on resume (grow or shrink a render) as long as file names keep their width
        same = {k for k in settings if k != "n" and old.get(k) == settings[k]}
        if len(same) != len(settings) - 1 or name_width(int(old.get("n", 0))) != name_width(n):
            diff = {k: old.get(k) for k in settings if old.get(k) != settings[k]}
            raise GanlensError(f"cannot --resume in {str(out)!r}: it was rendered with other settings {diff}")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / MARKER, {**settings, "complete": False})
    root = out / STAGING if fmt == "zip" else out
    if overwrite:
        for d in MODALITY_DIRS.values():
            if (root / d).is_dir():
                shutil.rmtree(root / d)
    for d in MODALITY_DIRS.values():
        (root / d).mkdir(parents=True, exist_ok=True)

    jobs = [
        (str(root), list(range(s, min(s + chunk, n))), n, size, seed, captions_per_image)
        for s in range(0, n, chunk)
    ]
    records: list[dict] = []
    captions: list[dict] = []
    rendered = skipped = 0
    t0 = time.perf_counter()
    bar = tqdm(total=n, desc="toonfaces", unit="img", disable=not progress, smoothing=0.05)
    pool = mp.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(_work, jobs) if pool else map(_work, jobs)
        for res in results:
            for rec, caps, done in res:
                records.append(rec)
                captions.append({"index": rec["index"], "captions": caps})
                skipped += done
                rendered += not done
            bar.update(len(res))
    finally:
        bar.close()
        if pool:
            pool.terminate()
            pool.join()
    seconds = time.perf_counter() - t0

    meta = {
        **settings,
        "label_classes": list(LABEL_CLASSES),
        "label_palette": [list(c) for c in LABEL_PALETTE],
        "modalities": {"image": "images/", "label": "labels/", "sketch": "sketches/"},
        "schema": TOONFACES_SCHEMA.to_dict(),
    }
    write_json(root / SCHEMA_FILE, meta)
    write_text(root / ATTRIBUTES_FILE, "".join(json.dumps(r) + "\n" for r in records))
    write_text(root / CAPTIONS_FILE, "".join(json.dumps(c) + "\n" for c in captions))
    path = out
    if fmt == "zip":
        names = [SCHEMA_FILE, ATTRIBUTES_FILE, CAPTIONS_FILE]
        names += [f"{d}/{r['name']}" for d in MODALITY_DIRS.values() for r in records]
        path = out / ZIP_NAME
        pack_zip(root, path, names)
        shutil.rmtree(root)
    write_json(out / MARKER, {**settings, "complete": True})
    return RenderSummary(
        path=path,
        n=n,
        rendered=rendered,
        skipped=skipped,
        seconds=seconds,
        images_per_s=rendered / seconds if seconds > 0 else 0.0,
    )
