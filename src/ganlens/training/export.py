"""Export a run's G_ema (or its raw G) in the native ganlens format (``config.json`` + ``model.safetensors``).

With ``with_discriminator`` the run's D goes beside it, in ``discriminator/`` (the same two files),
so that training can later carry on from the export alone (``TrainConfig.init_generator``). The
run's other training aids go too where it has them: the low-resolution D (``--lowres-d``) in
``discriminator_low/``, the component D (``--crop-d``) in ``discriminator_crop/`` and the attribute
network A (``--attr-weight``, in float16) in ``attribute_net/``, so that a restart from the export
does not begin them afresh.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from ganlens.classifier.io import CONFIG_NAME as CLASSIFIER_CONFIG
from ganlens.classifier.io import WEIGHTS_NAME as CLASSIFIER_WEIGHTS
from ganlens.errors import GanlensError
from ganlens.generators.native import WEIGHTS_NAME
from ganlens.training.adam_state import ADAM_DIR, permute_moment_columns, write_adam_state
from ganlens.training.attributes import AttributeNet, AttributeNetConfig
from ganlens.training.checkpoint import (
    checkpoint_generator,
    checkpoints_up_to,
    has_module,
    latest_checkpoint,
    load_module,
    read_checkpoint_state,
)
from ganlens.training.discriminator import DiscriminatorConfig, StyleGAN2Discriminator
from ganlens.training.ema import PosthocEMA, posthoc_ema
from ganlens.utils.io import write_bytes
from ganlens.zoo import native_folder, sha256_file

#: the sub-folder of an exported model that holds its discriminator
DISCRIMINATOR_DIR = "discriminator"
#: the sub-folder that holds a copy of the frozen attribute classifier its run read with (--reader)
READER_DIR = "attribute_reader"


@dataclass(frozen=True)
class TrainingAid:
    """How one of a run's other training networks is exported: its folder in the export, the key of
    its config in a checkpoint's ``state.json``, and its network and config classes."""

    folder: str
    config_key: str
    network: type[StyleGAN2Discriminator] | type[AttributeNet]
    config: type[DiscriminatorConfig] | type[AttributeNetConfig]


#: a run's other training aids, by checkpoint module name: the low-resolution D (``--lowres-d``),
#: the component D (``--crop-d``), the attribute network (``--attr-weight``)
TRAINING_AIDS = {
    "D_low": TrainingAid("discriminator_low", "d_low_config", StyleGAN2Discriminator, DiscriminatorConfig),
    "D_crop": TrainingAid("discriminator_crop", "d_crop_config", StyleGAN2Discriminator, DiscriminatorConfig),
    "A": TrainingAid("attribute_net", "a_config", AttributeNet, AttributeNetConfig),
}
#: the sub-folders of an export that hold them
TRAINING_AID_DIRS = {name: aid.folder for name, aid in TRAINING_AIDS.items()}
#: the generators a checkpoint holds: the moving average (what ships) and the trained weights
GENERATORS = ("G_ema", "G")


@dataclass(frozen=True)
class ExportResult:
    """Where the model went, its size and digest, and which training step it is."""

    directory: Path
    checkpoint: Path
    step: int
    kimg: float
    size_bytes: int
    sha256: str
    discriminator: Path | None = None
    generator: str = "G_ema"
    training_aids: tuple[str, ...] = ()  # the folders written beside discriminator/
    posthoc: PosthocEMA | None = None  # with ema_kimg: the checkpoints G was re-averaged over


