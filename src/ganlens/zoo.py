"""Model zoo: named models, where their weights come from, and their sha256.

``load_model(name_or_path)`` is the one entry point tools use. A name is looked up here; anything
else is treated as a path and dispatched on its format (ganlens folder, NVIDIA ``.pkl``,
rosinality ``.pt``, genforce ``.pth``, the DigiFace ``weights.tar``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch

from ganlens.errors import CheckpointError, GanlensError, MissingPackageError, UnknownModelError
from ganlens.generators.base import Generator

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ModelInfo:
    """One named model.

    Attributes:
        name: zoo name.
        arch: architecture name.
        resolution, z_dim, w_dim, num_ws: sizes (w_dim/num_ws are 0 for projection models).
        source: ``"package"`` (a PyPI package ships the file) or ``"shipped"`` (in ``ganlens/weights``).
        package: PyPI distribution for ``source="package"``; ``module_file`` is ``module/relative/path``.
        sha256: digest of the weights file.
        loader: ``"module:function"`` taking the file path and returning a Generator.
        install: the command that makes it available.
        description: one line for ``ganlens models``.
    """

    name: str
    arch: str
    resolution: int
    z_dim: int
    w_dim: int
    num_ws: int
    source: str
    sha256: str
    loader: str
    description: str
    package: str = ""
    module_file: str = ""
    install: str = ""

    def weights_path(self) -> Path | None:
        """Where the weights file is, or None when it is not installed."""
        if self.source == "package":
            module, _, rel = self.module_file.partition("/")
            spec = importlib.util.find_spec(module)
            if spec is None or not spec.submodule_search_locations:
                return None
            path = Path(next(iter(spec.submodule_search_locations))) / rel
            return path if path.is_file() else None
        path = WEIGHTS_DIR / self.name
        return path if (path / "model.safetensors").is_file() else None

    @property
    def available(self) -> bool:
        return self.weights_path() is not None


_MODELS = MappingProxyType(
    {
        "digiface-dcgan64": ModelInfo(
            name="digiface-dcgan64",
            arch="dcgan",
            resolution=64,
            z_dim=100,
            w_dim=0,
            num_ws=0,
            source="package",
            package="gan-face-generate==1.1.1",
            module_file="gan_face_generate/weights.tar",
            sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
            loader="ganlens.loaders.digiface:load_digiface_dcgan",
            install="pip install --no-deps gan-face-generate==1.1.1",
            description="DCGAN trained on DigiFace-1M synthetic faces (MIT, from the gan-face-generate package)",
        ),
        "toonfaces-stylegan2-64": ModelInfo(
            name="toonfaces-stylegan2-64",
            arch="stylegan2",
            resolution=64,
            z_dim=256,
            w_dim=256,
            num_ws=10,
            source="shipped",
            sha256="f9cd2ef69f79ed6d7b9561b60361fc3de6df2961dbbf2dba9c02655722fe5678",
            loader="ganlens.generators.native:load_generator",
            description=(
                "StyleGAN2 trained by us on ToonFaces: run 59, restarted from session 51's model for 8.19 kimg "
                "with the reader term's mouth opening weighted 16x, face width and scale 8x, four other factors 4x, "
                "exported with a 5-kimg post-hoc EMA (1596.75 kimg on the longest path), with its D (MODEL_CARD.md)"
            ),
        ),
    }
)


def list_models() -> tuple[ModelInfo, ...]:
    return tuple(_MODELS.values())


def get_model_info(name: str) -> ModelInfo:
    if name not in _MODELS:
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(_MODELS)} (or give a path)"
        )
    return _MODELS[name]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _call(loader: str, path: Path) -> Generator:
    module, fn = loader.split(":")
    return getattr(importlib.import_module(module), fn)(path)


def load_named(name: str, *, verify: bool = True) -> Generator:
    """Load a zoo model by name, checking the weights' sha256."""
    info = get_model_info(name)
    path = info.weights_path()
    if path is None:
        if info.source == "package":
            raise MissingPackageError(
                f"model {name!r} needs the package {info.package}; install it with: {info.install}"
            )
        raise MissingPackageError(
            f"model {name!r} has no weights in {str(WEIGHTS_DIR / name)!r}; reinstall ganlens"
        )
    if info.source == "shipped":
        from ganlens.generators.native import load_generator

        if verify and sha256_file(path / "model.safetensors") != info.sha256:
            raise CheckpointError(
                f"weights of {name!r} at {str(path)!r} do not match their sha256; reinstall ganlens"
            )
        return load_generator(path)
    if verify and sha256_file(path) != info.sha256:
        raise CheckpointError(
            f"weights of {name!r} at {str(path)!r} do not match the expected sha256 {info.sha256[:12]}…"
        )
    return _call(info.loader, path)


# suffix -> loader for files given by path
_PATH_LOADERS = MappingProxyType(
    {
        ".pkl": "ganlens.loaders.nvidia:load_nvidia_pickle",
        ".pt": "ganlens.loaders.rosinality:load_rosinality",
        ".pth": "ganlens.loaders.genforce:load_genforce",
        ".tar": "ganlens.loaders.digiface:load_digiface_dcgan",
    }
)


def load_path(path: str | Path) -> Generator:
    """Load a generator from a path, dispatching on its format: a ganlens model folder (or one of
    its files), a training checkpoint folder or run folder (its latest checkpoint's G_ema, no
    export needed), or an official checkpoint file by its suffix."""
    path = Path(path)
    if not path.exists():
        raise UnknownModelError(
            f"model {str(path)!r} is neither a zoo name ({', '.join(_MODELS)}) nor an existing path"
        )
    folder = _folder_of(path)
    if folder is not None:
        from ganlens.training.checkpoint import checkpoint_generator, checkpoint_of

        ckpt = checkpoint_of(folder)  # a training run or one of its checkpoints: its G_ema
        if ckpt is not None:
            return checkpoint_generator(ckpt)
        from ganlens.generators.native import load_generator

        return load_generator(folder)
    suffix = path.suffix.lower()
    if suffix not in _PATH_LOADERS:
        raise CheckpointError(
            f"cannot tell the format of {str(path)!r} from its suffix {suffix!r}; allowed: a ganlens folder, "
            + ", ".join(_PATH_LOADERS)
        )
    return _call(_PATH_LOADERS[suffix], path)


def native_folder(name_or_path: str | Path) -> Path | None:
    """The ganlens folder a model loads from (a shipped zoo name's, or the path's), None for other formats."""
    key = str(name_or_path)
    if key in _MODELS:
        info = _MODELS[key]
        return info.weights_path() if info.source == "shipped" else None
    return _folder_of(Path(key))


def _folder_of(path: Path) -> Path | None:
    """A ganlens model folder given as the folder or one of its two files, else None."""
    if path.name in ("config.json", "model.safetensors"):
        path = path.parent
    return path if path.is_dir() else None


def load_model(name_or_path: str | Path, *, device: torch.device | str = "cpu") -> Generator:
    """Load a generator by zoo name or path, on ``device``, in eval mode with gradients off."""
    key = str(name_or_path)
    G = load_named(key) if key in _MODELS else load_path(key)
    return G.eval().requires_grad_(False).to(device)


def model_id(name_or_path: str | Path) -> str:
    """A short identifier for reports: the zoo name, or the file/folder name."""
    key = str(name_or_path)
    return key if key in _MODELS else Path(key).name


def check_device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise GanlensError(f"device {device!r} is not valid; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GanlensError(
            f"device {device!r} was asked for but CUDA is not available here; use --device cpu"
        )
    return dev
