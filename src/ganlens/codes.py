"""The saved-codes file (``.npz``) that generate, invert and edit exchange.

Keys:
    codes: (N, *code_shape) float32, exactly what ``G.synthesis`` consumes (w+ or z).
    z: (N, z_dim) float32, when the codes came from sampled z (optional).
    names: (N,) str, one label per row (seed or input file stem).
    model: () str, the model id the codes belong to.
    code_shape: (k,) int64, for a clear error when loaded against another model.
    multi_codes / multi_alpha / multi_layer: mGANprior codes (N, n_codes, *code_shape),
        channel importance (N, n_codes, C) and the composition layer (optional).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlens.errors import GanlensError
from ganlens.utils.io import load_npz, save_npz


@dataclass
class CodesFile:
    codes: np.ndarray
    model: str
    names: list[str] = field(default_factory=list)
    z: np.ndarray | None = None
    multi_codes: np.ndarray | None = None
    multi_alpha: np.ndarray | None = None
    multi_layer: int | None = None

    def __post_init__(self) -> None:
        self.codes = np.asarray(self.codes, dtype=np.float32)
        if not self.names:
            self.names = [str(i) for i in range(len(self.codes))]
        if len(self.names) != len(self.codes):
            raise GanlensError(f"codes file has {len(self.codes)} codes but {len(self.names)} names")

    def save(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "codes": self.codes,
            "names": np.array(self.names, dtype=str),
            "model": np.array(self.model, dtype=str),
            "code_shape": np.array(self.codes.shape[1:], dtype=np.int64),
        }
        if self.z is not None:
            arrays["z"] = np.asarray(self.z, dtype=np.float32)
        if self.multi_codes is not None:
            arrays["multi_codes"] = np.asarray(self.multi_codes, dtype=np.float32)
            arrays["multi_alpha"] = np.asarray(self.multi_alpha, dtype=np.float32)
            arrays["multi_layer"] = np.array(int(self.multi_layer), dtype=np.int64)
        save_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> CodesFile:
        path = Path(path)
        d = load_npz(path, "codes file")
        if "codes" not in d:
            raise GanlensError(
                f"{str(path)!r} has no 'codes' array; it was not written by ganlens generate/invert"
            )
        return cls(
            codes=d["codes"],
            model=str(d.get("model", "")),
            names=[str(s) for s in d["names"]] if "names" in d else [],
            z=d.get("z"),
            multi_codes=d.get("multi_codes"),
            multi_alpha=d.get("multi_alpha"),
            multi_layer=int(d["multi_layer"]) if "multi_layer" in d else None,
        )

    def check_model(self, G, model_id: str | None = None) -> None:
        """Raise a one-line error when these codes do not fit generator ``G``."""
        if tuple(self.codes.shape[1:]) != tuple(G.code_shape):
            raise GanlensError(
                f"codes have shape {tuple(self.codes.shape[1:])} per item (model {self.model or '?'}) but "
                f"{model_id or G.arch} expects {tuple(G.code_shape)}"
            )

    def tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.from_numpy(self.codes).to(device)