def export_generator(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    overwrite: bool = False,
    max_mb: float = 25.0,
    with_discriminator: bool = False,
    with_adam: bool = False,
    generator: str = "G_ema",
    ema_kimg: float | None = None,
) -> ExportResult:
    """Write the ``generator`` (``"G_ema"``, the default, or the raw ``"G"``) of a run's latest
    (or the given) checkpoint with ``save_pretrained`` (and, with ``with_discriminator``, its D in
    ``out_dir/discriminator/``, and where the run has them its ``D_low``, ``D_crop`` and ``A`` in
    the folders of ``TRAINING_AID_DIRS``, and a copy of the attribute reader it trained with
    (``--reader``) in ``out_dir/attribute_reader/``; with ``with_adam`` too, the second moments of the Adams of
    G and of every D in ``out_dir/adam/``, 1 byte a parameter, so that a run started from the export
    resumes with them). With ``overwrite``, an aid folder the checkpoint has no network for is
    removed, so the export never mixes two checkpoints.

    With ``ema_kimg``, the generator written is G re-averaged with that half-life (in kimg) over the
    run's checkpoints up to the chosen one (:func:`~ganlens.training.ema.posthoc_ema`);
    ``ExportResult.posthoc`` says over which.

    Raises:
        GanlensError: no checkpoint in ``run_dir``, ``with_adam`` without ``with_discriminator``
            or with a checkpoint whose Adam has betas[0] != 0, ``with_discriminator`` for a run whose
            attribute reader folder is gone, ``generator`` not one of ``GENERATORS``, ``ema_kimg``
            with the raw G or a checkpoint outside ``run_dir`` (or what :func:`posthoc_ema` refuses), the
            model would exceed ``max_mb`` (MB, 10^6 bytes, fp32), or ``out_dir`` already holds a
            model and ``overwrite`` is False.
    """
    if generator not in GENERATORS:
        raise GanlensError(f"generator {generator!r} is not allowed; use one of {', '.join(GENERATORS)}")
    if with_adam and not with_discriminator:
        raise GanlensError("with_adam needs with_discriminator: D's moments go with its weights")
    ckpt_path = Path(checkpoint) if checkpoint is not None else latest_checkpoint(run_dir)
    if ckpt_path is None:
        raise GanlensError(f"run folder {str(run_dir)!r} has no checkpoint yet; train first")
    ck = read_checkpoint_state(ckpt_path)
    posthoc = None
    if ema_kimg is not None:
        posthoc = _posthoc(run_dir, ck.path, generator, ema_kimg)
        G = posthoc.generator
    else:
        G = checkpoint_generator(ck.path, generator)
    check_size(generator, G, max_mb)
    D = None
    if with_discriminator:
        D = StyleGAN2Discriminator(DiscriminatorConfig.from_dict(ck.state["d_config"]))
        load_module(ck.path, "D", D)
        check_size("D", D, max_mb)
    aids: dict[str, torch.nn.Module] = {}
    reader: Path | None = None
    if with_discriminator:
        aids = _checkpoint_training_aids(ck.path, ck.state)
        for folder, module in aids.items():
            check_size(folder, module, max_mb)
        reader = _run_reader(ck.state)
    G.save_pretrained(str(out_dir), overwrite=overwrite)
    if D is not None:
        D.save_pretrained(Path(out_dir) / DISCRIMINATOR_DIR, overwrite=overwrite)
        for name, folder in TRAINING_AID_DIRS.items():
            if name in aids:
                aids[name].save_pretrained(Path(out_dir) / folder, overwrite=overwrite)
            elif (Path(out_dir) / folder).is_dir():  # overwrite is set: G's save would have refused
                shutil.rmtree(Path(out_dir) / folder)
        if reader is not None:
            for name in (CLASSIFIER_CONFIG, CLASSIFIER_WEIGHTS):
                write_bytes(Path(out_dir) / READER_DIR / name, (reader / name).read_bytes())
        elif (Path(out_dir) / READER_DIR).is_dir():
            shutil.rmtree(Path(out_dir) / READER_DIR)
    if with_adam:
        write_adam_state(ck.path, out_dir)
    weights = Path(out_dir) / WEIGHTS_NAME
    return ExportResult(
        directory=Path(out_dir),
        checkpoint=ck.path,
        step=ck.step,
        kimg=ck.nimg / 1000.0,
        size_bytes=weights.stat().st_size,
        sha256=sha256_file(weights),
        discriminator=Path(out_dir) / DISCRIMINATOR_DIR if D is not None else None,
        generator=generator,
        training_aids=tuple(TRAINING_AID_DIRS[name] for name in aids) + ((READER_DIR,) if reader else ()),
        posthoc=posthoc,
    )


def _posthoc(run_dir: str | Path, last: Path, generator: str, ema_kimg: float) -> PosthocEMA:
    """The post-hoc EMA over ``run_dir``'s checkpoints up to ``last``."""
    if generator != "G_ema":
        raise GanlensError(
            f"ema_kimg re-averages G into a new G_ema; it cannot go with generator {generator!r}"
        )
    return posthoc_ema(checkpoints_up_to(run_dir, last), ema_kimg)


def _run_reader(state: dict) -> Path | None:
    """The attribute reader folder a checkpoint's run trained with (``--reader``), None without one.

    Raises:
        GanlensError: the run had a reader and its folder no longer holds one.
    """
    reader = (state.get("train_config") or {}).get("reader")
    if reader is None:
        return None
    folder = resolve_reader(reader)
    if not all((folder / name).is_file() for name in (CLASSIFIER_CONFIG, CLASSIFIER_WEIGHTS)):
        raise GanlensError(
            f"the run trained with the attribute reader {reader!r}, which no longer holds {CLASSIFIER_CONFIG} and "
            f"{CLASSIFIER_WEIGHTS}; put it back, or export without the discriminator"
        )
    return folder


