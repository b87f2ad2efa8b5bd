"""In-Domain style encoder (SPEC §4.3): image → generator code, its training, and shipped weights.

Architecture (scaled to the generator's resolution R, ``log2R`` stages like IDP's
``StyleGANEncoderNet``): a 3×3 conv stem at full resolution with ``base_channels``; then
``log2R − 2`` residual blocks, each preceded by 2×2 average pooling, doubling channels up to
``max_channels`` (so the last block runs at 4×4); then a bias-free dense layer to
``prod(code_shape)`` followed by batch norm. IDP's final batch norm has no learnable scale: for a
projection generator the code is z ~ N(0, I), exactly the unit-variance output such a norm
produces, so we keep it (``final_norm="bn_noscale"``). Style-based w+ rows are not unit variance,
so for those the default is a batch norm *with* a learnable scale (``"bn"``). ``"none"`` is plain.

Training (:func:`train_encoder`) mixes two sources, like In-Domain inversion:
* the generator's own samples ``x = G(c)``: code regression ``MSE(E(x), c)`` plus image
  reconstruction ``MSE(G(E(x)), x)``;
* when ``data_dir`` is given, real images with image-space losses only: pixel MSE, an optional
  perceptual term and an optional adversarial term from a discriminator trained jointly
  (``softplus(D(fake)) + softplus(−D(real)) + γ/2·‖∇D(real)‖²``).

Weights are saved as ``config.json`` + ``model.safetensors`` (never pickles); checkpoints keep the
encoder, the optimiser, the discriminator and the random generator state so a run resumes exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from ganlens.errors import CheckpointError, GanlensError, UnknownModelError
from ganlens.generators.base import Generator
from ganlens.utils.bf16 import warn_if_bf16_slow
from ganlens.utils.io import write_json, write_safetensors

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1
FINAL_NORMS = ("bn_noscale", "bn", "none")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class ShippedEncoder:
    """An encoder shipped in ``ganlens/weights`` for a zoo model."""

    model_id: str
    folder: str
    sha256: str


# model id -> shipped encoder; the sha256 is that of the folder's model.safetensors
_SHIPPED = MappingProxyType(
    {
        "digiface-dcgan64": ShippedEncoder(
            model_id="digiface-dcgan64",
            folder="digiface-dcgan64-encoder",
            sha256="b87a4461deeb7782506a38b0119578a961b106658a7343d0cc02a75007b2ce5e",
        ),
    }
)


# ---------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class EncoderConfig:
    """Encoder settings; the encoder is rebuilt from this alone.

    Attributes:
        resolution: input height = width, a power of two from 8 to 1024 (the generator's).
        code_shape: per-sample output shape, the generator's ``code_shape`` ((z_dim,) or (num_ws, w_dim)).
        img_channels: input channels (the generator's, 1 or 3).
        base_channels: channels of the full-resolution stem, default 32.
        max_channels: cap on channels when doubling, default 512.
        final_norm: ``"bn_noscale"`` (IDP), ``"bn"`` (learnable scale) or ``"none"``;
            ``"auto"`` picks bn_noscale for a 1-D code (z) and bn for w+.
    """

    resolution: int
    code_shape: tuple[int, ...]
    img_channels: int = 3
    base_channels: int = 32
    max_channels: int = 512
    final_norm: str = "auto"

    def __post_init__(self) -> None:
        r = self.resolution
        if not (isinstance(r, int) and 8 <= r <= 1024 and r & (r - 1) == 0):
            raise GanlensError(f"encoder resolution {r!r} is not allowed; use a power of two from 8 to 1024")
        shape = tuple(int(s) for s in self.code_shape)
        if not shape or len(shape) > 2 or any(s <= 0 for s in shape):
            raise GanlensError(
                f"code_shape {self.code_shape!r} is not allowed; use (z_dim,) or (num_ws, w_dim)"
            )
        object.__setattr__(self, "code_shape", shape)
        if self.img_channels not in (1, 3):
            raise GanlensError(f"img_channels {self.img_channels!r} must be 1 or 3")
        if self.base_channels <= 0 or self.max_channels < self.base_channels:
            raise GanlensError(
                f"base_channels {self.base_channels!r} / max_channels {self.max_channels!r} are not allowed; "
                "need 0 < base_channels <= max_channels"
            )
        norm = self.final_norm
        if norm == "auto":
            norm = "bn_noscale" if len(shape) == 1 else "bn"
            object.__setattr__(self, "final_norm", norm)
        if norm not in FINAL_NORMS:
            raise GanlensError(
                f"final_norm {norm!r} is not allowed; use one of auto, {', '.join(FINAL_NORMS)}"
            )

    @property
    def code_size(self) -> int:
        return int(np.prod(self.code_shape))

    def channels(self, block: int) -> int:
        """Channels of block ``block`` (0 = stem)."""
        return min(self.base_channels * 2**block, self.max_channels)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["code_shape"] = list(self.code_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise CheckpointError(f"unknown encoder config fields {unknown}; allowed: {sorted(names)}")
        d = dict(d)
        if "code_shape" in d:
            d["code_shape"] = tuple(d["code_shape"])
        try:
            return cls(**d)
        except TypeError as e:
            raise CheckpointError(f"encoder config is incomplete: {e}") from None

    @classmethod
    def for_generator(cls, G: Generator, **kwargs: Any) -> EncoderConfig:
        """A config that fits ``G`` (resolution, code shape, channels); ``kwargs`` set the rest."""
        return cls(
            resolution=G.resolution, code_shape=tuple(G.code_shape), img_channels=G.img_channels, **kwargs
        )


# ---------------------------------------------------------------------------------------- network
class _ResBlock(nn.Module):
    """avgpool 2×2 → (conv3×3, BN, lrelu, conv3×3, BN) + 1×1 shortcut → lrelu."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = F.avg_pool2d(x, 2)
        h = F.leaky_relu(self.bn1(self.conv1(x)), 0.2)
        h = self.bn2(self.conv2(h))
        return F.leaky_relu(h + self.skip(x), 0.2)


class Encoder(nn.Module):
    """Image (N, C, R, R) in [-1, 1] → codes (N, *code_shape) for the generator it was built for."""

    def __init__(self, config: EncoderConfig, *, meta: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.config = config
        self.meta: dict[str, Any] = dict(meta or {})
        c = config
        self.stem = nn.Sequential(
            nn.Conv2d(c.img_channels, c.channels(0), 3, 1, 1, bias=False),
            nn.BatchNorm2d(c.channels(0)),
            nn.LeakyReLU(0.2),
        )
        blocks = []
        for b in range(1, int(math.log2(c.resolution)) - 1):  # ends at 4×4
            blocks.append(_ResBlock(c.channels(b - 1), c.channels(b)))
        self.blocks = nn.ModuleList(blocks)
        c_last = c.channels(len(blocks))
        self.dense = nn.Linear(c_last * 16, c.code_size, bias=False)
        # bn_noscale: batch norm without scale, then a learned shift (IDP); bn: both learned; none: a bias.
        self.norm: nn.Module = (
            nn.Identity()
            if c.final_norm == "none"
            else nn.BatchNorm1d(c.code_size, affine=c.final_norm == "bn")
        )
        self.out_bias = nn.Parameter(torch.zeros(c.code_size)) if c.final_norm != "bn" else None

    # ------------------------------------------------------------------ forward
    def check_images(self, images: Tensor) -> Tensor:
        c = self.config
        if not isinstance(images, Tensor) or images.ndim != 4:
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise GanlensError(
                f"encoder input has shape {shape}; expected (N, {c.img_channels}, {c.resolution}, "
                f"{c.resolution})"
            )
        if images.shape[1] != c.img_channels:
            raise GanlensError(
                f"encoder input has {images.shape[1]} channels; this encoder expects {c.img_channels}"
            )
        if tuple(images.shape[2:]) != (c.resolution, c.resolution):
            raise GanlensError(
                f"encoder input is {images.shape[2]}×{images.shape[3]}; this encoder expects "
                f"{c.resolution}×{c.resolution} (resize or crop the images first)"
            )
        if images.shape[0] == 0:
            raise GanlensError("encoder input is an empty batch")
        return images

    def forward(self, images: Tensor) -> Tensor:
        x = self.stem(self.check_images(images))  # (N, C0, R, R)
        for block in self.blocks:
            x = block(x)  # halves the resolution
        x = self.dense(x.flatten(1))  # (N, prod(code_shape))
        x = self.norm(x)
        if self.out_bias is not None:
            x = x + self.out_bias
        return x.view(x.shape[0], *self.config.code_shape)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def fits(self, G: Generator) -> None:
        """Raise a one-line error unless this encoder's output fits generator ``G``."""
        c = self.config
        if (
            tuple(G.code_shape) != c.code_shape
            or G.resolution != c.resolution
            or G.img_channels != c.img_channels
        ):
            raise GanlensError(
                f"encoder is for {c.resolution}px codes {c.code_shape}, "
                f"but the generator is {G.resolution}px "
                f"with codes {tuple(G.code_shape)}; train an encoder for it with 'ganlens train encoder'"
            )

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``config.json`` + ``model.safetensors`` into ``directory`` (atomic)."""
        directory = Path(directory)
        if (directory / WEIGHTS_NAME).exists() and not overwrite:
            raise GanlensError(
                f"{str(directory / WEIGHTS_NAME)!r} exists; pass overwrite=True (--overwrite) to replace it"
            )
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous().clone() for k, v in self.state_dict().items()}
        write_safetensors(directory / WEIGHTS_NAME, state, {"format": "ganlens-encoder"})
        write_json(
            directory / CONFIG_NAME,
            {"format_version": FORMAT_VERSION, "kind": "encoder", **self.config.to_dict(), "meta": self.meta},
        )
        return directory

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, *, device: torch.device | str = "cpu", sha256: str | None = None
    ) -> Encoder:
        """Rebuild from a folder written by :meth:`save_pretrained`, in eval mode with gradients off.

        Raises:
            CheckpointError: missing/corrupt files, a config that is not an encoder's, mismatched
                weights, or (when ``sha256`` is given) weights whose digest differs.
        """
        directory = Path(directory)
        cfg_path, weights = directory / CONFIG_NAME, directory / WEIGHTS_NAME
        if not cfg_path.is_file() or not weights.is_file():
            raise CheckpointError(
                f"{str(directory)!r} is not an encoder folder; it needs {CONFIG_NAME} and {WEIGHTS_NAME}"
            )
        try:
            raw = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{str(cfg_path)!r} is not valid JSON: {e}") from None
        if not isinstance(raw, dict) or raw.pop("kind", None) != "encoder":
            raise CheckpointError(f'{str(cfg_path)!r} is not an encoder config (no "kind": "encoder")')
        raw.pop("format_version", None)
        meta = raw.pop("meta", {}) or {}
        config = EncoderConfig.from_dict(raw)
        if sha256:
            from ganlens.zoo import sha256_file

            if sha256_file(weights) != sha256:
                raise CheckpointError(
                    f"encoder weights {str(weights)!r} do not match their sha256; reinstall ganlens"
                )
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"cannot read encoder weights {str(weights)!r}: {e}") from None
        enc = cls(config, meta=meta)
        from ganlens.generators.native import load_state_dict_strict

        load_state_dict_strict(enc, state, source=str(weights))
        return enc.eval().requires_grad_(False).to(device)


def shipped_encoders() -> tuple[str, ...]:
    """Model ids that have an encoder shipped with ganlens."""
    return tuple(_SHIPPED)


def load_encoder(model_id: str | Path, *, device: torch.device | str = "cpu", verify: bool = True) -> Encoder:
    """The shipped encoder for a zoo model id, or an encoder folder given by path.

    Raises:
        UnknownModelError: no encoder is shipped for that id and it is not a folder.
        CheckpointError: the files are missing, corrupt or fail the sha256 check.
    """
    key = str(model_id)
    if key in _SHIPPED:
        info = _SHIPPED[key]
        folder = WEIGHTS_DIR / info.folder
        if not (folder / WEIGHTS_NAME).is_file():
            raise CheckpointError(
                f"the encoder for {key!r} is missing from {str(folder)!r}; reinstall ganlens"
            )
        return Encoder.from_pretrained(folder, device=device, sha256=info.sha256 if verify else None)
    path = Path(key)
    if path.is_dir():
        return Encoder.from_pretrained(path, device=device)
    if path.name in (CONFIG_NAME, WEIGHTS_NAME) and path.is_file():
        return Encoder.from_pretrained(path.parent, device=device)
    known = ", ".join(_SHIPPED) or "none"
    raise UnknownModelError(
        f"no encoder is shipped for {key!r} and it is not an encoder folder; shipped encoders: {known} "
        "(train one with 'ganlens train encoder')"
    )


# ---------------------------------------------------------------------------------------- data
def list_images(data_dir: str | Path) -> list[Path]:
    """Image files directly inside ``data_dir`` (sorted), or a one-line error."""
    d = Path(data_dir)
    if not d.is_dir():
        raise GanlensError(f"data folder {str(d)!r} does not exist")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise GanlensError(f"data folder {str(d)!r} has no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_image(path: str | Path, resolution: int, *, channels: int = 3) -> Tensor:
    """Read an image, centre-crop it square, resize to ``resolution`` (Lanczos); (C, R, R) in [-1, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if channels == 3 else "L")
    except (OSError, UnidentifiedImageError) as e:
        raise GanlensError(f"cannot read image {str(path)!r}: {e}") from None
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if s != resolution:
        im = im.resize((resolution, resolution), Image.LANCZOS)
    arr = np.asarray(im, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr).permute(2, 0, 1) / 127.5 - 1.0


def load_image_folder(data_dir: str | Path, resolution: int, *, channels: int = 3) -> Tensor:
    """All images of a folder as one (N, C, R, R) tensor in [-1, 1]."""
    return torch.stack([load_image(p, resolution, channels=channels) for p in list_images(data_dir)])


# ---------------------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    """What :func:`train_encoder` returns.

    Attributes:
        encoder: the trained encoder (eval mode).
        steps: total steps done (including those before a resume).
        history: per-step losses, {name: [value per step]} (``total`` always present).
        seconds: wall time of this call.
        checkpoint_dir: where checkpoints and the loss plot went (None when not saved).
        resumed_from: the step the run resumed from (0 for a fresh run).
        total_seconds: training wall time summed over this call and the resumed runs before it.
    """

    encoder: Encoder
    steps: int
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    checkpoint_dir: Path | None = None
    resumed_from: int = 0
    total_seconds: float = 0.0


CKPT_WEIGHTS = "checkpoint.safetensors"
CKPT_STATE = "checkpoint.json"


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            t = value if isinstance(value, Tensor) else torch.tensor(value)
            tensors[f"{prefix}.{idx}.{name}"] = t.detach().cpu().contiguous().clone()
    return tensors, {"param_groups": sd["param_groups"]}


def _restore_optimizer(
    prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, Tensor], groups: dict
) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if not key.startswith(prefix + "."):
            continue
        idx, name = key[len(prefix) + 1 :].split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": groups["param_groups"]})


def _save_checkpoint(
    directory: Path,
    *,
    step: int,
    encoder: Encoder,
    opt: torch.optim.Optimizer,
    rng: torch.Generator,
    history: dict[str, list[float]],
    settings: dict[str, Any],
    seconds: float,
    disc: nn.Module | None,
    opt_d: torch.optim.Optimizer | None,
) -> None:
    tensors = {f"E.{k}": v.detach().cpu().contiguous().clone() for k, v in encoder.state_dict().items()}
    opt_t, opt_groups = _flatten_optimizer("optE", opt)
    tensors.update(opt_t)
    tensors["rng"] = rng.get_state().clone()
    state: dict[str, Any] = {
        "step": step,
        "optE": opt_groups,
        "history": history,
        "settings": settings,
        "seconds": seconds,
        "encoder_config": encoder.config.to_dict(),
    }
    if disc is not None and opt_d is not None:
        tensors.update(
            {f"D.{k}": v.detach().cpu().contiguous().clone() for k, v in disc.state_dict().items()}
        )
        d_t, d_groups = _flatten_optimizer("optD", opt_d)
        tensors.update(d_t)
        state["optD"] = d_groups
    # weights first, then the json that names the step: a crash between them leaves the old pair
    # readable because the json is checked against the tensors' step on load.
    tensors["step"] = torch.tensor(step, dtype=torch.int64)
    write_safetensors(directory / CKPT_WEIGHTS, tensors)
    write_json(directory / CKPT_STATE, state)


def _load_checkpoint(directory: Path) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    w, s = directory / CKPT_WEIGHTS, directory / CKPT_STATE
    if not w.is_file() or not s.is_file():
        return None
    try:
        tensors = load_file(str(w))
        state = json.loads(s.read_text(encoding="utf-8"))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint in {str(directory)!r} is unreadable: {e}; delete it or pass resume=False"
        ) from None
    if int(tensors.get("step", torch.tensor(-1))) != int(state.get("step", -2)):
        raise CheckpointError(
            f"checkpoint in {str(directory)!r} is inconsistent (weights and json differ); delete it"
        )
    return tensors, state


def _sub_state(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _r1_penalty(disc: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(disc(real).sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def save_loss_plot(
    history: dict[str, list[float]], path: str | Path, *, title: str = "encoder training"
) -> None:
    """Plot every loss curve (log scale, smoothed) into a PNG, atomically."""
    from ganlens.utils.plots import new_figure, save_figure

    fig, ax = new_figure(figsize=(6, 3.5))
    for name, values in history.items():
        if not values:
            continue
        v = np.asarray(values, dtype=np.float64)
        k = max(1, len(v) // 50)
        smooth = np.convolve(v, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(len(smooth)) + k, np.maximum(smooth, 1e-8), label=name, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def train_encoder(
    G: Generator,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-4,
    lr_decay: float = 0.8,
    data_dir: str | Path | None = None,
    encoder: Encoder | None = None,
    config: EncoderConfig | None = None,
    code_weight: float = 1.0,
    image_weight: float = 1.0,
    real_weight: float = 1.0,
    perceptual: Callable[[Tensor, Tensor], Tensor] | None = None,
    perceptual_weight: float = 5e-5,
    discriminator: nn.Module | None = None,
    adv_weight: float = 0.08,
    r1_gamma: float = 10.0,
    d_lr: float | None = None,
    augment: bool = True,
    bf16: bool = False,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 200,
    resume: bool = True,
    meta: dict[str, Any] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train an encoder for the frozen generator ``G``.

    Each step draws ``batch_size`` codes ``c = G.mapping(z)`` and images ``x = G.synthesis(c)``;
    loss = ``code_weight·MSE(E(x), c) + image_weight·MSE(G(E(x)), x)``. With ``augment`` half of the
    batch is mirrored left-right and gets only the image term (its code is unknown). When
    ``data_dir`` is given, each step also takes ``batch_size`` real images (centre crop, resized)
    and adds ``real_weight·MSE(G(E(y)), y)`` + ``perceptual_weight·perceptual(G(E(y)), y)`` +
    ``adv_weight·mean(softplus(−D(G(E(y)))))``; ``discriminator`` (an ``nn.Module`` image → logits)
    is then trained jointly with the logistic loss and an R1 penalty (γ = ``r1_gamma``).

    Adam β = (0.9, 0.99), lr multiplied by ``lr_decay`` every ``steps/4`` steps (IDT schedule).

    Args:
        steps: total number of steps (a resumed run continues up to this number).
        encoder / config: start from this encoder, or build a fresh one from ``config`` (default:
            :meth:`EncoderConfig.for_generator`).
        bf16: run the generator and encoder under CPU/GPU bfloat16 autocast (faster on CPUs with
            AVX512-BF16/AMX); losses stay float32.
        generator: the torch random generator; ``seed`` seeds a fresh one when None.
        checkpoint_dir: write ``checkpoint.*`` every ``checkpoint_every`` steps and at the end,
            plus ``loss.png``; with ``resume`` an existing checkpoint there is continued.

    Returns:
        :class:`TrainResult`.

    Raises:
        GanlensError: bad step counts/batch sizes, an encoder that does not fit ``G``, a bad data folder.
    """
    from tqdm.auto import tqdm

    if not isinstance(steps, int) or steps < 0:
        raise GanlensError(f"steps {steps!r} must be a non-negative integer")
    if not isinstance(batch_size, int) or batch_size < 2:
        raise GanlensError(f"batch size {batch_size!r} must be an integer of at least 2 (batch norm needs 2)")
    if lr <= 0:
        raise GanlensError(f"learning rate {lr!r} must be positive")
    device = torch.device(device)
    rng = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    G = G.eval().requires_grad_(False).to(device)
    if encoder is None:
        encoder = Encoder(config or EncoderConfig.for_generator(G), meta=meta)
    elif meta:
        encoder.meta.update(meta)
    encoder.fits(G)
    encoder = encoder.to(device).train().requires_grad_(True)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-8)
    real = (
        load_image_folder(data_dir, G.resolution, channels=G.img_channels) if data_dir is not None else None
    )
    disc = discriminator.to(device).train() if (discriminator is not None and real is not None) else None
    opt_d = (
        torch.optim.Adam(disc.parameters(), lr=d_lr or lr, betas=(0.9, 0.99), eps=1e-8)
        if disc is not None and any(True for _ in disc.parameters())
        else None
    )
    settings = {
        "batch_size": batch_size,
        "lr": lr,
        "lr_decay": lr_decay,
        "code_weight": code_weight,
        "image_weight": image_weight,
        "real_weight": real_weight,
        "perceptual_weight": perceptual_weight if perceptual is not None else 0.0,
        "adv_weight": adv_weight if disc is not None else 0.0,
        "augment": augment,
        "bf16": bf16,
        "data_dir": str(data_dir) if data_dir is not None else None,
    }
    history: dict[str, list[float]] = {"total": [], "code": [], "image": []}
    if real is not None:
        history.update({"real": [], "perceptual": [], "adv": [], "disc": []})
    start = 0
    seconds_before = 0.0
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckdir is not None:
        ckdir.mkdir(parents=True, exist_ok=True)
        loaded = _load_checkpoint(ckdir) if resume else None
        if loaded is not None:
            tensors, state = loaded
            if state.get("encoder_config") != encoder.config.to_dict():
                raise CheckpointError(
                    f"checkpoint in {str(ckdir)!r} is for another encoder config; "
                    "use another folder or resume=False"
                )
            from ganlens.generators.native import load_state_dict_strict

            load_state_dict_strict(encoder, _sub_state(tensors, "E"), source=str(ckdir / CKPT_WEIGHTS))
            _restore_optimizer("optE", opt, tensors, state["optE"])
            rng.set_state(tensors["rng"])
            if disc is not None and "optD" in state:
                load_state_dict_strict(disc, _sub_state(tensors, "D"), source=str(ckdir / CKPT_WEIGHTS))
                if opt_d is not None:
                    _restore_optimizer("optD", opt_d, tensors, state["optD"])
            history = {k: list(v) for k, v in state["history"].items()}
            start = int(state["step"])
            seconds_before = float(state.get("seconds", 0.0))

    decay_every = max(1, math.ceil(steps / 4))
    warn_if_bf16_slow(device, enabled=bf16)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    t0 = time.time()
    bar = tqdm(range(start, steps), initial=start, total=steps, disable=not progress, desc="train encoder")
    step = start
    for step in range(start, steps):
        cur_lr = lr * lr_decay ** (step // decay_every)
        for g in opt.param_groups:
            g["lr"] = cur_lr
        with torch.no_grad(), autocast:
            z = torch.randn(batch_size, G.z_dim, generator=rng).to(device)
            codes = G.mapping(z)
            x = G.synthesis(codes).float()
        n_code = batch_size
        if augment:
            n_code = batch_size // 2
            x = torch.cat([x[:n_code], x[n_code:].flip(3)])  # mirrored half: image term only
        with autocast:
            pred = encoder(x)
            rec = G.synthesis(pred)
        loss_code = F.mse_loss(pred[:n_code].float(), codes[:n_code].float())
        loss_img = F.mse_loss(rec.float(), x)
        loss = code_weight * loss_code + image_weight * loss_img
        logs = {"code": loss_code.item(), "image": loss_img.item()}
        if real is not None:
            idx = torch.randint(len(real), (batch_size,), generator=rng)
            y = real[idx].to(device)
            if augment:
                flip = torch.rand(batch_size, generator=rng) < 0.5
                y = torch.where(flip.to(device)[:, None, None, None], y.flip(3), y)
            with autocast:
                fake = G.synthesis(encoder(y)).float()
            loss_real = F.mse_loss(fake, y)
            loss = loss + real_weight * loss_real
            logs["real"] = loss_real.item()
            logs["perceptual"] = 0.0
            logs["adv"] = 0.0
            logs["disc"] = 0.0
            if perceptual is not None:
                loss_p = perceptual(fake, y).mean()  # a scalar or (N,) distances
                loss = loss + perceptual_weight * loss_p
                logs["perceptual"] = loss_p.item()
            if disc is not None:
                disc.requires_grad_(False)
                loss_adv = F.softplus(-disc(fake)).mean()
                loss = loss + adv_weight * loss_adv
                logs["adv"] = loss_adv.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if disc is not None and opt_d is not None:
            disc.requires_grad_(True)
            loss_d = F.softplus(disc(fake.detach())).mean() + F.softplus(-disc(y)).mean()
            loss_d = loss_d + r1_gamma / 2 * _r1_penalty(disc, y)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            logs["disc"] = loss_d.item()
        history["total"].append(loss.item())
        for k, v in logs.items():
            history[k].append(v)
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", code=f"{logs['code']:.3f}", img=f"{logs['image']:.4f}")
        done = step + 1
        if ckdir is not None and (done % checkpoint_every == 0 or done == steps):
            _save_checkpoint(
                ckdir,
                step=done,
                encoder=encoder,
                opt=opt,
                rng=rng,
                history=history,
                settings=settings,
                seconds=seconds_before + time.time() - t0,
                disc=disc,
                opt_d=opt_d,
            )
            save_loss_plot(history, ckdir / "loss.png")
    bar.close()
    total = max(step + 1, start) if steps > start else start
    if ckdir is not None and steps > start:
        save_loss_plot(history, ckdir / "loss.png")
    encoder.meta.setdefault("training", {})
    encoder.meta["training"] = {
        **settings,
        "steps": total,
        "seconds": round(seconds_before + time.time() - t0, 1),
    }
    encoder.eval().requires_grad_(False)
    return TrainResult(
        encoder=encoder,
        steps=total,
        history=history,
        seconds=time.time() - t0,
        checkpoint_dir=ckdir,
        resumed_from=start,
        total_seconds=seconds_before + time.time() - t0,
    )
