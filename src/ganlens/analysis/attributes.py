"""What each latent direction does to the attributes an image classifier reads.

For every direction: draw N codes (the same codes for all directions), move them by ``±distance``
on the direction's own layers, render, re-score with the attribute classifier and compare with the
scores of the unedited images. Per factor the *change* is

* categorical: the total-variation distance between the predicted class probabilities before and
  after the edit, ``0.5 Σ_k |p'_k − p_k|`` (0 = nothing moved, 1 = all mass moved to other classes);
  the *flip rate* (how often the arg-max class changed) is kept alongside;
* continuous: ``|v' − v|`` divided by the factor's range (so 1 = the whole range),

averaged over the N samples and both signs. A conditional factor (eye colour behind sunglasses)
counts only the samples where its condition holds before and after the edit, according to the
classifier's own predictions.

Each direction's *top factor* is the one with the largest change (its *effect*); *leakage* is the
mean change of all other factors. The classifier only needs ``schema`` (a
:class:`~ganlens.data.toonfaces.schema.Schema`) and ``predict(images, probs=True)`` (see
:class:`~ganlens.classifier.model.AttributeClassifier`), so any scorer with that shape works.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from ganlens.data.toonfaces.schema import Factor, Schema
from ganlens.errors import GanlensError
from ganlens.sefa.directions import Directions
from ganlens.sefa.edit import edit_codes, sample_codes, synthesize


class AttributeScorer(Protocol):
    """What the analysis needs from a classifier."""

    schema: Schema

    def predict(self, images: Tensor, *, batch_size: int = ..., probs: bool = ...) -> dict[str, Tensor]: ...


@dataclass
class DirectionEffect:
    """One row of the analysis: what one direction changes.

    Attributes:
        label: the direction set it belongs to (e.g. ``sefa-coarse``).
        index: its index in that set; ``name``: its name there.
        layers: the w+ rows it moves.
        top_factor: the factor with the largest change; ``effect``: that change.
        change: how the top factor moves from ``-distance`` to ``+distance`` (``smile ↑``,
            ``glasses: none → sunglasses``).
        second_factor, second_effect: the runner-up (how clean the direction is).
        leakage: mean change of all factors except the top one.
        target: the factor a supervised direction was trained for (None otherwise).
    """

    label: str
    index: int
    name: str
    layers: tuple[int, ...]
    top_factor: str
    effect: float
    change: str
    second_factor: str
    second_effect: float
    leakage: float
    target: str | None = None

    @property
    def selectivity(self) -> float:
        """effect / leakage (∞ when nothing else moves)."""
        return self.effect / self.leakage if self.leakage > 0 else math.inf

    @property
    def hit(self) -> bool | None:
        """For supervised directions: whether the top factor is the one trained for."""
        return None if self.target is None else self.top_factor == self.target


@dataclass
class AttributeAnalysis:
    """The whole table.

    Attributes:
        factors: factor names (columns of ``effects``).
        rows: one :class:`DirectionEffect` per direction, in input order.
        effects: (D, F) mean change per direction and factor (NaN: factor never applicable).
        flip_rates: (D, F) how often the predicted class changed (NaN for continuous factors).
        signed: (D, F) continuous: mean ``v(+d) − v(−d)`` over the range; categorical: NaN.
        distance, num_samples, seed, trunc_psi, trunc_cutoff: the settings used.
    """

    factors: tuple[str, ...]
    rows: list[DirectionEffect]
    effects: np.ndarray
    flip_rates: np.ndarray
    signed: np.ndarray
    distance: float
    num_samples: int
    seed: int
    trunc_psi: float
    trunc_cutoff: int | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [f"{r.label}#{r.index}" for r in self.rows]

    def set_labels(self) -> list[str]:
        """Direction-set labels in first-seen order."""
        return list(dict.fromkeys(r.label for r in self.rows))

    def summary(self, *, min_effect: float = 0.05) -> list[dict[str, Any]]:
        """Per direction set: count, distinct top factors among directions with effect ≥
        ``min_effect``, mean effect, mean leakage, mean selectivity and (supervised) hit rate."""
        out = []
        for lab in self.set_labels():
            rs = [r for r in self.rows if r.label == lab]
            eff = np.array([r.effect for r in rs])
            leak = np.array([r.leakage for r in rs])
            hits = [r.hit for r in rs if r.hit is not None]
            out.append(
                {
                    "set": lab,
                    "directions": len(rs),
                    "distinct_top_factors": len({r.top_factor for r in rs if r.effect >= min_effect}),
                    "mean_effect": float(np.nanmean(eff)),
                    "mean_leakage": float(np.nanmean(leak)),
                    "mean_selectivity": float(np.nanmean(eff / np.maximum(leak, 1e-12))),
                    "hit_rate": float(np.mean(hits)) if hits else float("nan"),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "factors": list(self.factors),
            "settings": {
                "distance": self.distance,
                "num_samples": self.num_samples,
                "seed": self.seed,
                "trunc_psi": self.trunc_psi,
                "trunc_cutoff": self.trunc_cutoff,
                **self.meta,
            },
            "rows": [
                {
                    "label": r.label,
                    "index": r.index,
                    "name": r.name,
                    "layers": list(r.layers),
                    "top_factor": r.top_factor,
                    "effect": r.effect,
                    "change": r.change,
                    "second_factor": r.second_factor,
                    "second_effect": r.second_effect,
                    "leakage": r.leakage,
                    "target": r.target,
                    "effects": [None if np.isnan(v) else float(v) for v in self.effects[i]],
                }
                for i, r in enumerate(self.rows)
            ],
            "summary": self.summary(),
        }


def _check_scorer(classifier: Any) -> Schema:
    schema = getattr(classifier, "schema", None)
    if not isinstance(schema, Schema) or not callable(getattr(classifier, "predict", None)):
        raise GanlensError(
            "the classifier must have a 'schema' (Schema) and a 'predict' method; "
            f"got {type(classifier).__name__}"
        )
    return schema


def _applicable(schema: Schema, f: Factor, pred: dict[str, Tensor]) -> Tensor:
    """(N,) bool: where ``f``'s condition holds according to ``pred`` (probabilities or indices)."""
    any_pred = next(iter(pred.values()))
    n = any_pred.shape[0]
    if f.requires is None:
        return torch.ones(n, dtype=torch.bool)
    parent = schema[f.requires[0]]
    pv = pred[parent.name]
    pv = pv.argmax(-1) if pv.ndim == 2 else pv.long()
    allowed = torch.tensor([parent.classes.index(c) for c in f.requires[1]])
    return torch.isin(pv.cpu(), allowed)


