"""One call that does what ``ganlens sefa`` does: find directions, render, measure, write the report."""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlens.codes import CodesFile
from ganlens.errors import GanlensError
from ganlens.sefa.analysis import Sweep, check_distances, render_sweep
from ganlens.sefa.baselines import ganspace, random_directions
from ganlens.sefa.directions import Directions, latent_dim
from ganlens.sefa.edit import sample_codes
from ganlens.sefa.factorize import LayerSpec, factorize, parse_layers
from ganlens.sefa.report import ReportFiles, report_prefix, write_report
from ganlens.utils.io import prepare_out_dir

METHODS = ("sefa", "rosinality", "ganspace", "random")


@dataclass
class SefaResult:
    directions: Directions
    sweep: Sweep
    files: ReportFiles
    directions_path: Path
    codes_path: Path
    timings: dict[str, float] = field(default_factory=dict)


def find_directions(
    G,
    layers: LayerSpec = "all",
    *,
    method: str = "sefa",
    num: int | None = None,
    model_id: str = "",
    seed: int = 0,
) -> Directions:
    """Directions by ``method``: sefa / rosinality (closed form) or the ganspace / random baselines."""
    if method not in METHODS:
        raise GanlensError(f"method {method!r} is not allowed; use one of {', '.join(METHODS)}")
    if method in ("sefa", "rosinality"):
        return factorize(G, layers, mode=method, num=num, model_id=model_id)
    k = num if num is not None else min(latent_dim(G), 20)
    if method == "ganspace":
        return ganspace(G, layers, num=k, model_id=model_id)
    return random_directions(G, layers, num=k, seed=seed, model_id=model_id)


