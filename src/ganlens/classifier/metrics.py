"""Metrics built on the attribute classifier: per-factor accuracy / R², Fréchet distance on its
features (ToonFD), per-factor marginal total-variation distance between two image sets, and how
much more the factors of one set depend on each other than those of another."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganlens.classifier.model import AttributeClassifier
from ganlens.data.toonfaces.schema import Schema
from ganlens.errors import GanlensError


def _encoded(
    classifier: AttributeClassifier, attributes: list[dict[str, Any]] | dict[str, Tensor]
) -> dict[str, Tensor]:
    if isinstance(attributes, dict):
        return attributes
    return classifier.schema.encode(list(attributes))


def attribute_scores(
    classifier: AttributeClassifier,
    images: Tensor,
    attributes: list[dict[str, Any]] | dict[str, Tensor],
    *,
    batch_size: int = 256,
) -> dict[str, dict[str, Any]]:
    """Per-factor scores of the classifier on labelled images.

    Args:
        images: (N, 3, H, W) float in [-1, 1] (or uint8, converted).
        attributes: attribute records, or their encoding (``Schema.encode``).

    Returns:
        factor -> ``{"kind", "metric": "accuracy" | "r2", "value", "n"}``; samples where a factor
        does not apply (e.g. eye colour behind sunglasses) are left out.
    """
    if images.dtype == torch.uint8:
        images = images.float() / 127.5 - 1.0
    enc = _encoded(classifier, attributes)
    n = images.shape[0]
    for k, v in enc.items():
        if v.shape[0] != n:
            raise GanlensError(f"attributes for {k!r} have {v.shape[0]} rows but there are {n} images")
    raw: dict[str, list[Tensor]] = {f.name: [] for f in classifier.schema}
    was_training = classifier.training
    classifier.eval()
    with torch.no_grad():
        for s in range(0, n, batch_size):
            out = classifier(images[s : s + batch_size])
            for k, v in out.items():
                raw[k].append(v.float().cpu())
    classifier.train(was_training)
    scores: dict[str, dict[str, Any]] = {}
    for f in classifier.schema:
        y = torch.cat(raw[f.name])
        t = enc[f.name]
        if f.categorical:
            m = t >= 0
            val = (y.argmax(-1)[m] == t[m]).float().mean().item() if m.any() else float("nan")
            scores[f.name] = {"kind": f.kind, "metric": "accuracy", "value": val, "n": int(m.sum())}
        else:
            m = ~torch.isnan(t)
            p, tt = y[m].clamp(-1, 1).double(), t[m].double()
            ss_res = ((p - tt) ** 2).sum()
            ss_tot = ((tt - tt.mean()) ** 2).sum()
            val = (1.0 - ss_res / ss_tot).item() if m.sum() > 1 and ss_tot > 0 else float("nan")
            scores[f.name] = {"kind": f.kind, "metric": "r2", "value": val, "n": int(m.sum())}
    return scores


def attribute_accuracy(
    classifier: AttributeClassifier,
    images: Tensor,
    attributes: list[dict[str, Any]] | dict[str, Tensor],
    **kw: Any,
) -> dict[str, float]:
    """factor -> accuracy (categorical) or R² (continuous) of ``classifier`` on labelled images.

    Use it to check that generated/edited images show the attributes they should."""
    return {k: v["value"] for k, v in attribute_scores(classifier, images, attributes, **kw).items()}


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` in float64.

    ``tr((S1 S2)^(1/2))`` is computed as the sum of square roots of the eigenvalues of the symmetric
    PSD matrix ``S1^(1/2) S2 S1^(1/2)`` (``eigh`` only, no complex ``sqrtm``), which stays stable
    for singular covariances.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_cov = float(np.sqrt(np.clip(ev, 0, None)).sum())
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * tr_cov)
    return max(d, 0.0)


def feature_stats(feats: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(feats.detach().cpu() if isinstance(feats, Tensor) else feats, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise GanlensError(f"features must be (N, F) with N >= 2; got shape {tuple(f.shape)}")
    return f.mean(0), np.cov(f, rowvar=False)


def toon_fd(feats_a: Tensor | np.ndarray, feats_b: Tensor | np.ndarray) -> float:
    """Fréchet distance between two sets of classifier features (N, F) (``AttributeClassifier.features``)."""
    mu1, s1 = feature_stats(feats_a)
    mu2, s2 = feature_stats(feats_b)
    if mu1.shape != mu2.shape:
        raise GanlensError(f"feature sizes differ: {mu1.shape[0]} vs {mu2.shape[0]}")
    return frechet_distance(mu1, s1, mu2, s2)


def _as_f64(feats: Tensor | np.ndarray, name: str) -> np.ndarray:
    f = np.asarray(feats.detach().cpu() if isinstance(feats, Tensor) else feats, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise GanlensError(f"{name} must be (N, F) with N >= 2; got shape {tuple(f.shape)}")
    return f


def kernel_distance(
    feats_a: Tensor | np.ndarray,
    feats_b: Tensor | np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> float:
    """Kernel distance (KID, Bińkowski et al. 2018) between two feature sets (N, F): the unbiased
    squared MMD with the kernel ``(x·y / F + 1)³``, averaged over ``subsets`` random subsets of
    ``subset_size`` per set (ADA's ``kid50k`` defaults). Sets no larger than ``subset_size`` are
    used whole, once. Unbiased: two samples of one distribution score about 0 at any size, where
    the Fréchet distance keeps a positive bias that grows as N shrinks."""
    a, b = _as_f64(feats_a, "features A"), _as_f64(feats_b, "features B")
    if a.shape[1] != b.shape[1]:
        raise GanlensError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    m = min(len(a), len(b), subset_size)
    whole = m == len(a) == len(b)
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    total = 0.0
    rounds = 1 if whole else subsets
    for _ in range(rounds):
        x = a if whole else a[rng.choice(len(a), m, replace=False)]
        y = b if whole else b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((u @ v.T / d + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
        off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
        total += off(kxx) + off(kyy) - 2 * kxy.mean()
    return float(total / rounds)


def manifold_membership(
    points: Tensor | np.ndarray, centres: Tensor | np.ndarray, *, k: int = 3
) -> np.ndarray:
    """Which ``points`` lie inside the manifold of ``centres``: the union of balls around each
    centre reaching its k-th nearest neighbour among the centres (Kynkäänniemi et al. 2019).
    (N, D) and (M, D) features → (N,) bool."""
    p, c = _as_f64(points, "points"), _as_f64(centres, "centres")
    if p.shape[1] != c.shape[1]:
        raise GanlensError(f"feature sizes differ: {p.shape[1]} vs {c.shape[1]}")
    if not (isinstance(k, int) and 1 <= k < len(c)):
        raise GanlensError(f"k {k!r} must be a whole number from 1 to {len(c) - 1}")

    def dist(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.sqrt(np.clip((u * u).sum(1)[:, None] + (v * v).sum(1)[None] - 2 * u @ v.T, 0, None))

    radii = np.sort(dist(c, c), axis=1)[:, k]  # column 0 is the centre itself
    return (dist(p, c) <= radii[None]).any(1)


def precision_recall(
    real: Tensor | np.ndarray, fake: Tensor | np.ndarray, *, k: int = 3
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019; ADA's ``pr50k3``, k = 3) on features.

    Each set's manifold is the union of balls around its points, each reaching that point's k-th
    nearest neighbour in the set (:func:`manifold_membership`). Precision: the share of ``fake``
    inside the real manifold (are the samples realistic?). Recall: the share of ``real`` inside the
    fake manifold (does the model cover what is real?). A model that drops modes keeps precision
    and loses recall."""
    r, f = _as_f64(real, "real features"), _as_f64(fake, "generated features")
    if r.shape[1] != f.shape[1]:
        raise GanlensError(f"feature sizes differ: {r.shape[1]} vs {f.shape[1]}")
    if not (isinstance(k, int) and 1 <= k < min(len(r), len(f))):
        raise GanlensError(f"k {k!r} must be a whole number from 1 to {min(len(r), len(f)) - 1}")
    return float(manifold_membership(f, r, k=k).mean()), float(manifold_membership(r, f, k=k).mean())


def recall_by_factor(
    real: Tensor | np.ndarray,
    fake: Tensor | np.ndarray,
    records: list[dict[str, Any]],
    schema: Schema,
    *,
    k: int = 3,
    quantiles: int = 5,
) -> dict[str, dict[str, tuple[float, int]]]:
    """Recall split by the real images' own attributes: which kinds of real image does the model
    not cover? Each real image is covered when its features lie inside the fake manifold
    (:func:`manifold_membership`); ``records`` are the real images' attribute records (ground
    truth of a render, not a prediction). A categorical factor is split by class, a continuous one
    by ``quantiles`` equal-count bins of the real values ("q1" lowest); images a factor does not
    apply to are left out of it.

    Returns:
        factor → group → (share of that group's real images covered, number of them).
    """
    r = _as_f64(real, "real features")
    if len(records) != len(r):
        raise GanlensError(f"{len(records)} records for {len(r)} real images")
    if not (isinstance(quantiles, int) and quantiles >= 1):
        raise GanlensError(f"quantiles {quantiles!r} must be a whole number >= 1")
    covered = manifold_membership(r, fake, k=k)
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for f in schema:
        rows = [i for i, rec in enumerate(records) if f.applies(rec)]
        if not rows:
            continue
        if f.categorical:
            labels = [str(records[i][f.name]) for i in rows]
            groups = [c for c in f.classes if c in set(labels)]
        else:
            values = np.array([float(records[i][f.name]) for i in rows])
            edges = np.quantile(values, np.linspace(0, 1, quantiles + 1)[1:-1])
            labels = [f"q{int(np.searchsorted(edges, v, side='right')) + 1}" for v in values]
            groups = [f"q{j}" for j in range(1, quantiles + 1)]
        lab = np.array(labels)
        cov = covered[np.array(rows)]
        out[f.name] = {
            g: (float(cov[lab == g].mean()), int((lab == g).sum())) for g in groups if (lab == g).any()
        }
    return out


def _hist(f, values: Tensor, bins: int) -> np.ndarray:
    v = values.detach().cpu()
    if f.categorical:
        if v.ndim == 2:  # probabilities: expected histogram
            h = v.double().sum(0).numpy()
        else:
            h = np.bincount(v.long().numpy(), minlength=f.num_classes).astype(np.float64)
    else:
        lo, hi = f.range
        h, _ = np.histogram(np.clip(v.double().numpy(), lo, hi), bins=bins, range=(lo, hi))
        h = h.astype(np.float64)
    s = h.sum()
    return h / s if s > 0 else h


def _applicable(f, schema: Schema, pred: dict[str, Tensor]) -> Tensor:
    """Factor ``f``'s predictions, only where its condition holds according to the same predictions."""
    values = pred[f.name]
    if f.requires is None:
        return values
    parent = schema[f.requires[0]]
    allowed = torch.tensor([parent.classes.index(c) for c in f.requires[1]])
    pv = pred[parent.name]
    pv = pv.argmax(-1) if pv.ndim == 2 else pv
    return values[torch.isin(pv.long().cpu(), allowed)]


def marginal_histograms(pred: dict[str, Tensor], *, schema: Schema, bins: int = 10) -> dict[str, np.ndarray]:
    """Per factor, the normalised histogram of one prediction set (``AttributeClassifier.predict``):
    one bin per class for categorical factors, ``bins`` equal bins over the schema range for
    continuous ones. A conditional factor only counts samples where its condition holds according
    to the same predictions; all zeros where it never does."""
    if bins < 1:
        raise GanlensError(f"bins {bins!r} must be >= 1")
    return {f.name: _hist(f, _applicable(f, schema, pred), bins) for f in schema}


def marginal_tv(
    pred_a: dict[str, Tensor],
    pred_b: dict[str, Tensor],
    *,
    schema: Schema,
    bins: int = 10,
) -> dict[str, float]:
    """Per-factor total-variation distance between the marginal distributions of two prediction
    sets (the histograms of :func:`marginal_histograms`). Values are in [0, 1]; NaN for a
    conditional factor that one set never has.

    The estimate is biased upwards for finite sets: two sets of 500 real renders differ by up to
    0.11 on a continuous factor, two sets of 3000 by at most 0.04."""
    ha, hb = (
        marginal_histograms(pred_a, schema=schema, bins=bins),
        marginal_histograms(pred_b, schema=schema, bins=bins),
    )
    return {
        k: float(0.5 * np.abs(ha[k] - hb[k]).sum()) if ha[k].sum() > 0 and hb[k].sum() > 0 else float("nan")
        for k in ha
    }


def marginal_spread(
    pred_a: dict[str, Tensor],
    pred_b: dict[str, Tensor],
    *,
    schema: Schema,
) -> dict[str, float]:
    """Per factor, how varied prediction set ``a`` is relative to set ``b`` (1 = as varied, below 1
    = collapsed towards fewer values, e.g. a generator that draws every head at one tilt).

    Continuous factors: the ratio of standard deviations (values clipped to the schema range).
    Categorical factors: the ratio of the effective numbers of classes, exp(entropy) of the class
    histogram. Conditional factors count only where they apply; NaN where a set has none or ``b``
    does not vary."""
    out: dict[str, float] = {}
    for f in schema:
        va, vb = _applicable(f, schema, pred_a), _applicable(f, schema, pred_b)
        if len(va) == 0 or len(vb) == 0:
            out[f.name] = float("nan")
            continue
        if f.categorical:
            sa, sb = (_perplexity(_hist(f, v, 1)) for v in (va, vb))
        else:
            lo, hi = f.range
            sa, sb = (float(np.clip(v.detach().double().cpu().numpy(), lo, hi).std()) for v in (va, vb))
        out[f.name] = sa / sb if sb > 0 else float("nan")
    return out


def _perplexity(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def reading_codes(pred: dict[str, Tensor], *, schema: Schema, quantiles: int = 5) -> dict[str, np.ndarray]:
    """Every factor of one prediction set as whole-number codes, for counting joints: a categorical
    factor's most likely class, a continuous factor's ``quantiles`` equal-count bins of the set's
    own values (0 lowest). Binning each set by its own quantiles makes every continuous marginal
    flat, so a comparison of joints built on these codes sees how factors go together and not
    their marginals (which :func:`marginal_tv` measures)."""
    if not (isinstance(quantiles, int) and quantiles >= 2):
        raise GanlensError(f"quantiles {quantiles!r} must be a whole number >= 2")
    out: dict[str, np.ndarray] = {}
    for f in schema:
        v = pred[f.name].detach().cpu()
        if f.categorical:
            out[f.name] = (v.argmax(-1) if v.ndim == 2 else v).long().numpy()
        else:
            x = v.double().numpy()
            edges = np.quantile(x, np.linspace(0, 1, quantiles + 1)[1:-1])
            out[f.name] = np.searchsorted(edges, x, side="right")
    return out


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """The mutual information (nats) of two whole-number code arrays of the same length, from
    their joint histogram (plug-in estimate: biased upwards by about (cells − 1) / 2n, the same
    for two sets of the same size and shape, so compare sets of equal size)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise GanlensError(
            f"codes must be two non-empty 1-D arrays of one length; got {a.shape} and {b.shape}"
        )
    if a.min() < 0 or b.min() < 0:
        raise GanlensError("codes must be >= 0")
    joint = np.zeros((int(a.max()) + 1, int(b.max()) + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) @ joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / outer[nz])).sum())


def pair_dependence(
    pred: dict[str, Tensor],
    reference: dict[str, Tensor],
    *,
    schema: Schema,
    quantiles: int = 5,
) -> list[tuple[str, str, float, float]]:
    """How much more the factors of a prediction set depend on each other than those of a
    reference set (real renders, whose renderer draws factors independently): for every pair of
    factors, the mutual information of ``pred``'s codes and of ``reference``'s
    (:func:`reading_codes`). Both sets should have the same size, so that the estimate's upward
    bias cancels.

    Returns:
        (factor a, factor b, MI in ``pred``, MI in ``reference``) for every pair, largest excess
        first; the excesses' sum is one number for the whole set (two sets of 1,500 renders: 0.008
        over ToonFaces' 190 pairs).
    """
    if len(pred) and len(reference):
        na, nb = len(next(iter(pred.values()))), len(next(iter(reference.values())))
        if na != nb:
            raise GanlensError(f"the two prediction sets have {na} and {nb} images; compare sets of one size")
    ca = reading_codes(pred, schema=schema, quantiles=quantiles)
    cb = reading_codes(reference, schema=schema, quantiles=quantiles)
    names = [f.name for f in schema]
    rows = [
        (x, y, mutual_information(ca[x], ca[y]), mutual_information(cb[x], cb[y]))
        for i, x in enumerate(names)
        for y in names[i + 1 :]
    ]
    return sorted(rows, key=lambda r: r[2] - r[3], reverse=True)


def summed_excess(rows: list[tuple[str, str, float, float]]) -> float:
    """One number for a :func:`pair_dependence` table: the pairs' mutual information minus the
    reference's, summed over every pair."""
    return float(sum(m - r for _, _, m, r in rows))
