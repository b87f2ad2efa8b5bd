"""The direction sets the attribute analysis compares: SeFa per layer group, GANSpace, random
(a control) and supervised (InterFaceGAN) boundaries trained on the classifier's own labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ganlens.errors import GanlensError
from ganlens.sefa.baselines import ganspace, interfacegan_boundary, random_directions
from ganlens.sefa.directions import Directions
from ganlens.sefa.edit import sample_codes, synthesize
from ganlens.sefa.factorize import factorize

GROUPS = ("coarse", "middle", "fine")


def sefa_by_group(G, *, num: int = 10, model_id: str = "") -> dict[str, Directions]:
    """``{"sefa-coarse": …, "sefa-middle": …, "sefa-fine": …}``: the top ``num`` SeFa directions of
    each non-empty layer group (:meth:`Generator.layer_groups`), each applied to its own group."""
    out = {}
    for name, rows in G.layer_groups().items():
        if name in GROUPS and rows and (f"sefa-{name}" not in out):
            if not G.style_based and out:
                break  # projection generators: every group is layer 0; one set is enough
            out[f"sefa-{name}"] = factorize(
                G, list(rows), num=min(num, G.w_dim or G.z_dim), model_id=model_id
            )
    return out


@dataclass
class BoundaryReport:
    """What :func:`supervised_boundaries` trained (and skipped).

    Attributes:
        directions: one unit direction per trained factor (names = factor names).
        positive: per factor, what label 1 meant (``"glasses ≠ none"``, ``"smile > 0.12"``).
        val_accuracy: per factor, held-out accuracy of the linear classifier on w.
        skipped: per factor, why no boundary was trained.
    """

    directions: Directions | None
    positive: dict[str, str] = field(default_factory=dict)
    val_accuracy: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


@torch.no_grad()
def supervised_boundaries(
    G,
    classifier,
    *,
    factors: list[str] | None = None,
    num_samples: int = 1000,
    seed: int = 123,
    layers="all",
    min_per_class: int = 10,
    batch_size: int = 32,
    model_id: str = "",
) -> BoundaryReport:
    """InterFaceGAN boundaries on w, one per factor, labelled by the classifier on sampled images.

    Binary labels: categorical factors ``predicted class ≠ the most frequent class`` (for the
    ToonFaces add-ons: glasses / hat / beard / earrings present); continuous factors
    ``value > median``. Conditional factors use only the samples where they apply.
    Codes are drawn without truncation (ψ = 1), as InterFaceGAN does.

    Raises:
        GanlensError: an unknown factor name or too few samples.
    """
    schema = classifier.schema
    names = list(schema.names if factors is None else factors)
    for f in names:
        schema[f]  # raises a one-line error for unknown factor names
    if not (isinstance(num_samples, int) and num_samples >= 4 * min_per_class):
        raise GanlensError(f"num_samples {num_samples!r} is too small; use at least {4 * min_per_class}")
    _, codes = sample_codes(G, num_samples, seed=seed, trunc_psi=1.0, trunc_cutoff=None)
    pred = classifier.predict(synthesize(G, codes, batch_size=batch_size), probs=False)
    rep = BoundaryReport(directions=None)
    vecs, scores, kept = [], [], []
    for name in names:
        f = schema[name]
        mask = np.ones(num_samples, dtype=bool)
        if f.requires is not None:
            parent = schema[f.requires[0]]
            allowed = [parent.classes.index(c) for c in f.requires[1]]
            mask = np.isin(pred[parent.name].numpy(), allowed)
        v = pred[name].numpy()[mask]
        if f.categorical:
            major = int(np.bincount(v.astype(int), minlength=f.num_classes).argmax())
            y = (v != major).astype(np.float64)
            what = f"{name} ≠ {f.classes[major]}"
        else:
            med = float(np.median(v)) if len(v) else 0.0
            y, what = (v > med).astype(np.float64), f"{name} > {med:.3g}"
            # ties at the median (e.g. predictions clamped at the range end): maybe split with >=
            y_ge = (v >= med).astype(np.float64)
            if min(y_ge.sum(), len(y) - y_ge.sum()) > min(y.sum(), len(y) - y.sum()):
                y, what = y_ge, f"{name} ≥ {med:.3g}"
        if min(y.sum(), len(y) - y.sum()) < min_per_class:
            rep.skipped[name] = f"only {int(min(y.sum(), len(y) - y.sum()))} samples of one class ({what})"
            continue
        d = interfacegan_boundary(
            G, codes[torch.from_numpy(mask)], y, layers, name=name, seed=seed, model_id=model_id
        )
        vecs.append(d.vectors[0])
        scores.append(d.eigenvalues[0])
        kept.append(name)
        rep.positive[name] = what
        rep.val_accuracy[name] = float(d.metrics["val_accuracy"][0])
    if kept:
        rep.directions = Directions(
            vectors=np.stack(vecs),
            eigenvalues=np.array(scores),
            layers=d.layers,
            model_id=model_id,
            method="interfacegan",
            code_shape=tuple(G.code_shape),
            names=kept,
            metrics={"val_accuracy": [rep.val_accuracy[k] for k in kept]},
        )
    return rep


def standard_sets(
    G,
    classifier=None,
    *,
    num: int = 10,
    ganspace_samples: int = 5000,
    boundary_samples: int = 1000,
    boundary_factors: list[str] | None = None,
    include_random: bool = True,
    seed: int = 0,
    model_id: str = "",
) -> tuple[dict[str, Directions], BoundaryReport | None]:
    """The sets compared in the ToonFaces benchmark: SeFa coarse/middle/fine top-``num``, GANSpace
    top-``num`` (all layers), random top-``num`` (control) and, with a classifier, supervised
    boundaries. Returns (sets, boundary report or None)."""
    sets = sefa_by_group(G, num=num, model_id=model_id)
    sets["ganspace"] = ganspace(G, "all", num=num, num_samples=ganspace_samples, model_id=model_id)
    if include_random:
        sets["random"] = random_directions(G, "all", num=num, seed=seed + 2, model_id=model_id)
    rep = None
    if classifier is not None:
        rep = supervised_boundaries(
            G,
            classifier,
            factors=boundary_factors,
            num_samples=boundary_samples,
            seed=seed + 123,
            model_id=model_id,
        )
        if rep.directions is not None:
            sets["supervised"] = rep.directions
    return sets, rep
