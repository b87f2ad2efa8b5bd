"""Invert (or restore) a file or folder of real photos: batching, outputs, resume, torchrun shards.

:func:`run_inversion` is what ``ganlens invert``, ``colorize``, ``super-resolve``, ``inpaint`` and
``denoise`` call. Per input image ``NAME.ext`` it writes, atomically, into the output folder:

* ``NAME.png``: the result at the model resolution (reconstruction / restored image);
* ``NAME_compare.png``: input | (degraded input |) result side by side;
* ``NAME_degraded.png``: the degraded input (tasks only);
* ``NAME.npz``: codes as a :class:`ganlens.codes.CodesFile` (mGANprior: also multi-codes, α, ℓ);
* ``NAME.json``: metrics (PSNR, SSIM vs the framed input, PSNR of the fit in observation space,
  seconds, prior distance, warnings) — written last, it marks the image as done;
* ``NAME_edit.png``: an edit strip when SeFa directions are given.

``manifest.json`` (config, per-image metrics, means) is written at the end. A run killed half-way
is continued with ``resume=True``: images with a ``NAME.json`` are skipped. Under ``torchrun``
each process takes the images ``RANK::WORLD_SIZE`` (a gloo barrier guards the folder check and
the final manifest, written by rank 0).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ganlens.codes import CodesFile
from ganlens.errors import GanlensError
from ganlens.generators.base import Generator
from ganlens.inversion.degradations import (
    Degradation,
    Identity,
    Inpaint,
    make_degradation,
    make_mask,
    read_mask_array,
)
from ganlens.inversion.images import (
    DEFAULT_FACE_CROP,
    DEFAULT_FACE_OFFSET,
    crop_box,
    frame_array,
    list_images,
    read_image_array,
    to_tensor,
)
from ganlens.inversion.losses import LPIPS, ReconstructionLoss
from ganlens.inversion.metrics import finite_or_none, psnr, ssim
from ganlens.inversion.result import InversionResult
from ganlens.utils.io import make_grid, prepare_out_dir, save_image, write_json

METHODS = ("z", "w", "w+", "projector", "encoder", "hybrid", "mganprior")
INITS = ("random", "mean", "zero", "encoder")
RUN_FILE = "run.json"
MANIFEST = "manifest.json"


@dataclass
class RunConfig:
    """Everything a run needs; the CLI fills it from its flags.

    ``task`` is reconstruction, colorization, super-resolution, inpainting or denoising.
    ``crop``/``offset`` frame each photo; ``None`` crop means the face default
    (:data:`~ganlens.inversion.images.DEFAULT_FACE_CROP`).
    """

    inputs: str
    model: str
    out: str
    method: str = "mganprior"
    task: str = "reconstruction"
    n_codes: int = 20
    layer: int | None = None
    steps: int | None = None
    lr: float | None = None
    optimizer: str = "adam"
    restarts: int = 1
    init: str = "random"  # z/w/w+ start: random, mean, zero, or encoder (the encoder's guess)
    crop: float | None = None
    offset: tuple[float, float] | None = None
    rgba: str = "white"
    batch_size: int = 8
    seed: int = 0
    device: str = "cpu"
    overwrite: bool = False
    resume: bool = False
    # loss
    mse: float = 1.0
    l1: float = 0.0
    ssim: float = 0.0
    lpips: str | None = None
    lpips_weight: float = 1.0
    # task
    factor: int = 4
    down: str = "bilinear"
    mask: str | None = None
    mask_type: str | None = None
    paste: bool = True
    encoder: str | None = None
    sigma: float = 25.0
    # edits
    edit_directions: str | None = None
    edit_index: int = 0
    edit_distances: tuple[float, ...] = (-3.0, 0.0, 3.0)
    # warnings
    warn_psnr: float = 18.0
    warn_prior: float = 1.5
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def identity(self) -> dict:
        """Settings that must match for a resumed run to continue the same job."""
        keys = (
            "model",
            "method",
            "task",
            "n_codes",
            "layer",
            "steps",
            "init",
            "crop",
            "offset",
            "factor",
            "down",
            "mask",
            "mask_type",
            "sigma",
            "seed",
        )
        d = asdict(self)
        return {k: (list(d[k]) if isinstance(d[k], tuple) else d[k]) for k in keys}


def default_steps(method: str) -> int:
    return {"z": 300, "w": 300, "w+": 300, "projector": 1000, "encoder": 0, "hybrid": 100, "mganprior": 300}[
        method
    ]


def dist_info() -> tuple[int, int]:
    """(rank, world_size) from torchrun's environment (0, 1 when not distributed)."""
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise GanlensError("RANK/WORLD_SIZE environment variables must be integers") from None