def factor_changes(
    schema: Schema, before: dict[str, Tensor], after: dict[str, Tensor]
) -> dict[str, tuple[Tensor, Tensor, Tensor | None]]:
    """Per factor: (change (N,), applicable mask (N,), flipped (N,) or None) between two prediction
    sets from ``predict(..., probs=True)`` of the same samples (see the module docstring)."""
    out = {}
    for f in schema:
        b, a = before[f.name].float().cpu(), after[f.name].float().cpu()
        mask = _applicable(schema, f, before) & _applicable(schema, f, after)
        if f.categorical:
            if b.ndim != 2:
                raise GanlensError(
                    f"categorical factor {f.name!r} needs class probabilities; call predict(probs=True)"
                )
            change = 0.5 * (a - b).abs().sum(-1)
            flipped = (a.argmax(-1) != b.argmax(-1)).float()
        else:
            lo, hi = f.range
            change = (a - b).abs() / (hi - lo)
            flipped = None
        out[f.name] = (change, mask, flipped)
    return out


def _describe(f: Factor, plus: Tensor, minus: Tensor, mask: Tensor) -> str:
    """How factor ``f`` moves from the −d edit to the +d edit."""
    if not mask.any():
        return f.name
    if f.categorical:
        gain = (plus[mask] - minus[mask]).mean(0)  # (K,) mean probability gained at +d
        up, down = int(gain.argmax()), int(gain.argmin())
        return f"{f.name}: {f.classes[down]} → {f.classes[up]}"
    delta = float((plus[mask] - minus[mask]).mean())
    return f"{f.name} {'↑' if delta >= 0 else '↓'}"


def _as_sets(
    direction_sets: Mapping[str, Directions] | Sequence[tuple[str, Directions]],
) -> list[tuple[str, Directions]]:
    items = list(direction_sets.items()) if isinstance(direction_sets, Mapping) else list(direction_sets)
    if not items:
        raise GanlensError("no directions to analyse; give at least one set of directions")
    for lab, d in items:
        if not isinstance(d, Directions):
            raise GanlensError(f"direction set {lab!r} is a {type(d).__name__}, not Directions")
    return items


