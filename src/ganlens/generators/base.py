"""The one generator interface every ganlens tool uses.

Every architecture (DCGAN, PGGAN, StyleGAN, StyleGAN2) subclasses :class:`Generator`. Tools
(SeFa, inversion, mGANprior, text guidance, the CLI) only ever talk to this interface and never
branch on an architecture's name; where behaviour must differ they read properties such as
:attr:`Generator.style_based` or call the hooks below.

Vocabulary
----------
* **z**: the input noise, shape ``(N, z_dim)``.
* **code**: what :meth:`Generator.synthesis` consumes. For style-based models it is w+, shape
  ``(N, num_ws, w_dim)``; for projection models (DCGAN/PGGAN) it is z itself, ``(N, z_dim)``.
  :attr:`Generator.code_shape` gives the per-sample shape.
* **editable layer**: an index SeFa can factorize and edits can target. Style-based: the w+ rows
  ``0 .. num_ws-1``. Projection: only ``0`` (the first, latent-to-feature layer).
* **synthesis layer / split point**: synthesis is a sequence of ``num_split_layers`` layers.
  ``synthesis_head(codes, l)`` runs layers ``[0, l)`` and returns a feature map;
  ``synthesis_tail(feature, codes, l)`` runs the rest. Valid ``l`` is ``1 .. num_split_layers-1``.
  This is the split mGANprior composes features at.

Images are NCHW float RGB with nominal range :attr:`Generator.image_range` = (-1, 1).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ganlens.errors import GanlensError

NOISE_MODES = ("random", "const", "none")


@dataclass(frozen=True)
class GeneratorConfig:
    """Base of every architecture config. Subclasses are frozen dataclasses validated on creation.

    Attributes:
        resolution: output height = width, a power of two in [8, 1024].
        z_dim: size of the input noise z.
        img_channels: output channels (3 for RGB).
    """

    arch: ClassVar[str] = ""
    #: names of the (base, max) fields behind :meth:`nf`, for configs with the NVIDIA channel rule
    channel_fields: ClassVar[tuple[str, str] | None] = None

    resolution: int = 64
    z_dim: int = 512
    img_channels: int = 3

    def __post_init__(self) -> None:
        r = self.resolution
        if not (isinstance(r, int) and 8 <= r <= 1024 and r & (r - 1) == 0):
            raise GanlensError(f"resolution {r!r} is not allowed; use a power of two from 8 to 1024")
        if self.z_dim <= 0:
            raise GanlensError(f"z_dim {self.z_dim!r} must be positive")
        if self.img_channels not in (1, 3):
            raise GanlensError(f"img_channels {self.img_channels!r} must be 1 or 3")
        if self.channel_fields is not None:
            for name in self.channel_fields:
                v = getattr(self, name)
                if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                    raise GanlensError(f"{name} {v!r} must be a positive integer")
            base = self.channel_fields[0]
            if self.nf(r) < 1:
                raise GanlensError(
                    f"{base} {getattr(self, base)} gives no channels at resolution {r}; use at least {r}"
                )

    def nf(self, r: int) -> int:
        """Feature maps at resolution ``r``: ``min(base // r, max)`` over :attr:`channel_fields`."""
        if self.channel_fields is None:
            raise NotImplementedError(f"{type(self).__name__} has no base/max channel rule")
        base, cap = (getattr(self, n) for n in self.channel_fields)
        return min(base // r, cap)

    @property
    def log2_resolution(self) -> int:
        return int(np.log2(self.resolution))

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GeneratorConfig:
        """Rebuild a config from :meth:`to_dict` output, rejecting unknown fields."""
        d = dict(d)
        arch = d.pop("arch", cls.arch)
        if cls.arch and arch != cls.arch:
            raise GanlensError(f"config is for architecture {arch!r}, expected {cls.arch!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise GanlensError(
                f"unknown config fields {unknown} for {cls.__name__}; allowed: {sorted(names)}"
            )
        for f in dataclasses.fields(cls):  # JSON turns tuples into lists
            if f.name in d and isinstance(d[f.name], list):
                d[f.name] = tuple(d[f.name])
        return cls(**d)


def check_noise_mode(noise_mode: str) -> str:
    if noise_mode not in NOISE_MODES:
        raise GanlensError(f"noise mode {noise_mode!r} is not allowed; use one of {', '.join(NOISE_MODES)}")
    return noise_mode


def z_from_seeds(seeds: list[int] | tuple[int, ...], z_dim: int) -> Tensor:
    """z for each seed, the way NVIDIA's ``generate.py`` draws it: ``RandomState(seed).randn(z_dim)``.

    So seed ``s`` gives the same z here as in the official scripts. Returns (N, z_dim) float32.
    """
    zs = [np.random.RandomState(int(s)).randn(z_dim) for s in seeds]
    return torch.from_numpy(np.stack(zs)).float()


def layer_groups_for(num_ws: int) -> dict[str, tuple[int, ...]]:
    """coarse / middle / fine w+ rows, by resolution as in the StyleGAN paper.

    coarse = 4²–8² (rows 0–3), middle = 16²–32² (rows 4–7), fine = 64² and up (rows 8…). For an
    18-entry model this is the 0–3 / 4–7 / 8–17 split used by mGANprior's ``manipulate.py``.
    Small models can have an empty ``fine`` group.
    """
    return {
        "coarse": tuple(range(0, min(4, num_ws))),
        "middle": tuple(range(4, min(8, num_ws))),
        "fine": tuple(range(8, num_ws)),
    }


class Generator(nn.Module):
    """Abstract generator. Subclasses implement the ``_``-free abstract methods below.

    Class attributes:
        arch: registry name of the architecture (``"dcgan"``, ``"pggan"``, ``"stylegan"``, ``"stylegan2"``).
        style_based: True when there is a mapping network and a w+ space.
        config_class: the frozen config dataclass.
    """

    arch: ClassVar[str] = ""
    style_based: ClassVar[bool] = False
    config_class: ClassVar[type[GeneratorConfig]] = GeneratorConfig
    image_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config)}")
        self.config = config

    # ------------------------------------------------------------------ sizes and spaces
    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def img_channels(self) -> int:
        return self.config.img_channels

    @property
    def c_dim(self) -> int:
        """Size of the class label of a conditional model (0: unconditional, every family but
        conditional StyleGAN2s)."""
        return int(getattr(self.config, "c_dim", 0))

    @property
    def w_dim(self) -> int:
        """Size of one w vector (the config's ``w_dim``); 0 for projection generators."""
        return self.config.w_dim if self.style_based else 0

    @property
    def num_ws(self) -> int:
        """Number of w+ rows (the config's ``num_ws``); 0 for projection generators."""
        return self.config.num_ws if self.style_based else 0

    @property
    def latent_spaces(self) -> tuple[str, ...]:
        return ("z", "w", "w+") if self.style_based else ("z",)

    @property
    def code_shape(self) -> tuple[int, ...]:
        """Per-sample shape of the code :meth:`synthesis` consumes."""
        return (self.num_ws, self.w_dim) if self.style_based else (self.z_dim,)

    @property
    def num_layers(self) -> int:
        """Number of editable layers (w+ rows, or 1 for projection generators)."""
        return self.num_ws if self.style_based else 1

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def layer_groups(self) -> dict[str, tuple[int, ...]]:
        """Named groups of editable layers: coarse, middle, fine (projection: all are ``(0,)``)."""
        if not self.style_based:
            return {"coarse": (0,), "middle": (0,), "fine": (0,)}
        return layer_groups_for(self.num_ws)

    # ------------------------------------------------------------------ sampling
    def sample_z(
        self,
        n: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Draw (n, z_dim) standard-normal z; ``seed`` makes it reproducible."""
        if seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, self.z_dim, generator=generator)
        return z.to(device if device is not None else self.device)

    def z_from_seeds(self, seeds: list[int] | tuple[int, ...]) -> Tensor:
        """One z per seed, matching NVIDIA's ``generate.py`` (see :func:`z_from_seeds`)."""
        return z_from_seeds(seeds, self.z_dim).to(self.device)

    # ------------------------------------------------------------------ mapping / synthesis
    def mapping(self, z: Tensor, *, trunc_psi: float = 1.0, trunc_cutoff: int | None = None) -> Tensor:
        """z (N, z_dim) → code. Style-based: w+ (N, num_ws, w_dim), truncated towards w_avg on
        rows ``< trunc_cutoff`` (all rows when None). Projection: z itself (truncation ignored)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise GanlensError(f"z has shape {tuple(z.shape)}; expected (N, {self.z_dim})")
        return z

    def truncate(self, ws: Tensor, *, trunc_psi: float = 1.0, trunc_cutoff: int | None = None) -> Tensor:
        """``w_avg + psi (w - w_avg)`` on rows ``< trunc_cutoff`` of w+ (N, num_ws, w_dim)."""
        if not self.style_based or trunc_psi == 1.0 or trunc_cutoff == 0:
            return ws
        w_avg = self.w_avg.to(ws.dtype)
        cutoff = self.num_ws if trunc_cutoff is None else int(trunc_cutoff)
        out = ws.clone()
        out[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], trunc_psi)
        return out

    @property
    def w_avg(self) -> Tensor:
        """Average w (w_dim,) used for truncation; style-based models only."""
        raise GanlensError(f"{self.arch} has no w space")

    def synthesis(
        self, codes: Tensor, *, noise_mode: str = "const", generator: torch.Generator | None = None
    ) -> Tensor:
        """code → image (N, C, R, R). ``noise_mode`` is random, const or none (style-based only)."""
        codes = self.check_codes(codes)
        check_noise_mode(noise_mode)
        return self._run_layers(
            None, codes, 0, self.num_split_layers, noise_mode=noise_mode, generator=generator
        )

    def _run_layers(
        self,
        x: Tensor | None,
        codes: Tensor,
        start: int,
        stop: int,
        *,
        noise_mode: str,
        generator: torch.Generator | None,
    ) -> Tensor:
        """Run synthesis layers ``[start, stop)`` on checked inputs; the one method architectures write.

        ``x`` is None when ``start == 0`` (the input comes from ``codes``), else a feature shaped as
        :meth:`feature_shape` says. Returns the feature after layer ``stop - 1``, or the image when
        ``stop == num_split_layers``.
        """
        raise NotImplementedError

    def forward(
        self,
        z: Tensor,
        *,
        trunc_psi: float = 1.0,
        trunc_cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> Tensor:
        return self.synthesis(
            self.mapping(z, trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff), noise_mode=noise_mode
        )

    def normalize_code(self, codes: Tensor) -> Tensor:
        """Project codes onto the set the generator actually sees (PGGAN: pixel-normalised z).

        Editing tools call this before moving a code so that distances mean the same thing as in
        the official tools. Identity by default.
        """
        return codes

    def check_codes(self, codes: Tensor) -> Tensor:
        """Raise a clear error unless ``codes`` has shape (N, *code_shape)."""
        if tuple(codes.shape[1:]) != self.code_shape or codes.ndim != 1 + len(self.code_shape):
            raise GanlensError(
                f"codes have shape {tuple(codes.shape)}; this {self.arch} model expects (N, "
                + ", ".join(str(s) for s in self.code_shape)
                + ")"
            )
        return codes

    # ------------------------------------------------------------------ SeFa
    def projection_weights(self) -> dict[int, Tensor]:
        """The matrix A of ``y = A·latent + b`` for each editable layer, as {layer: (M_l, d)}.

        d = w_dim (style-based) or z_dim (projection). These are the stored weights (runtime
        scalars like the equalised-lr coefficient do not matter: SeFa normalises rows).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ split point (mGANprior)
    @property
    def num_split_layers(self) -> int:
        """Number of synthesis layers; valid split points are ``1 .. num_split_layers - 1``."""
        raise NotImplementedError

    def check_split_layer(self, layer: int) -> int:
        if not (isinstance(layer, int) and 1 <= layer < self.num_split_layers):
            raise GanlensError(
                f"composition layer {layer!r} is out of range; this model allows 1 to {self.num_split_layers - 1}"
            )
        return layer

    def feature_shape(self, layer: int) -> tuple[int, int, int]:
        """(C, H, W) of the feature returned by ``synthesis_head(codes, layer)``."""
        raise NotImplementedError

    def synthesis_head(
        self,
        codes: Tensor,
        layer: int,
        *,
        noise_mode: str = "const",
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Run synthesis layers ``[0, layer)`` and return the feature (N, C, H, W)."""
        self.check_split_layer(layer)
        codes = self.check_codes(codes)
        check_noise_mode(noise_mode)
        return self._run_layers(None, codes, 0, layer, noise_mode=noise_mode, generator=generator)

    def synthesis_tail(
        self,
        feature: Tensor,
        codes: Tensor,
        layer: int,
        *,
        noise_mode: str = "const",
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Run synthesis layers ``[layer, end)`` from ``feature``; ``codes`` supplies the styles those
        layers need (ignored by projection generators). ``tail(head(c, l), c, l) == synthesis(c)``."""
        self.check_split_layer(layer)
        codes = self.check_codes(codes)
        check_noise_mode(noise_mode)
        want = self.feature_shape(layer)
        if feature.ndim != 4 or tuple(feature.shape[1:]) != want:
            raise GanlensError(
                f"feature has shape {tuple(feature.shape)}; layer {layer} expects "
                f"(N, {', '.join(map(str, want))})"
            )
        return self._run_layers(
            feature, codes, layer, self.num_split_layers, noise_mode=noise_mode, generator=generator
        )

    # ------------------------------------------------------------------ noise (style-based)
    def noise_buffers(self) -> list[Tensor]:
        """The stored per-layer noise maps used by ``noise_mode='const'`` (empty if none).

        The NVIDIA projector re-initialises and optimises these in place.
        """
        return []

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str, *, overwrite: bool = False) -> None:
        """Write ``config.json`` + ``model.safetensors`` (see :mod:`ganlens.generators.native`)."""
        from ganlens.generators.native import save_generator

        save_generator(self, directory, overwrite=overwrite)

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> Generator:
        return cls(config)

    def extra_repr(self) -> str:
        return f"arch={self.arch}, resolution={self.resolution}, z_dim={self.z_dim}, num_ws={self.num_ws}"