class _Dist:
    """A gloo process group only for barriers (nothing is communicated but the barrier)."""

    def __init__(self) -> None:
        self.rank, self.world = dist_info()
        self.active = False
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("gloo", rank=self.rank, world_size=self.world)
            self.active = True

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.active = False


def output_stems(files: list[Path]) -> list[str]:
    """Output names per input: the file stem, or ``stem_ext`` where two inputs share a stem."""
    stems = [f.stem for f in files]
    dup = {s for s in stems if stems.count(s) > 1}
    return [f"{f.stem}_{f.suffix.lstrip('.')}" if f.stem in dup else f.stem for f in files]


# ------------------------------------------------------------------------------------ building blocks
def build_loss(cfg: RunConfig, device: torch.device) -> ReconstructionLoss:
    model = LPIPS.from_file(cfg.lpips, device=device) if cfg.lpips else None
    return ReconstructionLoss(
        mse=cfg.mse,
        l1=cfg.l1,
        ssim=cfg.ssim,
        perceptual=cfg.lpips_weight if model is not None else 0.0,
        perceptual_model=model,
    )


def build_mask(
    cfg: RunConfig, G: Generator, photo_shape: tuple[int, int] | None = None
) -> torch.Tensor | None:
    """The inpainting mask at the model resolution, (1, 1, R, R), 1 = missing.

    A mask file must have the size of the input photo (it is then framed with the same crop and
    offset) or already be R×R; anything else is an error.
    """
    if cfg.task != "inpainting":
        return None
    if cfg.mask and cfg.mask_type:
        raise GanlensError("give either --mask FILE or --mask-type, not both")
    if cfg.mask_type:
        return make_mask(cfg.mask_type, G.resolution, generator=torch.Generator().manual_seed(cfg.seed))
    if not cfg.mask:
        raise GanlensError("inpainting needs --mask FILE or --mask-type center|strokes|pixels")
    arr = read_mask_array(cfg.mask)  # (H, W)
    h, w = arr.shape
    if (h, w) == (G.resolution, G.resolution):
        framed = arr
    elif photo_shape is not None and (h, w) == tuple(photo_shape):
        framed = frame_array(arr[..., None], G.resolution, crop=_crop(cfg), offset=_offset(cfg))[..., 0]
    else:
        photo = f"the input photo ({photo_shape[1]}×{photo_shape[0]})" if photo_shape else "the input photo"
        raise GanlensError(
            f"mask {cfg.mask!r} is {w}×{h}; it must match {photo} or the model resolution "
            f"({G.resolution}×{G.resolution})"
        )
    return torch.from_numpy(framed).float()[None, None]


def _crop(cfg: RunConfig) -> float:
    return DEFAULT_FACE_CROP if cfg.crop is None else cfg.crop


def _offset(cfg: RunConfig) -> tuple[float, float]:
    if cfg.offset is None:
        return DEFAULT_FACE_OFFSET if cfg.crop is None else (0.0, 0.0)
    return tuple(cfg.offset)


def prior_distance(G: Generator, result: InversionResult) -> list[float]:
    """How far each code is from the prior, 1 ≈ typical.

    z space (projection models and ``method z``): ``‖z‖ / √z_dim``. w/w+: mean over rows of
    ``‖w − w_avg‖`` divided by that of 1000 samples of the model (seed 123).
    """
    lat = result.extra.get("latents")
    space = result.extra.get("space")
    if result.multi_codes is not None and not G.style_based:
        z = result.multi_codes  # (N, n, z_dim)
        return [float(v) for v in (z.norm(dim=-1) / math.sqrt(G.z_dim)).mean(dim=1)]
    if not G.style_based:
        z = result.codes
        return [float(v) for v in z.norm(dim=-1) / math.sqrt(G.z_dim)]
    if space == "z" and lat is not None and result.multi_codes is None:
        return [float(v) for v in lat.norm(dim=-1) / math.sqrt(G.z_dim)]
    with torch.no_grad():
        w_avg = G.w_avg.detach().cpu().float()
        z = (
            torch.from_numpy(__import__("numpy").random.RandomState(123).randn(1000, G.z_dim))
            .float()
            .to(G.device)
        )
        typical = float((G.mapping(z)[:, 0].cpu() - w_avg).norm(dim=-1).mean())
    codes = result.multi_codes if result.multi_codes is not None else result.codes[:, None]
    d = (codes - w_avg).norm(dim=-1).mean(dim=(1, 2)) / max(typical, 1e-8)
    return [float(v) for v in d]


