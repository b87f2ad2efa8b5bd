"""How close a ToonFaces generator comes to the real renders, in the attribute classifier's eyes.

Three Fréchet distances on the classifier's penultimate features (ToonFD), all against the same
real set A of ``n`` images:

* **model**: ``n`` generated images (ψ = 1, no truncation);
* **floor**: a second, disjoint real set B of ``n`` images, the value a perfect generator would
  get with this ``n`` (FD is biased upwards for finite samples);
* **ceiling**: an untrained generator of the same config (fresh random weights).

``FD ratio = model / floor`` (1 = indistinguishable from real at this sample size). Per factor the
total-variation distance between the predicted attribute marginals of generated and real images
(:func:`ganlens.classifier.metrics.marginal_tv`) says *which* factors the model gets wrong; the
same distance between A and B is its noise floor. TV between finite sets is biased upwards (two
sets of 500 real renders differ by up to 0.11 on a factor), so ``tv_n`` lets the marginals use
larger sets than the Fréchet distances (at 3000 the floor is at most 0.04). The **spread** ratio per factor
(:func:`ganlens.classifier.metrics.marginal_spread`) says whether a wrong marginal is shifted or
collapsed (below 1: the model varies the factor less than real images do). All images are
quantised to uint8 first, as saved images are.

**Calibration** rows (``calibrate=True``) score real set B after a Gaussian blur of σ px
(:data:`CALIBRATION_SIGMAS`): every factor is still right, only the edges are soft. They show how
strongly ToonFD punishes softness alone: at n = 500 a blur of σ = 1 px already costs an FD ratio
of about 5, so a generator under that needs edges nearly as crisp as the renderer's. The per-factor
spread of the widest blur (``spread_blur``) checks the other way round: a low model spread is a
collapse only if the classifier still sees the full spread in images at least as soft as the model's.

**Truncation** rows (``truncation=(0.9, 0.7)``, say) score the model's samples of the same seeds
with the truncation trick at each ψ: the usual trade of diversity (the marginals narrow) for
typical-looking images. The headline ``model`` row and the FD ratio stay at ψ = 1. With
``repeats`` too, every ψ is scored on the same generated sets as ψ = 1 (``truncation_ratios``),
so a ψ is judged on the same noise-averaged footing as the model.

On the same features, every row also gets the **kernel distance** (KID,
:func:`~ganlens.classifier.metrics.kernel_distance`: unbiased, so real set B scores about 0 where
its FD is far from 0) and **precision and recall** (:func:`~ganlens.classifier.metrics.precision_recall`,
k = 3): the share of samples that look real, and the share of real images the samples cover.
Fidelity and diversity, which one Fréchet distance mixes, come apart there (``quality_table``).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from ganlens.classifier.metrics import (
    kernel_distance,
    marginal_histograms,
    marginal_spread,
    marginal_tv,
    pair_dependence,
    precision_recall,
    summed_excess,
    toon_fd,
)
from ganlens.data.toonfaces.render import render_toonface
from ganlens.data.toonfaces.schema import sample_attributes
from ganlens.errors import GanlensError

#: base seeds of the evaluation renders; the training sets use base seed 0 (images 0 … n−1)
REAL_SEED_A = 10_000_000
REAL_SEED_B = 20_000_000
#: the untrained ceiling model is initialised with ``torch.manual_seed(seed + this)``
CEILING_SEED_OFFSET = 7919
#: blur widths (px) of the calibration rows
CALIBRATION_SIGMAS = (0.5, 1.0, 1.5)


def quantize(images: Tensor) -> Tensor:
    """[-1, 1] float → uint8 → [-1, 1] float (what saving and reloading a PNG does)."""
    u8 = ((images.float() + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)
    return u8.float() / 127.5 - 1.0


def render_real(n: int, *, size: int = 64, base_seed: int = REAL_SEED_A, progress: bool = True) -> Tensor:
    """``n`` fresh ToonFaces renders (image i uses seed ``base_seed + i``, like the dataset builder),
    as (n, 3, size, size) float in [-1, 1]."""
    return render_real_records(n, size=size, base_seed=base_seed, progress=progress)[0]


def render_real_records(
    n: int, *, size: int = 64, base_seed: int = REAL_SEED_A, progress: bool = True
) -> tuple[Tensor, list[dict[str, Any]]]:
    """``render_real``'s images and the attribute record each was rendered from."""
    if not (isinstance(n, int) and n >= 2):
        raise GanlensError(f"number of real images {n!r} must be an integer >= 2")
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    records = []
    for i in tqdm(range(n), desc="rendering real", unit="img", disable=not progress):
        seed = base_seed + i
        records.append(sample_attributes(np.random.default_rng(seed)))
        out[i] = render_toonface(records[-1], size=size, seed=seed).image
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 127.5 - 1.0, records


