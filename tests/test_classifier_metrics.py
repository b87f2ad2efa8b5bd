"""Kernel distance (KID) and improved precision / recall on classifier features: against direct
sums and hand-worked cases, unbiasedness where the Fréchet distance is biased, and mode dropping."""

from __future__ import annotations

import numpy as np
import pytest

from ganlens.classifier import kernel_distance, precision_recall, toon_fd
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