def run_method(
    G: Generator,
    target: torch.Tensor,
    cfg: RunConfig,
    *,
    degradation: Degradation,
    loss: ReconstructionLoss,
    device: torch.device,
    generator: torch.Generator,
    encoder=None,
) -> InversionResult:
    """Dispatch one batch to the chosen method."""
    steps = cfg.steps if cfg.steps is not None else default_steps(cfg.method)
    common = dict(loss=loss, degradation=degradation, device=device, generator=generator, progress=False)
    if cfg.method in ("z", "w", "w+"):
        from ganlens.inversion.optimize import encoder_latents, invert

        start = None
        if cfg.init == "encoder":
            start = encoder_latents(G, encoder, cfg.method, target, degradation)
        return invert(
            G,
            target,
            space=cfg.method,
            steps=steps,
            lr=cfg.lr,
            optimizer=cfg.optimizer,
            restarts=cfg.restarts,
            init="random" if cfg.init == "encoder" else cfg.init,
            init_latents=start,
            **common,
        )
    if cfg.method == "projector":
        from ganlens.inversion.projector import project

        kw = {"initial_lr": cfg.lr} if cfg.lr else {}
        return project(G, target, steps=steps, **kw, **common)
    if cfg.method == "mganprior":
        from ganlens.inversion.mganprior import default_layer, mganprior_invert

        layer = cfg.layer if cfg.layer is not None else default_layer(G, degradation.name)
        return mganprior_invert(
            G,
            target,
            n_codes=cfg.n_codes,
            layer=layer,
            steps=steps,
            lr=cfg.lr,
            optimizer=cfg.optimizer,
            **common,
        )
    if cfg.method == "encoder":
        from ganlens.inversion.hybrid import encoder_invert

        return encoder_invert(G, encoder, target, degradation=degradation, loss=loss, device=device)
    if cfg.method == "hybrid":
        from ganlens.inversion.hybrid import hybrid_invert

        kw = {"lr": cfg.lr} if cfg.lr else {}
        return hybrid_invert(G, encoder, target, steps=steps, **kw, **common)
    raise GanlensError(f"method {cfg.method!r} is not allowed; use one of {', '.join(METHODS)}")


def _edit_strip(
    G: Generator, result: InversionResult, i: int, cfg: RunConfig, directions, device
) -> torch.Tensor:
    """Images of inversion ``i`` moved along a SeFa direction by each distance: (D, 3, R, R).

    mGANprior: every code moves by the same offset, α and ℓ stay fixed.
    """
    from ganlens.sefa import edit_codes

    out = []
    with torch.no_grad():
        for d in cfg.edit_distances:
            if result.multi_codes is not None:  # move all codes together, α fixed
                from ganlens.inversion.mganprior import compose

                mc = edit_codes(
                    G, result.multi_codes[i : i + 1].to(device), directions, index=cfg.edit_index, distance=d
                )
                tail = result.extra.get("tail_code")
                if tail is not None:
                    tail = edit_codes(
                        G, tail[i : i + 1].to(device), directions, index=cfg.edit_index, distance=d
                    )
                img = compose(G, mc, result.alpha[i : i + 1].to(device), result.layer, tail_code=tail)
            else:
                c = edit_codes(
                    G, result.codes[i : i + 1].to(device), directions, index=cfg.edit_index, distance=d
                )
                img = G.synthesis(c, noise_mode="const")
            out.append(img.cpu())
    return torch.cat(out)