def resolve_reader(reader: str | Path) -> Path:
    """The classifier folder that ``--reader`` names: a model's (zoo name or export)
    ``attribute_reader/`` where it has one, else the path itself."""
    return _model_subdir(reader, READER_DIR) or Path(reader)


def _checkpoint_training_aids(path: Path, state: dict) -> dict[str, torch.nn.Module]:
    """A checkpoint's D_low, D_crop and A, where it has them, by module name."""
    aids: dict[str, torch.nn.Module] = {}
    for name, aid in TRAINING_AIDS.items():
        if has_module(path, name) and aid.config_key in state:
            aids[name] = aid.network(aid.config.from_dict(state[aid.config_key]))
            load_module(path, name, aids[name])
    return aids


def check_size(name: str, module: torch.nn.Module, max_mb: float) -> None:
    """Raise if ``module``'s tensors take more than ``max_mb`` MB (10^6 bytes)."""
    n_bytes = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    if n_bytes > max_mb * 1e6:
        raise GanlensError(f"{name} has {n_bytes / 1e6:.1f} MB of tensors; the limit is {max_mb} MB")


def _model_subdir(name_or_path: str | Path, sub: str) -> Path | None:
    """``sub`` (a folder) of a zoo model or an export, or None where it has none."""
    folder = native_folder(name_or_path)
    found = folder / sub if folder is not None else None
    return found if found is not None and found.is_dir() else None


def model_adam_dir(name_or_path: str | Path) -> Path | None:
    """The ``adam/`` folder (Adam's second moments) of a zoo model or an export, or None."""
    return _model_subdir(name_or_path, ADAM_DIR)


def _is_network_pickle(name_or_path: str | Path) -> bool:
    return str(name_or_path).lower().endswith(".pkl") and Path(name_or_path).is_file()


def model_training_aids(name_or_path: str | Path) -> dict[str, torch.nn.Module]:
    """The training aids (``D_low``, ``D_crop``, ``A``, by module name) in a zoo model's or an
    export's folders of ``TRAINING_AID_DIRS``; those it lacks are left out (an NVIDIA pickle has none)."""
    if _is_network_pickle(name_or_path):
        return {}
    aids: dict[str, torch.nn.Module] = {}
    for name, aid in TRAINING_AIDS.items():
        found = _model_subdir(name_or_path, aid.folder)
        if found is not None:
            aids[name] = aid.network.from_pretrained(found)
    return aids


def model_discriminator(name_or_path: str | Path) -> StyleGAN2Discriminator | None:
    """The D in a zoo model's or an export's ``discriminator/`` folder, or an NVIDIA pickle's ``D``;
    None where there is none."""
    if _is_network_pickle(name_or_path):
        from ganlens.loaders.nvidia import load_nvidia_discriminator

        return load_nvidia_discriminator(name_or_path)
    d_dir = _model_subdir(name_or_path, DISCRIMINATOR_DIR)
    return StyleGAN2Discriminator.from_pretrained(d_dir) if d_dir is not None else None


def load_model_and_discriminator(name_or_path: str | Path):
    """``(G, D)``: the model as ``zoo.load_model`` loads it (CPU, eval) and :func:`model_discriminator`
    (None where there is none); an NVIDIA pickle is read once for both."""
    if _is_network_pickle(name_or_path):
        from ganlens.loaders.nvidia import load_nvidia_networks

        return load_nvidia_networks(name_or_path)
    from ganlens.zoo import load_model

    return load_model(name_or_path), model_discriminator(name_or_path)


#: what :func:`write_average` copies from ``aids_from``: D, the other training aids, the reader, Adam
AVERAGE_AID_DIRS = (DISCRIMINATOR_DIR, *TRAINING_AID_DIRS.values(), READER_DIR, ADAM_DIR)


@dataclass(frozen=True)
class AverageResult:
    """Where the averaged model went, its size and digest, and which folders came beside it."""

    directory: Path
    models: tuple[str, ...]
    size_bytes: int
    sha256: str
    aids_from: str | None = None
    training_aids: tuple[str, ...] = ()  # the folders copied from aids_from


