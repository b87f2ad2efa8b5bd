"""Kernel distance (KID) and improved precision / recall on classifier features: against direct
sums and hand-worked cases, unbiasedness where the Fréchet distance is biased, and mode dropping;
the pairwise dependence of factors against hand counts and tied factors."""

from __future__ import annotations

import numpy as np
import pytest

from ganlens.classifier import (
    kernel_distance,
    manifold_membership,
    mutual_information,
    pair_dependence,
    precision_recall,
    reading_codes,
    recall_by_factor,
    toon_fd,
)
from ganlens.data.toonfaces.schema import Factor, Schema
from ganlens.errors import GanlensError


def _kid_direct(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (a·b / d + 1)³, summed pair by pair."""
    d, m, n = x.shape[1], len(x), len(y)
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kernel_distance_equals_the_direct_sum():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.0, size=(7, 3))
    assert kernel_distance(x, y) == pytest.approx(_kid_direct(x, y), rel=1e-12)
    # larger than subset_size: the mean over random subsets, reproducible by seed
    big_x, big_y = rng.normal(size=(40, 3)), rng.normal(0.5, 1.0, size=(40, 3))
    a = kernel_distance(big_x, big_y, subsets=3, subset_size=10, seed=1)
    assert a == kernel_distance(big_x, big_y, subsets=3, subset_size=10, seed=1)
    gen = np.random.default_rng(1)
    want = []
    for _ in range(3):
        sx, sy = big_x[gen.choice(40, 10, replace=False)], big_y[gen.choice(40, 10, replace=False)]
        want.append(_kid_direct(sx, sy))
    assert a == pytest.approx(np.mean(want), rel=1e-12)


def test_kernel_distance_is_unbiased_where_fd_is_not():
    """Two samples of one distribution: KID averages to 0 at small n; FD stays well above 0."""
    rng = np.random.default_rng(2)
    kids, fds = [], []
    for _ in range(20):
        a, b = rng.normal(size=(60, 16)), rng.normal(size=(60, 16))
        kids.append(kernel_distance(a, b))
        fds.append(toon_fd(a, b))
    shifted = kernel_distance(rng.normal(size=(60, 16)), rng.normal(0.5, 1.0, size=(60, 16)))
    assert abs(np.mean(kids)) < 0.1 * np.std(kids) * 5 / np.sqrt(20) + 1e-3
    assert min(kids) < 0 < max(kids)  # an unbiased estimate of 0 falls on both sides
    assert min(fds) > 1.0  # FD of same-distribution sets of 60 in 16-d: a bias of several units
    assert shifted > 10 * np.std(kids)


def test_precision_recall_by_hand_and_for_mode_dropping():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    # k = 1: every real point's ball has radius 1; 0.5 is inside, 10 is not → precision 1/2.
    # the fakes' radius is their distance to each other (9.5), which covers every real point → recall 1.
    assert precision_recall(real, np.array([[0.5], [10.0]]), k=1) == (0.5, 1.0)
    assert precision_recall(real, real, k=2) == (1.0, 1.0)
    rng = np.random.default_rng(3)
    two_modes = np.concatenate([rng.normal(-5, 1, (100, 4)), rng.normal(5, 1, (100, 4))])
    one_mode = rng.normal(-5, 1, (200, 4))  # the model drops the second mode
    prec, rec = precision_recall(two_modes, one_mode)
    assert prec > 0.9 and 0.4 < rec < 0.6
    far = rng.normal(50, 1, (200, 4))
    assert precision_recall(two_modes, far) == (0.0, 0.0)


def test_bad_features_are_one_line_errors():
    a = np.zeros((5, 3))
    with pytest.raises(GanlensError, match=r"feature sizes differ: 3 vs 4"):
        kernel_distance(a, np.zeros((5, 4)))
    with pytest.raises(GanlensError, match=r"features A must be \(N, F\) with N >= 2; got shape \(3,\)"):
        kernel_distance(np.zeros(3), a)
    with pytest.raises(GanlensError, match=r"k 5 must be a whole number from 1 to 4"):
        precision_recall(a, a, k=5)


def test_recall_by_factor_finds_the_class_the_model_drops():
    rng = np.random.default_rng(0)
    schema = Schema(
        (
            Factor("hat", "categorical", "hat", classes=("none", "cap")),
            Factor("size", "continuous", "size", range=(0.0, 1.0)),
            Factor(
                "colour", "categorical", "hat colour", classes=("red", "blue"), requires=("hat", ("cap",))
            ),
        )
    )
    records = [
        {
            "hat": h,
            "size": float(rng.uniform()),
            "colour": ("red" if i % 2 else "blue") if h == "cap" else None,
        }
        for i, h in enumerate(["none"] * 100 + ["cap"] * 100)
    ]
    # features: caps sit 10 units away, along the first axis; size along the second
    real = np.stack([[10.0 * (r["hat"] == "cap"), r["size"]] for r in records]) + rng.normal(0, 0.3, (200, 2))
    fake = real[:100] + rng.normal(0, 0.05, (100, 2))  # the model never draws a cap
    out = recall_by_factor(real, fake, records, schema, k=3, quantiles=4)
    assert out["hat"]["none"][0] > 0.8 and out["hat"]["cap"] == (0.0, 100)
    assert set(out["size"]) == {"q1", "q2", "q3", "q4"} and sum(n for _, n in out["size"].values()) == 200
    assert all(n == 50 for _, n in out["size"].values())
    assert sum(n for _, n in out["colour"].values()) == 100  # only the caps have a colour
    # the overall recall is the groups' weighted mean
    overall = float(manifold_membership(real, fake, k=3).mean())
    assert overall == pytest.approx(sum(v * n for v, n in out["hat"].values()) / 200)
    assert overall == pytest.approx(precision_recall(real, fake, k=3)[1])
    with pytest.raises(GanlensError, match="199 records for 200 real images"):
        recall_by_factor(real, fake, records[:-1], schema)
    with pytest.raises(GanlensError, match="quantiles 0 must be"):
        recall_by_factor(real, fake, records, schema, quantiles=0)


def test_mutual_information_by_hand():
    a = np.array([0, 0, 1, 1])
    assert mutual_information(a, a) == pytest.approx(np.log(2))  # a copy: its whole entropy
    assert mutual_information(a, np.array([0, 1, 0, 1])) == pytest.approx(0.0, abs=1e-12)
    # joint cells (0,0) ½, (1,0) ¼, (1,1) ¼; marginals x ½ ½, y ¾ ¼
    x, y = np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1])
    want = (
        0.5 * np.log(0.5 / (0.5 * 0.75))
        + 0.25 * np.log(0.25 / (0.5 * 0.75))
        + 0.25 * np.log(0.25 / (0.5 * 0.25))
    )
    assert mutual_information(x, y) == pytest.approx(want)
    with pytest.raises(GanlensError, match="one length"):
        mutual_information(a, a[:3])
    with pytest.raises(GanlensError, match=">= 0"):
        mutual_information(a - 1, a)


def test_pair_dependence_finds_the_tied_factors_and_ignores_marginals():
    import torch

    schema = Schema(
        (
            Factor("hat", "categorical", "hat", classes=("none", "cap", "beanie")),
            Factor("size", "continuous", "size", range=(0.0, 1.0)),
            Factor("tilt", "continuous", "tilt", range=(-1.0, 1.0)),
        )
    )
    rng = np.random.default_rng(0)
    n = 3000

    def preds(tied: bool, squeeze: float = 1.0) -> dict[str, torch.Tensor]:
        hat = rng.integers(0, 3, n)
        size = rng.uniform(0, 1, n) ** squeeze  # a changed marginal, not a dependence
        tilt = (size * 2 - 1 + rng.normal(0, 0.1, n)) if tied else rng.uniform(-1, 1, n)
        logits = np.eye(3)[hat] * 5.0  # probabilities per class, as the classifier gives
        return {
            "hat": torch.tensor(logits).softmax(-1),
            "size": torch.tensor(size),
            "tilt": torch.tensor(tilt),
        }

    codes = reading_codes(preds(False), schema=schema, quantiles=4)
    assert set(codes["hat"]) == {0, 1, 2}
    assert np.bincount(codes["size"]).tolist() == [n // 4] * 4  # equal-count bins of the set's own values
    ref = preds(False)
    rows = pair_dependence(preds(True), ref, schema=schema)
    assert (rows[0][0], rows[0][1]) == ("size", "tilt")  # the tied pair comes first
    assert rows[0][2] > 0.8 and rows[0][3] < 0.02
    assert all(abs(m - r) < 0.02 for _, _, m, r in rows[1:])
    # a squeezed marginal without a dependence is not an excess: quantile codes flatten it
    assert sum(m - r for _, _, m, r in pair_dependence(preds(False, squeeze=3.0), ref, schema=schema)) < 0.03
    with pytest.raises(GanlensError, match="3000 and 2999 images"):
        pair_dependence(preds(False), {k: v[:-1] for k, v in ref.items()}, schema=schema)
    with pytest.raises(GanlensError, match="quantiles 1 must be"):
        reading_codes(ref, schema=schema, quantiles=1)