# ------------------------------------------------------------------------------------ the run
def run_inversion(cfg: RunConfig, *, G: Generator | None = None) -> dict:
    """Process every image of ``cfg.inputs``; returns the manifest dict (rank 0: all images)."""
    from ganlens.zoo import check_device, load_model, model_id

    if cfg.method not in METHODS:
        raise GanlensError(f"method {cfg.method!r} is not allowed; use one of {', '.join(METHODS)}")
    if cfg.init not in INITS:
        raise GanlensError(f"init {cfg.init!r} is not allowed; use one of {', '.join(INITS)}")
    if cfg.init != "random" and cfg.method not in ("z", "w", "w+"):
        raise GanlensError(f"--init {cfg.init} needs --method z, w or w+ (got {cfg.method!r})")
    if cfg.batch_size < 1:
        raise GanlensError(f"batch size {cfg.batch_size!r} must be ≥ 1")
    files = list_images(cfg.inputs)
    stems = output_stems(files)
    _crop(cfg)
    crop_box(8, 8, crop=_crop(cfg), offset=_offset(cfg))  # validates crop/offset early
    device = check_device(cfg.device)
    if device.type == "cuda" and device.index is None and dist_info()[1] > 1:  # one GPU per torchrun process
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    dist = _Dist()
    try:
        out = Path(cfg.out)
        if dist.rank == 0:
            _prepare(out, cfg)
        dist.barrier()
        if G is None:
            G = load_model(cfg.model, device=device)
        G = G.to(device)
        mid = model_id(cfg.model)
        encoder = None
        if cfg.method in ("encoder", "hybrid") or cfg.init == "encoder":
            from ganlens.inversion.encoder import load_encoder

            encoder = load_encoder(cfg.encoder or mid, device=device)
        directions = None
        if cfg.edit_directions:  # load and check before any slow work
            from ganlens.sefa import Directions

            directions = Directions.load(cfg.edit_directions)
            directions.check_model(G)
            directions.check_index(cfg.edit_index)
        loss = build_loss(cfg, device)
        my = [(f, s) for k, (f, s) in enumerate(zip(files, stems)) if k % dist.world == dist.rank]
        todo = [(f, s) for f, s in my if not (cfg.resume and (out / f"{s}.json").is_file())]
        skipped = len(my) - len(todo)
        if skipped and cfg.progress:
            print(f"resuming: {skipped} finished image(s) skipped", file=sys.stderr)
        bar = tqdm(total=len(todo), desc=f"{cfg.task} ({cfg.method})", disable=not cfg.progress, unit="img")
        for start in range(0, len(todo), cfg.batch_size):
            chunk = todo[start : start + cfg.batch_size]
            _process_batch(G, chunk, cfg, out, mid, loss, device, encoder, directions)
            bar.update(len(chunk))
        bar.close()
        dist.barrier()
        manifest = _write_manifest(out, cfg, files, stems) if dist.rank == 0 else {}
        dist.barrier()
        return manifest
    finally:
        dist.close()


def _prepare(out: Path, cfg: RunConfig) -> None:
    run_file = out / RUN_FILE
    if cfg.resume and run_file.is_file() and not cfg.overwrite:
        old = json.loads(run_file.read_text())
        if old.get("identity") != cfg.identity():
            diff = sorted(k for k in cfg.identity() if old.get("identity", {}).get(k) != cfg.identity()[k])
            raise GanlensError(
                f"cannot resume in {str(out)!r}: settings differ from the earlier run ({', '.join(diff)})"
            )
    prepare_out_dir(out, overwrite=cfg.overwrite, resume=cfg.resume)
    if cfg.overwrite and not cfg.resume:
        for p in out.iterdir():  # stale done-markers would make a later --resume skip images
            if p.is_file() and p.suffix == ".json":
                p.unlink()
    write_json(run_file, {"identity": cfg.identity(), "config": _jsonable(asdict(cfg))})


