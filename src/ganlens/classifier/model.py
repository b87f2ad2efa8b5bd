"""A small CNN that predicts every ToonFaces factor (one head per factor, built from the schema)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlens.data.toonfaces.schema import TOONFACES_SCHEMA, Schema
from ganlens.errors import GanlensError


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of :class:`AttributeClassifier`.

    Attributes:
        resolution: input size the network runs at (other sizes are resized to it); power of two >= 16.
        channels: widths of the stem and of each following stride-2 stage (each stage: a stride-2 conv
            and a stride-1 conv, BatchNorm, ReLU).
        stem_stride: stride of the first conv (2 halves the cost of everything after it).
        feature_dim: size of the penultimate features (used by ``toon_fd``).
        schema: the factor schema as a dict (``Schema.to_dict()``); the heads follow it.
    """

    resolution: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 192)
    stem_stride: int = 2
    feature_dim: int = 256
    schema: dict[str, Any] = field(default_factory=TOONFACES_SCHEMA.to_dict)

    def __post_init__(self) -> None:
        r = self.resolution
        if not (isinstance(r, int) and r >= 16 and r & (r - 1) == 0):
            raise GanlensError(f"classifier resolution {r!r} must be a power of two >= 16")
        if self.stem_stride not in (1, 2):
            raise GanlensError(f"stem_stride {self.stem_stride!r} must be 1 or 2")
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in self.channels):
            raise GanlensError(f"channels {self.channels!r}: every width must be an integer >= 1")
        if len(self.channels) < 2 or self.final_side < 2:
            raise GanlensError(f"channels {self.channels!r} downsample {r} px below 2x2; use fewer entries")
        if self.feature_dim <= 0:
            raise GanlensError(f"feature_dim {self.feature_dim!r} must be positive")

    @property
    def final_side(self) -> int:
        return self.resolution // (self.stem_stride * 2 ** (len(self.channels) - 1))

    def to_dict(self) -> dict[str, Any]:
        return {"arch": "toonfaces-classifier", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifierConfig:
        d = {k: v for k, v in d.items() if k != "arch"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise GanlensError(f"unknown classifier config fields {unknown}; allowed: {sorted(names)}")
        if "channels" in d:
            d["channels"] = tuple(d["channels"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class AttributeClassifier(nn.Module):
    """Predicts all factors of a schema from an image in [-1, 1].

    ``forward`` returns raw outputs per factor: logits (N, K) for categorical factors, a value
    (N,) in the normalised range [-1, 1] for continuous ones. Use :meth:`predict` for decoded
    predictions and :meth:`features` for the (N, feature_dim) penultimate features.
    """

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = config or ClassifierConfig()
        self.schema: Schema = Schema.from_dict(self.config.schema)
        ch = self.config.channels
        # +2 input channels: pixel coordinates, so head position and tilt are easy to read
        layers = [_conv(3 + 2, ch[0], self.config.stem_stride), _conv(ch[0], ch[0], 1)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [_conv(cin, cout, 2), _conv(cout, cout, 1)]
        self.body = nn.Sequential(*layers)
        side = self.config.final_side
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(ch[-1] * side * side, self.config.feature_dim), nn.ReLU(inplace=True)
        )
        self.heads = nn.ModuleDict(
            {
                f.name: nn.Linear(self.config.feature_dim, f.num_classes if f.categorical else 1)
                for f in self.schema
            }
        )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _prepare(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise GanlensError(f"images must be (N, 3, H, W) in [-1, 1]; got shape {tuple(images.shape)}")
        x = images.to(self.device, torch.float32)
        r = self.config.resolution
        if x.shape[-2:] != (r, r):
            mode = "area" if x.shape[-1] > r else "bilinear"
            x = F.interpolate(
                x, size=(r, r), mode=mode, **({"align_corners": False} if mode == "bilinear" else {})
            )
        n = x.shape[0]
        lin = torch.linspace(-1.0, 1.0, r, device=x.device)
        yy, xx = torch.meshgrid(lin, lin, indexing="ij")
        coords = torch.stack([xx, yy])[None].expand(n, 2, r, r)
        return torch.cat([x, coords], 1)  # (N, 5, r, r)

    def features(self, images: Tensor) -> Tensor:
        """Penultimate features (N, feature_dim)."""
        return self.fc(self.body(self._prepare(images)))

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        return self.heads_from_features(self.features(images))

    def heads_from_features(self, feats: Tensor) -> dict[str, Tensor]:
        out = {}
        for f in self.schema:
            y = self.heads[f.name](feats)
            out[f.name] = y if f.categorical else y[:, 0]
        return out

    @torch.no_grad()
    def predict(self, images: Tensor, *, batch_size: int = 256, probs: bool = False) -> dict[str, Tensor]:
        """Decoded predictions per factor: class index (N,) long for categorical factors (or class
        probabilities (N, K) with ``probs=True``), value (N,) in schema units for continuous ones.
        Runs in eval mode, in batches."""
        was_training = self.training
        self.eval()
        outs: dict[str, list[Tensor]] = {f.name: [] for f in self.schema}
        for s in range(0, images.shape[0], batch_size):
            raw = self(images[s : s + batch_size])
            for f in self.schema:
                y = raw[f.name].float().cpu()
                if f.categorical:
                    outs[f.name].append(y.softmax(-1) if probs else y.argmax(-1))
                else:
                    outs[f.name].append(f.denormalize(y.clamp(-1.0, 1.0)))
        self.train(was_training)
        return {k: torch.cat(v) for k, v in outs.items()}

    @torch.no_grad()
    def extract_features(self, images: Tensor, *, batch_size: int = 256) -> Tensor:
        """:meth:`features` in eval mode and batches, on CPU."""
        was_training = self.training
        self.eval()
        feats = [
            self.features(images[s : s + batch_size]).cpu() for s in range(0, images.shape[0], batch_size)
        ]
        self.train(was_training)
        return torch.cat(feats)

    def predict_records(self, images: Tensor, **kw: Any) -> list[dict[str, Any]]:
        """Predictions as attribute records (class names; None where a condition rules a factor out)."""
        pred = self.predict(images, **kw)
        n = images.shape[0]
        recs: list[dict[str, Any]] = [{} for _ in range(n)]
        for f in self.schema:
            for i in range(n):
                v = pred[f.name][i]
                recs[i][f.name] = f.classes[int(v)] if f.categorical else round(float(v), 4)
        for r in recs:
            for f in self.schema:
                if not f.applies(r):
                    r[f.name] = None
        return recs
