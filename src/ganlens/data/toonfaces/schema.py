"""The ToonFaces factor schema: every factor of variation, its kind, classes or range.

The schema is the single source of truth that the renderer samples from, the captions describe,
the classifier builds its heads from and the metrics bin. A factor is either categorical (with
class names) or continuous (with a closed range). A factor may be *conditional*: it only exists
when another factor takes one of some values (the eye colour is hidden behind sunglasses, a bald
head has no hair colour); records then store ``None`` for it and metrics skip it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ganlens.errors import GanlensError

CATEGORICAL = "categorical"
CONTINUOUS = "continuous"


@dataclass(frozen=True)
class Factor:
    """One factor of variation.

    Attributes:
        name: key in the attribute record.
        kind: ``"categorical"`` or ``"continuous"``.
        classes: class names (categorical only), in label order.
        probs: sampling probability per class (categorical; uniform when empty).
        range: ``(lo, hi)`` (continuous only); values are sampled uniformly in it.
        description: one line for humans.
        requires: ``(factor, allowed values)``: the factor is defined only when that other factor
            takes one of the allowed values, otherwise its value is ``None``.
    """

    name: str
    kind: str
    description: str
    classes: tuple[str, ...] = ()
    probs: tuple[float, ...] = ()
    range: tuple[float, float] = (0.0, 1.0)
    requires: tuple[str, tuple[str, ...]] | None = None

    @property
    def categorical(self) -> bool:
        return self.kind == CATEGORICAL

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def applies(self, record: dict[str, Any]) -> bool:
        """Whether this factor is defined for a record (its condition holds)."""
        if self.requires is None:
            return True
        other, allowed = self.requires
        return record.get(other) in allowed

    def normalize(self, value: float) -> float:
        """Map a continuous value from ``range`` to [-1, 1]."""
        lo, hi = self.range
        return 2.0 * (float(value) - lo) / (hi - lo) - 1.0

    def denormalize(self, value: float | np.ndarray | torch.Tensor):
        lo, hi = self.range
        return (value + 1.0) * 0.5 * (hi - lo) + lo

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "description": self.description}
        if self.categorical:
            d["classes"] = list(self.classes)
            d["probs"] = list(self.probs) if self.probs else [1.0 / len(self.classes)] * len(self.classes)
        else:
            d["range"] = list(self.range)
        if self.requires is not None:
            d["requires"] = {"factor": self.requires[0], "values": list(self.requires[1])}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Factor:
        req = d.get("requires")
        return cls(
            name=d["name"],
            kind=d["kind"],
            description=d.get("description", ""),
            classes=tuple(d.get("classes", ())),
            probs=tuple(d.get("probs", ())),
            range=tuple(d.get("range", (0.0, 1.0))),
            requires=(req["factor"], tuple(req["values"])) if req else None,
        )


@dataclass(frozen=True)
class Schema:
    """An ordered set of factors with lookup helpers."""

    factors: tuple[Factor, ...]
    version: int = 1
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({f.name: i for i, f in enumerate(self.factors)})

    def __getitem__(self, name: str) -> Factor:
        if name not in self._index:
            raise GanlensError(f"unknown factor {name!r}; known factors: {', '.join(self.names)}")
        return self.factors[self._index[name]]

    def __iter__(self):
        return iter(self.factors)

    def __len__(self) -> int:
        return len(self.factors)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    @property
    def categorical(self) -> tuple[Factor, ...]:
        return tuple(f for f in self.factors if f.categorical)

    @property
    def continuous(self) -> tuple[Factor, ...]:
        return tuple(f for f in self.factors if not f.categorical)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "factors": [f.to_dict() for f in self.factors]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        try:
            return cls(
                factors=tuple(Factor.from_dict(f) for f in d["factors"]), version=int(d.get("version", 1))
            )
        except (KeyError, TypeError, ValueError) as e:
            raise GanlensError(f"schema is malformed ({e!r}); expected {{'factors': [...]}}") from None

    # --- encoding ----------------------------------------------------------------------------
    def encode(self, records: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Encode records as tensors: class index (long, -1 = not applicable) or value in [-1, 1]
        (float, NaN = not applicable), one entry per factor, each of shape (N,)."""
        out: dict[str, torch.Tensor] = {}
        for f in self.factors:
            if f.categorical:
                idx = [f.classes.index(r[f.name]) if r.get(f.name) is not None else -1 for r in records]
                out[f.name] = torch.tensor(idx, dtype=torch.long)
            else:
                val = [f.normalize(r[f.name]) if r.get(f.name) is not None else float("nan") for r in records]
                out[f.name] = torch.tensor(val, dtype=torch.float32)
        return out

    def check_record(self, record: dict[str, Any]) -> None:
        """Raise GanlensError when a record does not fit the schema."""
        for f in self.factors:
            if f.name not in record:
                raise GanlensError(f"attribute record lacks factor {f.name!r}")
            v = record[f.name]
            if not f.applies(record):
                if v is not None:
                    raise GanlensError(
                        f"factor {f.name!r} must be null when {f.requires[0]!r} is "
                        f"{record.get(f.requires[0])!r}"
                    )
                continue
            if f.categorical and v not in f.classes:
                raise GanlensError(f"factor {f.name!r} has value {v!r}; allowed: {', '.join(f.classes)}")
            if not f.categorical and not (f.range[0] <= float(v) <= f.range[1]):
                raise GanlensError(f"factor {f.name!r} has value {v!r}; allowed range {f.range}")