def write_average(
    models: list[str | Path],
    out_dir: str | Path,
    *,
    aids_from: str | Path | None = None,
    overwrite: bool = False,
    max_mb: float = 25.0,
) -> AverageResult:
    """Write the uniform weight average of zoo models or exports of one config
    (:func:`~ganlens.training.ema.average_generators`) with ``save_pretrained``, and, with
    ``aids_from`` (a zoo model or export), copies of its ``discriminator/``, other training aids,
    ``attribute_reader/`` and ``adam/`` folders, so that ``--init-g out_dir`` trains on from the
    average with that model's D and optimiser state.

    Raises:
        GanlensError: fewer than 2 models, a model that does not load, different configs, an
            ``aids_from`` that is not a native model folder or is ``out_dir`` itself, a result over
            ``max_mb``, or ``out_dir`` holding a model while ``overwrite`` is False.
    """
    from ganlens.training.ema import average_generators
    from ganlens.zoo import load_model

    out = Path(out_dir)
    aid_src = None
    if aids_from is not None:
        aid_src = native_folder(aids_from)
        if aid_src is None:
            raise GanlensError(
                f"--aids-from {str(aids_from)!r} is not a zoo model or an exported model folder"
            )
        if out.exists() and aid_src.resolve() == out.resolve():
            raise GanlensError(
                f"--aids-from {str(aids_from)!r} is the output folder; copy its aids elsewhere first"
            )
    if len(models) < 2:
        raise GanlensError(f"an average needs at least 2 models; got {len(models)}")
    G = average_generators([load_model(m) for m in models])
    check_size("the averaged G", G, max_mb)
    G.save_pretrained(str(out), overwrite=overwrite)
    copied = copy_aid_folders(aid_src, out)
    weights = out / WEIGHTS_NAME
    return AverageResult(
        out,
        tuple(str(m) for m in models),
        weights.stat().st_size,
        sha256_file(weights),
        str(aids_from) if aids_from is not None else None,
        copied,
    )


def copy_aid_folders(aid_src: Path | None, out: Path) -> tuple[str, ...]:
    """Copy ``aid_src``'s D, other training aids, reader and ``adam/`` folders into ``out`` (each
    through a temporary folder); a folder that ``aid_src`` lacks (or all, when it is None) is
    removed from ``out``, so a replaced model leaves no stale aids. Returns the copied names."""
    copied = []
    for folder in AVERAGE_AID_DIRS:
        src = aid_src / folder if aid_src is not None else None
        if src is None or not src.is_dir():
            shutil.rmtree(out / folder, ignore_errors=True)
            continue
        tmp = out / f".{folder}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        shutil.rmtree(out / folder, ignore_errors=True)
        tmp.rename(out / folder)
        copied.append(folder)
    return tuple(copied)


@dataclass(frozen=True)
class PermuteWriteResult:
    """Where the z-permuted model went, its size and digest, the permutation's seed, the torch
    streams whose first latents the mapping's first layer matched before and after, and the aids."""

    directory: Path
    size_bytes: int
    sha256: str
    seed: int
    matched_before: dict[int, int]
    matched_after: dict[int, int]
    training_aids: tuple[str, ...] = ()


def write_permuted(
    model: str | Path,
    out_dir: str | Path,
    *,
    seed: int = 1,
    overwrite: bool = False,
    max_mb: float = 25.0,
) -> PermuteWriteResult:
    """Write ``model`` (a zoo name or export) with its z inputs permuted
    (:func:`ganlens.training.latents.permute_latents`: the same image distribution, other images
    per latent) and, where it has them, copies of its D, training aids, reader and ``adam/``, with
    Adam's second moments of the mapping's first layer permuted alike, so ``--init-g`` trains on.

    Raises:
        GanlensError: a model that does not load or has no z-normalising mapping network,
            ``out_dir`` being the model's own folder, or holding a model while ``overwrite`` is
            False, or a result over ``max_mb``.
    """
    from ganlens.training.latents import fc0_weight_index, permute_latents
    from ganlens.zoo import load_model

    out = Path(out_dir)
    src = native_folder(model)
    if src is not None and out.exists() and src.resolve() == out.resolve():
        raise GanlensError(f"--out {str(out_dir)!r} is the model's own folder; write the copy elsewhere")
    G = load_model(model)
    r = permute_latents(G, seed=seed)
    check_size("the permuted G", r.G, max_mb)
    r.G.save_pretrained(str(out), overwrite=overwrite)
    copied = copy_aid_folders(src, out)
    permute_moment_columns(out / ADAM_DIR, "opt_G", fc0_weight_index(G), r.permutation)
    weights = out / WEIGHTS_NAME
    return PermuteWriteResult(
        out, weights.stat().st_size, sha256_file(weights), seed, r.matched_before, r.matched_after, copied
    )