@torch.no_grad()
def analyze_directions(
    G,
    direction_sets: Mapping[str, Directions] | Sequence[tuple[str, Directions]],
    classifier: AttributeScorer,
    *,
    distance: float = 3.0,
    num_samples: int = 32,
    seed: int = 0,
    trunc_psi: float = 0.7,
    trunc_cutoff: int | None = None,
    batch_size: int = 32,
    noise_mode: str = "const",
    codes: Tensor | None = None,
    progress: bool = True,
) -> AttributeAnalysis:
    """Measure, per direction and factor, how much an edit of ``±distance`` changes the classifier's
    predictions (see the module docstring).

    Args:
        G: a style-based generator (edits move the directions' own w+ rows); projection
            generators work too (the edit moves z).
        direction_sets: ``{label: Directions}`` (or a list of pairs), e.g. ``{"sefa-coarse": ...}``.
        classifier: an :class:`~ganlens.classifier.model.AttributeClassifier` or anything with
            ``schema`` and ``predict(images, probs=True)``.
        distance: edit distance d (the edit is ``±d·n`` on the direction's layers).
        num_samples: N codes drawn with ``seed`` (ψ ``trunc_psi`` on rows < ``trunc_cutoff``).
        codes: use these (N, *code_shape) codes instead of sampling.

    Returns:
        :class:`AttributeAnalysis` with one row per direction.

    Raises:
        GanlensError: a bad classifier, directions that do not fit G, non-positive sizes.
    """
    schema = _check_scorer(classifier)
    sets = _as_sets(direction_sets)
    if not (isinstance(distance, (int, float)) and math.isfinite(distance)):
        raise GanlensError(f"distance {distance!r} must be a finite number")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise GanlensError(f"batch size {batch_size!r} must be a positive integer")
    for lab, d in sets:
        try:
            d.check_model(G)
        except GanlensError as e:
            raise GanlensError(f"direction set {lab!r}: {e}") from None
    if codes is None:
        _, codes = sample_codes(G, num_samples, seed=seed, trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff)
    else:
        codes = G.check_codes(torch.as_tensor(codes, dtype=torch.float32).to(G.device))
    n = codes.shape[0]

    def scores(c: Tensor) -> dict[str, Tensor]:
        return classifier.predict(synthesize(G, c, batch_size=batch_size, noise_mode=noise_mode), probs=True)

    base = scores(codes)
    factors = schema.names
    jobs = [(lab, d, k) for lab, d in sets for k in range(len(d))]
    effects = np.full((len(jobs), len(factors)), np.nan)
    flips = np.full_like(effects, np.nan)
    signed = np.full_like(effects, np.nan)
    rows: list[DirectionEffect] = []
    for j, (lab, dirs, k) in enumerate(tqdm(jobs, desc="directions", unit="dir", disable=not progress)):
        moved = torch.cat(
            [
                edit_codes(G, codes, dirs, index=k, distance=distance),
                edit_codes(G, codes, dirs, index=k, distance=-distance),
            ]
        )
        after = scores(moved)
        plus = {f: v[:n] for f, v in after.items()}
        minus = {f: v[n:] for f, v in after.items()}
        ch_p, ch_m = factor_changes(schema, base, plus), factor_changes(schema, base, minus)
        for i, f in enumerate(schema):
            (cp, mp, fp), (cm, mm, fm) = ch_p[f.name], ch_m[f.name]
            vals = torch.cat([cp[mp], cm[mm]])
            if len(vals):
                effects[j, i] = float(vals.mean())
                if fp is not None:
                    flips[j, i] = float(torch.cat([fp[mp], fm[mm]]).mean())
            if not f.categorical:
                both = _applicable(schema, f, plus) & _applicable(schema, f, minus)
                if both.any():
                    lo, hi = f.range
                    signed[j, i] = float((plus[f.name][both] - minus[f.name][both]).float().mean()) / (
                        hi - lo
                    )
        order = [i for i in np.argsort(-np.nan_to_num(effects[j], nan=-1.0)) if not np.isnan(effects[j, i])]
        top = order[0] if order else 0
        second = order[1] if len(order) > 1 else top
        others = np.delete(effects[j], top)
        f_top = schema.factors[top]
        both = _applicable(schema, f_top, plus) & _applicable(schema, f_top, minus)
        name = dirs.names[k]
        rows.append(
            DirectionEffect(
                label=lab,
                index=k,
                name=name,
                layers=tuple(dirs.layers),
                top_factor=f_top.name,
                effect=float(effects[j, top]),
                change=_describe(
                    f_top, plus[f_top.name].float().cpu(), minus[f_top.name].float().cpu(), both
                ),
                second_factor=schema.factors[second].name,
                second_effect=float(effects[j, second]),
                leakage=float(np.nanmean(others)) if np.isfinite(others).any() else 0.0,
                target=name if dirs.method == "interfacegan" and name in factors else None,
            )
        )
    return AttributeAnalysis(
        factors=tuple(factors),
        rows=rows,
        effects=effects,
        flip_rates=flips,
        signed=signed,
        distance=float(distance),
        num_samples=int(n),
        seed=int(seed),
        trunc_psi=float(trunc_psi),
        trunc_cutoff=trunc_cutoff,
    )