def sefa_report(
    G,
    out_dir: str | Path,
    *,
    model_id: str,
    layers: str | None = "all",
    num_directions: int = 5,
    num_samples: int = 5,
    start: float = -3.0,
    end: float = 3.0,
    steps: int = 11,
    trunc_psi: float = 0.7,
    trunc_cutoff: int | None = 8,
    seed: int = 0,
    method: str = "sefa",
    overwrite: bool = False,
    resume: bool = False,
    viz_size: int = 256,
    batch_size: int = 32,
    progress: bool = True,
    directions: Directions | None = None,
) -> SefaResult:
    """Factorize ``G`` (or run a baseline), render N samples × K directions × ``steps`` distances
    and write the full report into ``out_dir`` (see :mod:`ganlens.sefa.report`).

    Raises:
        GanlensError: bad layers, K larger than the latent size, bad ranges, non-empty ``out_dir``
            without ``overwrite`` or ``resume``. With ``resume``, directions rendered by an
            interrupted run with the same settings are reused.

    ``directions`` (e.g. loaded, renamed, or from :func:`interfacegan_boundary`) skips the
    search: they are checked against ``G``/``model_id`` and rendered as they are; ``layers``
    then overrides the rows they move (None: their own layers).
    """
    d = latent_dim(G)
    if directions is not None:
        directions.check_model(G, model_id or None)
        if not (isinstance(num_directions, int) and 1 <= num_directions <= len(directions)):
            raise GanlensError(
                f"-K {num_directions!r} is not allowed; the directions file has {len(directions)} directions"
            )
        method = directions.method or "loaded"
    elif not (isinstance(num_directions, int) and 1 <= num_directions <= d):
        raise GanlensError(f"-K {num_directions!r} is not allowed; this model's latent size allows 1 to {d}")
    if not (isinstance(num_samples, int) and 1 <= num_samples <= 1000):
        raise GanlensError(f"-N {num_samples!r} is not allowed; use 1 to 1000")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise GanlensError(f"batch size {batch_size!r} must be a positive integer")
    if not (isinstance(viz_size, int) and 8 <= viz_size <= 1024):
        raise GanlensError(f"viz size {viz_size!r} is not allowed; use 8 to 1024")
    if not -1.0 <= trunc_psi <= 2.0 and G.style_based:  # same range as ganlens generate
        raise GanlensError(f"truncation psi {trunc_psi} is not allowed; use -1 to 2 (1 = no truncation)")
    distances = check_distances(start, end, steps)
    if layers is not None or directions is None:
        parse_layers(G, layers)  # fail before touching the output folder
    out = prepare_out_dir(out_dir, overwrite=overwrite, resume=resume)
    t = {}
    t0 = time.perf_counter()
    if directions is not None:
        dirs, render_layers = directions, layers
    else:
        dirs = find_directions(
            G,
            layers,
            method=method,
            model_id=model_id,
            seed=seed,
            num=None if method in ("sefa", "rosinality") else min(max(num_directions, 10), d),
        )
        render_layers = None
    t["directions_s"] = time.perf_counter() - t0
    z, codes = sample_codes(G, num_samples, seed=seed, trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff)
    t0 = time.perf_counter()
    cache = out / ".render-cache"  # finished directions; lets an interrupted run continue with resume
    key = hashlib.sha256()
    for part in (dirs.vectors[:num_directions], codes.detach().cpu().numpy(), distances):
        key.update(np.ascontiguousarray(part).tobytes())
    key.update(f"{model_id}|{method}|{layers}|{render_layers}|{dirs.layers}|{viz_size}".encode())
    if not resume and cache.exists():
        shutil.rmtree(cache)
    sweep = render_sweep(
        G,
        codes,
        dirs,
        indices=range(num_directions),
        distances=distances,
        layers=render_layers,
        batch_size=batch_size,
        max_size=max(viz_size, 64),
        progress=progress,
        cache_dir=cache,
        cache_key=key.hexdigest(),
    )
    t["render_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dirs.metrics = sweep.metrics()  # measured for the first K directions
    dirs_path = dirs.save(out / "directions.npz")
    codes_path = out / "codes.npz"
    CodesFile(
        codes=codes.cpu().numpy(),
        model=model_id,
        names=[f"sample_{i:03d}" for i in range(num_samples)],
        z=z.cpu().numpy(),
    ).save(codes_path)
    layer_label = layers if layers is not None else ",".join(map(str, dirs.layers)) or "all"
    prefix = report_prefix(model_id, num_samples, num_directions, layer_label, seed)
    settings = {
        "model": model_id,
        "method": method,
        "layers": f"{layer_label} → {list(parse_layers(G, render_layers or dirs.layers or 'all'))}",
        "samples (N)": num_samples,
        "directions (K)": num_directions,
        "distances": f"{start} … {end}, {steps} steps",
        "truncation": f"psi {trunc_psi}, cutoff {trunc_cutoff}"
        if G.style_based
        else "n/a (projection generator)",
        "seed": seed,
        "directions file": dirs_path.name,
        "codes file": codes_path.name,
    }
    title = f"SeFa ({method}) on {model_id}, layers {layer_label}"
    files = write_report(out, sweep, dirs, prefix=prefix, title=title, settings=settings, viz_size=viz_size)
    shutil.rmtree(cache, ignore_errors=True)  # the report is complete; the cache is no longer needed
    t["write_s"] = time.perf_counter() - t0
    return SefaResult(
        directions=dirs, sweep=sweep, files=files, directions_path=dirs_path, codes_path=codes_path, timings=t
    )


def load_codes_for(
    G,
    path: str | Path,
    *,
    model_id: str = "",
    ignore_model_id: bool = False,
    device: torch.device | str = "cpu",
) -> tuple[CodesFile, torch.Tensor]:
    """Load a codes file and check that its ``codes`` fit ``G`` (shape; model id unless ignored)."""
    cf = CodesFile.load(path)
    cf.check_model(G, model_id)
    if cf.multi_codes is not None and tuple(cf.multi_codes.shape[2:]) != tuple(G.code_shape):
        raise GanlensError(
            f"multi-codes have shape {tuple(cf.multi_codes.shape[2:])} per code "
            f"but {model_id or G.arch} expects {tuple(G.code_shape)}"
        )
    if model_id and cf.model and cf.model != model_id and not ignore_model_id:
        raise GanlensError(
            f"codes in {str(path)!r} belong to model {cf.model!r}, not {model_id!r}; "
            "pass --ignore-model-id if the two are the same network"
        )
    return cf, cf.tensor(device)