def load_real(path: str | os.PathLike[str], *, limit: int | None = None, progress: bool = True) -> Tensor:
    """Real images from a ToonFaces dataset (folder / zip) or a uint8 ``.npy`` of shape (N, H, W, 3),
    as (N, 3, H, W) float in [-1, 1]."""
    p = Path(path)
    if p.suffix.lower() == ".npy":
        if not p.is_file():
            raise GanlensError(f"real-image file {str(p)!r} does not exist")
        arr = np.load(p, mmap_mode="r")
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise GanlensError(f"{str(p)!r} must hold uint8 images (N, H, W, 3); got {arr.dtype} {arr.shape}")
        arr = np.array(arr[: limit if limit is not None else len(arr)])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    from ganlens.data.toonfaces.dataset import load_images_tensor

    u8 = load_images_tensor(p, limit=limit, progress=progress)
    return u8.float() / 127.5 - 1.0


def split_real(path: str | os.PathLike[str], n: int) -> tuple[Tensor, Tensor]:
    """Two disjoint real sets (A, B) of up to ``n`` images each from a dataset or ``.npy``
    (:func:`load_real`): the first ``n`` images and the next ``n``."""
    x = load_real(path, limit=2 * n)
    if len(x) < 4:
        raise GanlensError(f"{str(path)!r} has {len(x)} images; need at least 4 (two disjoint sets)")
    half = min(n, len(x) // 2)
    return x[:half], x[half : 2 * half]


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (N, C, H, W) images (kernel radius ⌈3σ⌉, edges replicated)."""
    from ganlens.inversion.losses import gaussian_window

    if not (isinstance(sigma, (int, float)) and 0 < sigma <= 16):
        raise GanlensError(f"blur sigma {sigma!r} must be in (0, 16] px")
    r = int(np.ceil(3 * sigma))
    c = images.shape[1]
    g = gaussian_window(2 * r + 1, float(sigma), dtype=images.dtype)
    x = torch.nn.functional.pad(images, (r, r, r, r), mode="replicate")
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return torch.nn.functional.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


@torch.no_grad()
def generate(
    G, n: int, *, seed: int = 0, trunc_psi: float = 1.0, batch_size: int = 32, progress: bool = True
) -> Tensor:
    """``n`` images of ``G`` (z from ``seed``), float CPU (n, C, R, R)."""
    gen = torch.Generator().manual_seed(int(seed))
    outs = []
    for s in tqdm(range(0, n, batch_size), desc="generating", unit="batch", disable=not progress):
        z = G.sample_z(min(batch_size, n - s), generator=gen)
        outs.append(G.synthesis(G.mapping(z, trunc_psi=trunc_psi), noise_mode="const").float().cpu())
    return torch.cat(outs)


class RealismScore(NamedTuple):
    """One image set against real set A: ToonFD, per factor the marginal TV, the spread ratio and
    the set's own marginal histogram (:func:`~ganlens.classifier.metrics.marginal_histograms`), and
    on the same features the kernel distance, precision and recall (NaN without the features).
    ``pair_excess`` is how much more the factors depend on each other than in the real set: the
    mutual information of every pair of factors' readings, minus the real set's, summed
    (:func:`~ganlens.classifier.metrics.pair_dependence`; NaN unless both sets have one size)."""

    fd: float
    tv: dict[str, float]
    spread: dict[str, float]
    hist: dict[str, np.ndarray]
    kid: float = float("nan")
    precision: float = float("nan")
    recall: float = float("nan")
    pair_excess: float = float("nan")

    @property
    def quality(self) -> tuple[float, float, float]:
        """(KID, precision, recall)."""
        return self.kid, self.precision, self.recall


class RealReference:
    """Real set A, classified once; :meth:`score` measures any image set against it.

    Args:
        classifier: :class:`~ganlens.classifier.model.AttributeClassifier`.
        real: (N, 3, H, W) real images in [-1, 1] (set A).
        bins: histogram bins of the continuous factors' marginals.
    """

    def __init__(self, classifier, real: Tensor, *, bins: int = 10) -> None:
        self.classifier = classifier
        self.bins = bins
        self.real = real
        self.preds = classifier.predict(real)
        self.hist = marginal_histograms(self.preds, schema=classifier.schema, bins=bins)

    @functools.cached_property
    def feats(self) -> Tensor:
        """The real set's classifier features, extracted on the first Fréchet distance."""
        return self.classifier.extract_features(self.real)

    def fd(self, images: Tensor) -> float:
        """ToonFD of ``images`` against the real set (the features alone, no attribute heads)."""
        return toon_fd(self.classifier.extract_features(images), self.feats)

    def score(self, images: Tensor, *, fd: bool = True, pairs: bool = True) -> RealismScore:
        """ToonFD, KID, precision and recall, per factor the marginal TV, spread ratio (images ÷
        real) and histogram against the real set, and the factor pairs' summed excess dependence
        (for a set as large as the real one); ``fd=False`` leaves the feature distances out (NaN)
        for marginals alone, ``pairs=False`` the pair figure (NaN) where nobody reads it."""
        C = self.classifier
        nan = float("nan")
        dist = (nan, nan, nan, nan)
        if fd:
            feats = C.extract_features(images)
            dist = (
                toon_fd(feats, self.feats),
                kernel_distance(self.feats, feats),
                *precision_recall(self.feats, feats),
            )
        pred = C.predict(images)
        tv = marginal_tv(pred, self.preds, schema=C.schema, bins=self.bins)
        hist = marginal_histograms(pred, schema=C.schema, bins=self.bins)
        spread = marginal_spread(pred, self.preds, schema=C.schema)
        excess = float("nan")
        if pairs and len(images) == len(self.real):
            excess = summed_excess(pair_dependence(pred, self.preds, schema=C.schema))
        return RealismScore(
            dist[0], tv, spread, hist, kid=dist[1], precision=dist[2], recall=dist[3], pair_excess=excess
        )


@dataclass
class RealismReport:
    """ToonFD of model / floor / ceiling and per-factor marginal TV (see the module docstring).

    Attributes:
        n: images per set.
        fd_model, fd_floor, fd_ceiling: ToonFD against real set A.
        tv_model, tv_floor, tv_ceiling: per-factor marginal TV against real set A (sets of ``tv_n``).
        spread_model, spread_floor: per-factor spread of the model's / real set B's predictions
            relative to real set A (:func:`~ganlens.classifier.metrics.marginal_spread`: 1 = as
            varied as real, below 1 = collapsed; sets of ``tv_n``).
        tv_n: images per set of the marginals (TV, spread, histograms); ``n`` unless asked for more.
        hist_real, hist_model: per-factor marginal histograms of real set A and of the model
            (sets of ``tv_n``), for :func:`marginals_figure`.
        calibration: ``{σ: (ToonFD, mean marginal TV)}`` of real set B blurred by σ px (empty
            unless asked for).
        spread_blur: per-factor spread ratio of real set B blurred by the widest calibration σ
            (empty unless calibrating).
        truncation: ``{ψ: (ToonFD, mean marginal TV)}`` of the model sampled with truncation ψ
            (empty unless asked for).
        repeats: ``{seed: (ToonFD, mean marginal TV)}`` of the model's samples for each generated
            set, the headline set (``seed``) first; one entry unless ``repeats > 1``. At n = 500 the
            ToonFD of one model moves by about ±6 % between sets, so compare models on the mean.
        truncation_fds: ``{ψ: {seed: ToonFD}}``: each truncation ψ on every generated set of
            ``repeats`` (the same seeds); empty unless both are asked for.
        pair_excess: ``{"model" | "floor" | "ceiling": summed excess mutual information}`` of
            every pair of factors over real set A's (sets of ``tv_n``; see
            :class:`RealismScore`). The renderer draws factors independently, so the floor is
            about 0 and a model's excess counts the ties between factors it made up.
        quality: ``{row: (KID, precision, recall)}`` for the rows of :meth:`table` (n images a set).
        seconds: time per stage.
    """

    n: int
    fd_model: float
    fd_floor: float
    fd_ceiling: float
    tv_model: dict[str, float]
    tv_floor: dict[str, float]
    tv_ceiling: dict[str, float]
    spread_model: dict[str, float] = field(default_factory=dict)
    spread_floor: dict[str, float] = field(default_factory=dict)
    tv_n: int = 0
    hist_real: dict[str, np.ndarray] = field(default_factory=dict)
    hist_model: dict[str, np.ndarray] = field(default_factory=dict)
    calibration: dict[float, tuple[float, float]] = field(default_factory=dict)
    spread_blur: dict[str, float] = field(default_factory=dict)
    truncation: dict[float, tuple[float, float]] = field(default_factory=dict)
    repeats: dict[int, tuple[float, float]] = field(default_factory=dict)
    truncation_fds: dict[float, dict[int, float]] = field(default_factory=dict)
    pair_excess: dict[str, float] = field(default_factory=dict)
    quality: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """model FD / floor FD."""
        return self.fd_model / self.fd_floor if self.fd_floor > 0 else float("inf")

    @property
    def ratios(self) -> list[float]:
        """model FD / floor FD of every generated set (see ``repeats``), the headline set first."""
        fds = [fd for fd, _ in self.repeats.values()] or [self.fd_model]
        return [fd / self.fd_floor if self.fd_floor > 0 else float("inf") for fd in fds]

    def repeats_line(self) -> str:
        """One line: the FD ratio's mean, spread and range over the generated sets."""
        r = np.array(self.ratios)
        seeds = list(self.repeats) or [0]
        sd = f" ± {r.std(ddof=1):.2f} (sd)" if len(r) > 1 else ""
        return (
            f"FD ratio over {len(r)} generated set(s), seeds {seeds[0]}–{seeds[-1]}: mean {r.mean():.2f}{sd}, "
            f"range {r.min():.2f}–{r.max():.2f}"
        )

    def truncation_ratios(self, psi: float) -> list[float]:
        """model FD / floor FD at truncation ``psi`` on every generated set, in seed order."""
        return [
            fd / self.fd_floor if self.fd_floor > 0 else float("inf")
            for fd in self.truncation_fds[psi].values()
        ]

    def truncation_lines(self) -> list[str]:
        """One line per truncation ψ scored on several sets: its FD ratio's mean, spread and each
        set's ratio, beside ψ = 1's on the same sets (empty without repeats)."""
        lines = []
        for psi in self.truncation_fds:
            r = np.array(self.truncation_ratios(psi))
            per = " / ".join(f"{x:.2f}" for x in r)
            lines.append(
                f"FD ratio at ψ {psi:g} over {len(r)} generated set(s): mean {r.mean():.2f} ± "
                f"{r.std(ddof=1):.2f} (sd), per set {per}; at ψ 1 {np.mean(self.ratios):.2f}"
            )
        return lines

    def pairs_line(self) -> str:
        """One line: the summed excess mutual information of the factor pairs, model / floor /
        ceiling (empty when not measured)."""
        if not self.pair_excess:
            return ""
        cells = ", ".join(f"{k} {v:.3f}" for k, v in self.pair_excess.items())
        return f"factor pairs, summed excess mutual information over real A's (n = {self.tv_n}): {cells}"

    def per_set_line(self) -> str:
        """One line: the FD ratio of each generated set by its seed, for paired comparisons of two
        models scored on the same seeds (the sets' spread is mostly shared between models)."""
        seeds = list(self.repeats) or [0]
        return "FD ratio per set: " + ", ".join(f"seed {s} {r:.2f}" for s, r in zip(seeds, self.ratios))

    @property
    def gap_closed(self) -> float:
        """(ceiling − model) / (ceiling − floor): 0 = no better than untrained, 1 = as good as real."""
        span = self.fd_ceiling - self.fd_floor
        return (self.fd_ceiling - self.fd_model) / span if span > 0 else float("nan")

    def table(self) -> str:
        rows = [
            "| images | ToonFD vs real A | ÷ floor | mean marginal TV |",
            "| --- | ---: | ---: | ---: |",
        ]
        named = [
            ("real set B (floor)", self.fd_floor, float(np.nanmean(list(self.tv_floor.values())))),
            ("model", self.fd_model, float(np.nanmean(list(self.tv_model.values())))),
            (
                "untrained, same config (ceiling)",
                self.fd_ceiling,
                float(np.nanmean(list(self.tv_ceiling.values()))),
            ),
        ]
        named += [(f"model, truncation ψ {psi:g}", fd, tv) for psi, (fd, tv) in self.truncation.items()]
        named += [
            (f"real set B, Gaussian blur σ {s:g} px", fd, tv) for s, (fd, tv) in self.calibration.items()
        ]
        for name, fd, tv in named:
            ratio = fd / self.fd_floor if self.fd_floor > 0 else float("inf")
            rows.append(f"| {name} | {fd:.4g} | {ratio:.2f} | {tv:.3f} |")
        return "\n".join(rows)

    def quality_table(self) -> str:
        """KID, precision and recall of every row of :meth:`table` (KID on the classifier's raw
        features, so its scale is theirs, not Inception's)."""
        rows = [
            "| images | KID vs real A | precision | recall |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, (kid, prec, rec) in self.quality.items():
            rows.append(f"| {name} | {kid:.2f} | {prec:.3f} | {rec:.3f} |")
        return "\n".join(rows)

    def tv_table(self) -> str:
        """Per factor: marginal TV of model / floor / ceiling, and the spread ratios (÷ real A), on
        sets of ``tv_n`` images.

        With calibration rows, a last column gives the spread of real set B blurred by the widest σ
        (sets of ``n``).
        """
        blur = f" spread floor, blur σ {max(self.calibration):g} px |" if self.spread_blur else ""
        rows = [
            f"| factor | TV model | TV floor (B vs A) | TV ceiling | spread model | spread floor |{blur}",
            "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if blur else ""),
        ]
        nan = float("nan")
        for k in self.tv_model:
            sm, sf = self.spread_model.get(k, nan), self.spread_floor.get(k, nan)
            last = f" {self.spread_blur.get(k, nan):.2f} |" if blur else ""
            rows.append(
                f"| {k} | {self.tv_model[k]:.3f} | {self.tv_floor[k]:.3f} | {self.tv_ceiling[k]:.3f} "
                f"| {sm:.2f} | {sf:.2f} |{last}"
            )
        return "\n".join(rows)


def realism_report(
    G,
    classifier,
    *,
    n: int = 500,
    real_a: Tensor | None = None,
    real_b: Tensor | None = None,
    seed: int = 0,
    batch_size: int = 32,
    bins: int = 10,
    calibrate: bool = False,
    truncation: Sequence[float] = (),
    repeats: int = 1,
    tv_n: int | None = None,
    progress: bool = True,
) -> RealismReport:
    """Model vs floor vs ceiling (see the module docstring).

    Args:
        G: the generator (its config also builds the untrained ceiling model).
        classifier: :class:`~ganlens.classifier.model.AttributeClassifier`.
        n: images per set (when ``real_a``/``real_b`` are given, at most their size).
        real_a, real_b: real images (N, 3, H, W) in [-1, 1]; default: fresh renders at G's
            resolution with base seeds :data:`REAL_SEED_A` / :data:`REAL_SEED_B`.
        calibrate: also score real set B blurred by each of :data:`CALIBRATION_SIGMAS`.
        truncation: also score the model's samples (same seed) at each of these ψ; with
            ``repeats``, on every generated set.
        repeats: score this many generated sets (seeds ``seed``, ``seed + 1``, …); the headline
            figures stay those of ``seed``'s set, and ``RealismReport.repeats`` holds them all.
        tv_n: images per set for the per-factor marginals (TV, spread, histograms), default ``n``.
            Above ``n``, the model (seed ``seed``) and the ceiling are sampled again at this size and
            the real sets rendered larger (given real sets: at most their size).

    Raises:
        GanlensError: fewer than 2 real images per set, ``repeats`` < 1, ``tv_n`` < 2, or a ψ
            out of range.
    """
    from ganlens.cli.generate import check_trunc  # the one ψ range check, shared with the CLIs

    for psi in truncation:
        check_trunc(G, psi, None)
    if not (isinstance(repeats, int) and repeats >= 1):
        raise GanlensError(f"repeats {repeats!r} must be a whole number >= 1")
    if tv_n is not None and not (isinstance(tv_n, int) and tv_n >= 2):
        raise GanlensError(f"tv_n {tv_n!r} must be a whole number >= 2")
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    size = max(n, tv_n or 0)  # image i of a render set is the same whatever its size
    if real_a is None:
        real_a = render_real(size, size=G.resolution, base_seed=REAL_SEED_A, progress=progress)
    if real_b is None:
        real_b = render_real(size, size=G.resolution, base_seed=REAL_SEED_B, progress=progress)
    n = min(n, len(real_a), len(real_b))
    if n < 2:
        raise GanlensError(f"need at least 2 real images per set; got {n}")
    tv_n = min(tv_n or n, len(real_a), len(real_b))
    big_a, big_b = real_a[:tv_n], real_b[:tv_n]
    real_a, real_b = real_a[:n], real_b[:n]
    t["real"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    fake = quantize(generate(G, n, seed=seed, batch_size=batch_size, progress=progress))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) + CEILING_SEED_OFFSET)
        G0 = type(G)(G.config).eval().requires_grad_(False)
    ceil = quantize(generate(G0, n, seed=seed, batch_size=batch_size, progress=progress))
    truncated = {
        float(psi): quantize(
            generate(G, n, seed=seed, trunc_psi=psi, batch_size=batch_size, progress=progress)
        )
        for psi in truncation
    }
    more = {
        s: quantize(generate(G, n, seed=s, batch_size=batch_size, progress=progress))
        for s in range(int(seed) + 1, int(seed) + repeats)
    }
    more_truncated = {
        (float(psi), s): quantize(
            generate(G, n, seed=s, trunc_psi=psi, batch_size=batch_size, progress=progress)
        )
        for psi in truncation
        for s in range(int(seed) + 1, int(seed) + repeats)
    }
    if tv_n != n:
        big_fake, big_ceil = (
            quantize(generate(g, tv_n, seed=seed, batch_size=batch_size, progress=progress)) for g in (G, G0)
        )
    t["generate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref = RealReference(classifier, real_a, bins=bins)
    # the pair figure is read from the sets of tv_n (below, where that is not n)
    floor, model, ceiling = (ref.score(x, pairs=tv_n == n) for x in (real_b, fake, ceil))

    def summary(score: RealismScore) -> tuple[float, float]:
        return score.fd, float(np.nanmean(list(score.tv.values())))

    sigmas = CALIBRATION_SIGMAS if calibrate else ()
    blurred = {s: ref.score(quantize(gaussian_blur(real_b, s)), pairs=False) for s in sigmas}
    calibration = {s: summary(score) for s, score in blurred.items()}
    psi_scores = {psi: ref.score(x, pairs=False) for psi, x in truncated.items()}
    by_psi = {psi: summary(score) for psi, score in psi_scores.items()}
    quality = {  # the rows of RealismReport.table, in its order
        "real set B (floor)": floor.quality,
        "model": model.quality,
        "untrained, same config (ceiling)": ceiling.quality,
        **{f"model, truncation ψ {psi:g}": score.quality for psi, score in psi_scores.items()},
        **{f"real set B, Gaussian blur σ {s:g} px": score.quality for s, score in blurred.items()},
    }
    by_seed = {int(seed): summary(model), **{s: summary(ref.score(x, pairs=False)) for s, x in more.items()}}
    truncation_fds = {psi: {int(seed): score.fd} for psi, score in psi_scores.items()} if repeats > 1 else {}
    for (psi, s), x in more_truncated.items():
        truncation_fds[psi][s] = ref.fd(x)
    ref_m, floor_m, model_m, ceiling_m = ref, floor, model, ceiling
    if tv_n != n:
        ref_m = RealReference(classifier, big_a, bins=bins)
        floor_m, model_m, ceiling_m = (ref_m.score(x, fd=False) for x in (big_b, big_fake, big_ceil))
    t["classify"] = time.perf_counter() - t0

    return RealismReport(
        n=n,
        fd_model=model.fd,
        fd_floor=floor.fd,
        fd_ceiling=ceiling.fd,
        tv_model=model_m.tv,
        tv_floor=floor_m.tv,
        tv_ceiling=ceiling_m.tv,
        spread_model=model_m.spread,
        spread_floor=floor_m.spread,
        tv_n=tv_n,
        hist_real=ref_m.hist,
        hist_model=model_m.hist,
        calibration=calibration,
        spread_blur=blurred[max(blurred)].spread if blurred else {},
        truncation=by_psi,
        repeats=by_seed,
        truncation_fds=truncation_fds,
        pair_excess={
            "model": model_m.pair_excess,
            "floor": floor_m.pair_excess,
            "ceiling": ceiling_m.pair_excess,
        },
        quality=quality,
        seconds=t,
    )


def marginals_figure(report: RealismReport, schema, *, title: str = "") -> bytes:
    """PNG bytes: one panel per factor, the marginal histogram of real set A (grey) under the
    model's (orange), titled with the factor's TV; sets of ``report.tv_n``."""
    from ganlens.utils.plots import figure_png, new_figure

    names = [f.name for f in schema if f.name in report.hist_model]
    cols = 5
    rows = -(-len(names) // cols)
    fig, axes = new_figure(rows, cols, figsize=(2.3 * cols, 1.75 * rows + 0.4), dpi=80, squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        f, hr, hm = schema[name], report.hist_real[name], report.hist_model[name]
        x = np.arange(len(hr))
        ax.bar(x, hr, width=0.9, color="0.72", label="real")
        ax.step(x, hm, where="mid", color="tab:orange", linewidth=1.6, label="model")
        if f.categorical:
            ax.set_xticks(x)
            ax.set_xticklabels([c[:7] for c in f.classes], rotation=45, ha="right", fontsize=6)
        else:
            lo, hi = f.range
            ax.set_xticks([-0.5, len(hr) - 0.5])
            ax.set_xticklabels([f"{lo:g}", f"{hi:g}"], fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        ax.set_title(f"{name}  TV {report.tv_model[name]:.3f}", fontsize=8)
    axes.flat[0].legend(fontsize=6, frameon=False)
    fig.suptitle(title or f"attribute marginals, real renders vs model (n = {report.tv_n} each)", fontsize=9)
    fig.tight_layout()
    return figure_png(fig)