def _cat(
    name: str, description: str, classes: tuple[str, ...], probs: tuple[float, ...] = (), requires=None
) -> Factor:
    return Factor(name, CATEGORICAL, description, classes=classes, probs=probs, requires=requires)


def _con(name: str, description: str, lo: float, hi: float) -> Factor:
    return Factor(name, CONTINUOUS, description, range=(lo, hi))


HAIR_STYLES = ("bald", "short", "long", "bangs", "curly")

#: The schema every ToonFaces dataset is rendered with (saved as ``schema.json`` beside the data).
TOONFACES_SCHEMA = Schema(
    factors=(
        _cat("face_shape", "outline of the face", ("oval", "square", "heart")),
        _con("face_width", "narrow (0) to wide (1) face", 0.0, 1.0),
        _con("skin_tone", "light (0) to dark (1) skin", 0.0, 1.0),
        _cat("hair_style", "hair style", HAIR_STYLES, (0.12, 0.24, 0.24, 0.2, 0.2)),
        _cat(
            "hair_color",
            "hair colour (not defined for bald heads)",
            ("black", "brown", "blonde", "red", "gray", "blue"),
            requires=("hair_style", HAIR_STYLES[1:]),
        ),
        _cat(
            "eye_color",
            "iris colour (hidden behind sunglasses)",
            ("brown", "blue", "green"),
            requires=("glasses", ("none", "round", "square")),
        ),
        _con("eye_size", "small (0) to big (1) eyes", 0.0, 1.0),
        _cat("brow_shape", "eyebrow shape", ("straight", "arched", "slanted")),
        _cat("glasses", "glasses", ("none", "round", "square", "sunglasses"), (0.45, 0.2, 0.2, 0.15)),
        _con("smile", "frown (-1) to smile (+1)", -1.0, 1.0),
        _cat("mouth_open", "mouth closed or open", ("closed", "open"), (0.6, 0.4)),
        _cat("facial_hair", "beard or moustache", ("none", "moustache", "beard"), (0.6, 0.2, 0.2)),
        _cat("hat", "headwear", ("none", "cap", "beanie"), (0.6, 0.2, 0.2)),
        _cat("earrings", "earrings", ("no", "yes"), (0.7, 0.3)),
        _cat("background", "background colour", ("white", "blue", "green", "yellow", "pink", "purple")),
        _con("roll", "head tilt in degrees (positive = clockwise on screen)", -20.0, 20.0),
        _con("yaw", "head turn: features shift left (-1) or right (+1) on screen", -1.0, 1.0),
        _con("scale", "head size relative to the image", 0.85, 1.1),
        _con("offset_x", "horizontal head position, fraction of the image width", -0.06, 0.06),
        _con("offset_y", "vertical head position, fraction of the image height", -0.05, 0.05),
    )
)


def load_schema(path_or_dict: str | dict[str, Any] | None = None) -> Schema:
    """The built-in schema (``None``), or one read from a ``schema.json`` path or dict."""
    if path_or_dict is None:
        return TOONFACES_SCHEMA
    if isinstance(path_or_dict, dict):
        d = path_or_dict
    else:
        try:
            with open(path_or_dict, encoding="utf-8") as fh:
                d = json.load(fh)
        except (OSError, json.JSONDecodeError) as e:
            raise GanlensError(f"cannot read schema {str(path_or_dict)!r}: {e}") from None
    return Schema.from_dict(d.get("schema", d))


def sample_attributes(rng: np.random.Generator, schema: Schema = TOONFACES_SCHEMA) -> dict[str, Any]:
    """Draw one attribute record (factors in schema order, conditional ones set to None when off)."""
    rec: dict[str, Any] = {}
    for f in schema.factors:  # draw everything first so the random stream does not depend on conditions
        if f.categorical:
            p = np.asarray(f.probs, dtype=np.float64) if f.probs else None
            rec[f.name] = f.classes[int(rng.choice(len(f.classes), p=p))]
        else:
            rec[f.name] = round(float(rng.uniform(*f.range)), 4)
    for f in schema.factors:
        if not f.applies(rec):
            rec[f.name] = None
    return rec