def _jsonable(d: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _process_batch(
    G, chunk, cfg: RunConfig, out: Path, mid: str, loss, device, encoder, directions=None
) -> None:
    R = G.resolution
    photos, shapes = [], []
    for f, _ in chunk:
        arr = read_image_array(f, rgba=cfg.rgba)
        shapes.append(arr.shape[:2])
        photos.append(to_tensor(frame_array(arr, R, crop=_crop(cfg), offset=_offset(cfg))))
    x = torch.stack(photos)  # (B, 3, R, R) framed inputs
    if cfg.task == "inpainting":
        masks = [build_mask(cfg, G, s) for s in shapes]
        degradation: Degradation = Inpaint(torch.cat(masks), paste=cfg.paste)
    else:
        degradation = make_degradation(
            cfg.task, resolution=R, factor=cfg.factor, down=cfg.down, sigma=cfg.sigma
        )
    # the per-image generator makes a result independent of batch composition only for batch 1;
    # seeding by the first image's index keeps runs reproducible.
    g = torch.Generator().manual_seed(cfg.seed + _stable_index(chunk[0][1]))
    observed = degradation.simulate(x, generator=g)  # what the method sees
    res = run_method(
        G, observed, cfg, degradation=degradation, loss=loss, device=device, generator=g, encoder=encoder
    )
    images = res.images.clamp(-1, 1)
    p_in = psnr(images, x)
    s_in = ssim(images, x)
    fit = psnr(
        degradation.to_display(degradation(images.to(device)), R).cpu(),
        degradation.to_display(observed.to(device), R).cpu(),
    )
    prior = prior_distance(G, res)
    per_img = res.seconds / len(chunk)
    for i, (f, stem) in enumerate(chunk):
        panels = [x[i]]
        if not isinstance(degradation, Identity):
            disp = degradation.to_display(observed[i : i + 1].to(device), R)[0].cpu().clamp(-1, 1)
            save_image(out / f"{stem}_degraded.png", disp)
            panels.append(disp)
        panels.append(images[i])
        save_image(out / f"{stem}.png", images[i])
        save_image(out / f"{stem}_compare.png", make_grid(torch.stack(panels), nrow=len(panels)))
        cf = CodesFile(
            codes=res.codes[i : i + 1].numpy(),
            model=mid,
            names=[stem],
            multi_codes=res.multi_codes[i : i + 1].numpy() if res.multi_codes is not None else None,
            multi_alpha=res.alpha[i : i + 1].numpy() if res.alpha is not None else None,
            multi_layer=res.layer,
        )
        cf.save(out / f"{stem}.npz")
        if directions is not None:
            strip = _edit_strip(G, res, i, cfg, directions, device)
            save_image(
                out / f"{stem}_edit.png", make_grid(torch.cat([x[i : i + 1], strip]), nrow=len(strip) + 1)
            )
        warnings = []
        # the fit to what the method saw (= the reconstruction PSNR for plain inversion); denoising
        # is skipped: its observation is noisy by design
        if degradation.name != "denoising" and fit[i] < cfg.warn_psnr:
            what = "reconstruction" if degradation.name == "reconstruction" else f"{degradation.name} fit"
            warnings.append(
                f"{what} PSNR {fit[i]:.1f} dB is below {cfg.warn_psnr:g} dB: the photo is far from what "
                f"{mid} can express (check the framing: --crop/--offset)"
            )
        if prior[i] > cfg.warn_prior:
            warnings.append(
                f"code is {prior[i]:.2f}× as far from the prior as a typical sample (> {cfg.warn_prior:g}); "
                "the result may look unnatural"
            )
        for w in warnings:
            print(f"warning: {f.name}: {w}", file=sys.stderr)
        metrics = {
            "input": str(f),
            "name": stem,
            "model": mid,
            "method": res.method,
            "task": degradation.describe(),
            "psnr": finite_or_none(p_in[i]),
            "ssim": round(float(s_in[i]), 5),
            "psnr_fit": finite_or_none(fit[i]),
            "seconds": round(per_img, 3),
            "rank": dist_info()[0],
            "steps": cfg.steps if cfg.steps is not None else default_steps(cfg.method),
            "prior_distance": round(prior[i], 4),
            "final_loss": float(res.final_losses[i]) if res.final_losses is not None else None,
            "layer": res.layer,
            "n_codes": int(res.multi_codes.shape[1]) if res.multi_codes is not None else None,
            "warnings": warnings,
        }
        write_json(out / f"{stem}.json", metrics)  # the done-marker: written last


def _stable_index(stem: str) -> int:
    """A small deterministic integer from a name (Python's hash() is salted per process)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(stem)) % 100_003


def _write_manifest(out: Path, cfg: RunConfig, files: list[Path], stems: list[str]) -> dict:
    rows, missing = [], []
    for f, s in zip(files, stems):
        p = out / f"{s}.json"
        if p.is_file():
            rows.append(json.loads(p.read_text()))
        else:
            missing.append(str(f))

    def mean(key):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return round(sum(vals) / len(vals), 4) if vals else None

    manifest = {
        "config": _jsonable(asdict(cfg)),
        "images": rows,
        "missing": missing,
        "mean": {k: mean(k) for k in ("psnr", "ssim", "psnr_fit", "seconds", "prior_distance")},
        "warnings": sum(len(r.get("warnings", [])) for r in rows),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json(out / MANIFEST, manifest)
    return manifest
