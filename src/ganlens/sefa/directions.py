"""A set of latent directions (SeFa, GANSpace, random, InterFaceGAN) and its file format.

On disk a :class:`Directions` is two files with the same stem:

* ``NAME.npz``: ``vectors`` (K, d) float32, one unit direction per row, and ``eigenvalues`` (K,)
  float64 (for methods without eigenvalues: the variance or score the method ranks by).
* ``NAME.json``: everything a human may want to read or edit: ``model_id``, ``method``, ``layers``
  (the editable layers the directions were computed on and are applied to), ``code_shape``,
  ``names`` (one label per direction, editable with ``ganlens sefa-name``) and optional ``metrics``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlens.errors import GanlensError
from ganlens.utils.io import load_npz, save_npz, write_json

FORMAT_VERSION = 1


def default_name(k: int) -> str:
    return f"direction {k}"


def latent_dim(G) -> int:
    """Size of the vector a direction lives in: w_dim (style-based) or z_dim (projection)."""
    return int(G.w_dim if G.style_based else G.z_dim)


@dataclass
class Directions:
    """K unit directions in a generator's latent space.

    Attributes:
        vectors: (K, d) float32, row k is direction k (unit norm).
        eigenvalues: (K,) float64 ranking scores (SeFa: eigenvalues of AᵀA, descending).
        layers: editable layers the directions belong to; edits move these w+ rows (style-based)
            or z (projection generators, always ``(0,)``); empty means all layers.
        model_id: the model the directions were computed for.
        method: ``sefa``, ``rosinality``, ``ganspace``, ``random`` or ``interfacegan``.
        code_shape: per-sample code shape of that model.
        names: one label per direction (default ``"direction k"``).
        metrics: optional per-direction measurements, ``{metric: [K values]}``.
    """

    vectors: np.ndarray
    eigenvalues: np.ndarray
    layers: tuple[int, ...]
    model_id: str = ""
    method: str = "sefa"
    code_shape: tuple[int, ...] = ()
    names: list[str] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vectors = np.ascontiguousarray(np.asarray(self.vectors, dtype=np.float32))
        if self.vectors.ndim != 2 or self.vectors.shape[0] == 0:
            raise GanlensError(
                f"directions must be a (K, d) array with K >= 1, got shape {self.vectors.shape}"
            )
        self.eigenvalues = np.asarray(self.eigenvalues, dtype=np.float64).reshape(-1)
        if len(self.eigenvalues) != len(self.vectors):
            raise GanlensError(f"{len(self.vectors)} directions but {len(self.eigenvalues)} eigenvalues")
        self.layers = tuple(int(i) for i in self.layers)
        self.code_shape = tuple(int(s) for s in self.code_shape)
        if not self.names:
            self.names = [default_name(k) for k in range(len(self.vectors))]
        self.names = [str(n) for n in self.names]
        if len(self.names) != len(self.vectors):
            raise GanlensError(f"{len(self.vectors)} directions but {len(self.names)} names")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """(K, d) float32 tensor of the directions."""
        return torch.from_numpy(self.vectors).to(device)

    def check_index(self, index: int) -> int:
        if not isinstance(index, (int, np.integer)) or not (0 <= index < len(self)):
            raise GanlensError(f"direction index {index!r} is out of range; allowed 0 to {len(self) - 1}")
        return int(index)

    def top(self, k: int) -> Directions:
        """The first k directions (they are sorted by eigenvalue)."""
        if not (isinstance(k, int) and 1 <= k <= len(self)):
            raise GanlensError(f"number of directions {k!r} is not allowed; use 1 to {len(self)}")
        return Directions(
            vectors=self.vectors[:k],
            eigenvalues=self.eigenvalues[:k],
            layers=self.layers,
            model_id=self.model_id,
            method=self.method,
            code_shape=self.code_shape,
            names=self.names[:k],
            metrics={m: list(v[:k]) for m, v in self.metrics.items()},
        )

    def rename(self, index: int, name: str) -> None:
        """Give direction ``index`` a human label (e.g. ``"pose"``)."""
        index = self.check_index(index)
        name = " ".join(str(name).split())
        if not name:
            raise GanlensError("a direction name must not be empty")
        self.names[index] = name

    def check_model(self, G, model_id: str | None = None) -> None:
        """Raise a one-line error unless these directions fit generator ``G`` (and ``model_id``)."""
        d = latent_dim(G)
        who = model_id or G.arch
        if self.dim != d:
            raise GanlensError(
                f"directions have latent size {self.dim} (model {self.model_id or '?'}) "
                f"but {who} has latent size {d}"
            )
        if self.code_shape and tuple(self.code_shape) != tuple(G.code_shape):
            raise GanlensError(
                f"directions were made for codes of shape {self.code_shape} (model {self.model_id or '?'}) "
                f"but {who} uses {tuple(G.code_shape)}"
            )
        bad = [i for i in self.layers if not 0 <= i < G.num_layers]
        if bad:
            raise GanlensError(f"directions use layers {bad} but {who} has layers 0 to {G.num_layers - 1}")
        if model_id and self.model_id and model_id != self.model_id:
            raise GanlensError(
                f"directions were computed for model {self.model_id!r}, not {model_id!r}; "
                "pass --ignore-model-id if the two are the same network"
            )

    # ------------------------------------------------------------------ files
    @staticmethod
    def _paths(path: str | Path) -> tuple[Path, Path]:
        p = Path(path)
        if p.suffix in (".npz", ".json"):
            p = p.with_suffix("")
        return p.with_name(p.name + ".npz"), p.with_name(p.name + ".json")

    def meta(self) -> dict[str, Any]:
        return {
            "format": "ganlens-directions",
            "version": FORMAT_VERSION,
            "model_id": self.model_id,
            "method": self.method,
            "layers": list(self.layers),
            "code_shape": list(self.code_shape),
            "num_directions": len(self),
            "latent_dim": self.dim,
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "names": list(self.names),
            "metrics": {k: [float(x) for x in v] for k, v in self.metrics.items()},
        }

    def save(self, path: str | Path) -> Path:
        """Write ``STEM.npz`` and ``STEM.json`` atomically; returns the .npz path."""
        npz, js = self._paths(path)
        save_npz(npz, vectors=self.vectors, eigenvalues=self.eigenvalues)
        write_json(js, self.meta())
        return npz

    def save_meta(self, path: str | Path) -> None:
        """Rewrite only the JSON side (names, metrics) of a saved file."""
        write_json(self._paths(path)[1], self.meta())

    @classmethod
    def load(cls, path: str | Path) -> Directions:
        """Read a directions file written by :meth:`save` (give the .npz, the .json or the stem)."""
        npz, js = cls._paths(path)
        arrays = load_npz(npz, "directions file")
        if "vectors" not in arrays:
            raise GanlensError(f"{str(npz)!r} has no 'vectors' array; it was not written by ganlens sefa")
        meta: dict[str, Any] = {}
        if js.is_file():
            try:
                meta = json.loads(js.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise GanlensError(f"directions metadata {str(js)!r} is not valid JSON: {e}") from None
            if not isinstance(meta, dict):
                raise GanlensError(f"directions metadata {str(js)!r} is not a JSON object")
        vectors = arrays["vectors"]
        eig = arrays.get("eigenvalues", meta.get("eigenvalues", np.zeros(len(vectors))))
        return cls(
            vectors=vectors,
            eigenvalues=eig,
            layers=tuple(meta.get("layers", ())),  # no metadata: applies to all layers
            model_id=str(meta.get("model_id", "")),
            method=str(meta.get("method", "")),
            code_shape=tuple(meta.get("code_shape", ())),
            names=list(meta.get("names", [])),
            metrics={k: list(v) for k, v in (meta.get("metrics") or {}).items()},
        )
