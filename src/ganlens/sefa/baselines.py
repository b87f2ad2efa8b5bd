"""Baselines to compare SeFa with: GANSpace (PCA), random orthonormal directions, InterFaceGAN.

All return :class:`~ganlens.sefa.directions.Directions` in the same latent space SeFa uses
(w for style-based generators, normalised z for projection generators), so they go through the
same editing, report and benchmark code.

* **GANSpace** (Härkönen et al.; harskish/ganspace ``decomposition.py``): style-based models:
  PCA of sampled w (``mapping`` output, no truncation); eigenvalues are the variances.
  Projection models: PCA of the first layer's output features, then a least-squares map from the
  (σ-scaled) PCA coordinates back to z; each row of that map, normalised, is a latent direction.
  The official code uses 10⁶ samples for the PCA and ≥10⁴ for the regression; we use the same
  ``num_samples`` for both.
* **random**: an orthonormal basis from the QR of a Gaussian matrix (seeded).
* **InterFaceGAN** (Shen et al.): a linear classifier on labelled codes (``svm``: L2-regularised
  squared hinge, ``logistic``: L2-regularised logistic regression, both solved by Newton steps);
  the unit normal of the separating hyperplane is the direction.
"""

from __future__ import annotations

import numpy as np
import torch

from ganlens.errors import GanlensError
from ganlens.sefa.directions import Directions, latent_dim
from ganlens.sefa.edit import sample_codes
from ganlens.sefa.factorize import LayerSpec, canonical_sign, parse_layers


def _check_num(num: int, d: int) -> int:
    if not (isinstance(num, (int, np.integer)) and 1 <= num <= d):
        raise GanlensError(
            f"number of directions {num!r} is not allowed; this model's latent size allows 1 to {d}"
        )
    return int(num)


@torch.no_grad()
def ganspace(
    G,
    layers: LayerSpec = "all",
    *,
    num: int = 10,
    num_samples: int = 5000,
    seed: int = 1,
    batch_size: int = 256,
    model_id: str = "",
) -> Directions:
    """GANSpace principal directions of ``G`` (see the module docstring).

    Args:
        layers: layers the directions are applied to (style-based); projection: layer 0.
        num: number of components.
        num_samples: samples for the PCA (and, for projection models, the regression).
        seed: sampling seed (GANSpace uses 1 for sampling).
    """
    d = latent_dim(G)
    num = _check_num(num, d)
    sel = parse_layers(G, layers)
    if num_samples < max(num + 1, 2):
        raise GanlensError(
            f"num_samples {num_samples} is too small for {num} components; use at least {num + 1}"
        )
    gen = torch.Generator().manual_seed(int(seed))
    zs, feats = [], []
    for i in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - i)
        z, codes = sample_codes(G, n, seed=None, generator=gen, trunc_psi=1.0, trunc_cutoff=None)
        if G.style_based:
            feats.append(codes[:, 0].double().cpu())  # w (all rows equal before truncation)
        else:
            zs.append(codes.double().cpu())  # normalised z: what edits move
            feats.append(G.synthesis_head(codes, 1).flatten(1).double().cpu())
    X = torch.cat(feats)
    mean = X.mean(0, keepdim=True)
    Xc = X - mean
    if Xc.shape[1] <= 2048:
        cov = Xc.T @ Xc / (len(Xc) - 1)
        var, comp = torch.linalg.eigh(cov)
        var, comp = var.flip(0)[:num], comp.flip(1)[:, :num].T  # (num, D)
    else:  # wide features: randomized SVD of the sample matrix (GANSpace uses incremental PCA)
        with torch.random.fork_rng(devices=[]):  # svd_lowrank draws from the global RNG; keep it untouched
            torch.manual_seed(int(seed))
            _, s, v = torch.svd_lowrank(Xc, q=min(num + 10, min(Xc.shape)), niter=6)
        var, comp = (s[:num] ** 2) / (len(Xc) - 1), v[:, :num].T
    var = var.clamp_min(0)
    if G.style_based:
        lat = comp
    else:
        Z = torch.cat(zs)
        coords = (Xc @ comp.T) / var.sqrt().clamp_min(1e-12)  # (n, num), unit variance per component
        M = torch.linalg.lstsq(coords, Z - Z.mean(0, keepdim=True)).solution  # (num, d): coords → z
        lat = M / M.norm(dim=1, keepdim=True).clamp_min(1e-12)
    vecs = canonical_sign(lat.numpy())
    return Directions(
        vectors=vecs.astype(np.float32),
        eigenvalues=var.numpy(),
        layers=sel,
        model_id=model_id,
        method="ganspace",
        code_shape=tuple(G.code_shape),
    )


def random_directions(
    G, layers: LayerSpec = "all", *, num: int = 10, seed: int = 2, model_id: str = ""
) -> Directions:
    """``num`` random orthonormal directions (a seeded baseline); eigenvalues are all 1."""
    d = latent_dim(G)
    num = _check_num(num, d)
    sel = parse_layers(G, layers)
    gen = torch.Generator().manual_seed(int(seed))
    q, r = torch.linalg.qr(torch.randn(d, num, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))  # unique QR → Haar-distributed basis
    return Directions(
        vectors=q.T.numpy().astype(np.float32),
        eigenvalues=np.ones(num),
        layers=sel,
        model_id=model_id,
        method="random",
        code_shape=tuple(G.code_shape),
    )


def _latent_rows(G, codes: torch.Tensor, sel: tuple[int, ...]) -> torch.Tensor:
    """(N, d) latent vectors from codes (N, *code_shape): style-based → mean of the chosen w+ rows."""
    codes = torch.as_tensor(codes).float()
    if codes.ndim == 2 and codes.shape[1] == latent_dim(G):
        return codes if G.style_based else G.normalize_code(codes)
    G.check_codes(codes)
    return codes[:, list(sel)].mean(1) if G.style_based else G.normalize_code(codes)


def _newton_fit(X: np.ndarray, s: np.ndarray, *, method: str, l2: float, max_iter: int) -> np.ndarray:
    """Minimise mean loss(s·(X w + b)) + l2‖w‖² by (generalised) Newton steps with backtracking.

    ``svm``: squared hinge max(0, 1 − m)²; ``logistic``: log(1 + e^{−m}). Returns θ = [w, b].
    (A few dozen lines of numpy instead of torch.optim, whose first use imports torch._dynamo.)
    """
    n, d = X.shape
    Xa = np.concatenate([X, np.ones((n, 1))], axis=1)
    reg = np.full(d + 1, 2 * l2)
    reg[-1] = 1e-10  # the bias is not penalised (tiny ridge keeps H invertible)

    def loss_grad_hess(theta):
        m = s * (Xa @ theta)
        if method == "svm":
            r = np.maximum(1 - m, 0)
            a = r > 0
            loss = np.mean(r**2)
            g = -2 * Xa[a].T @ (s[a] * r[a]) / n
            H = 2 * Xa[a].T @ Xa[a] / n
        else:
            loss = np.mean(np.logaddexp(0, -m))
            p = 0.5 * (1 - np.tanh(m / 2))  # sigmoid(-m), overflow-free
            g = -Xa.T @ (s * p) / n
            H = (Xa * (p * (1 - p))[:, None]).T @ Xa / n
        w = theta[:-1]
        return loss + l2 * w @ w, g + reg * theta, H + np.diag(reg)

    theta = np.zeros(d + 1)
    f, g, H = loss_grad_hess(theta)
    for _ in range(max_iter):
        step = np.linalg.solve(H, g)
        t = 1.0
        while True:  # backtracking (Armijo) line search
            cand = theta - t * step
            f_new, g_new, H_new = loss_grad_hess(cand)
            if f_new <= f - 1e-4 * t * (g @ step) or t < 1e-10:
                break
            t *= 0.5
        converged = f - f_new < 1e-12 * max(1.0, abs(f))
        theta, f, g, H = cand, f_new, g_new, H_new
        if converged or np.linalg.norm(g) < 1e-10:
            break
    return theta


def interfacegan_boundary(
    G,
    codes: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    layers: LayerSpec = "all",
    *,
    method: str = "svm",
    l2: float = 1e-3,
    max_iter: int = 200,
    val_fraction: float = 0.2,
    seed: int = 0,
    name: str = "boundary",
    model_id: str = "",
) -> Directions:
    """InterFaceGAN-style supervised direction: the unit normal of a linear classifier.

    Args:
        codes: (N, d) latent vectors, or (N, *code_shape) codes (style-based: the chosen w+ rows
            are averaged; projection: z is normalised with ``G.normalize_code``).
        labels: (N,) binary labels (0/1 or bool); the direction points towards label 1.
        method: ``"svm"`` (squared hinge) or ``"logistic"``.
        l2: L2 penalty on the normal vector.
        max_iter: Newton iterations (the solve converges in a handful).
        val_fraction: held-out share used to report accuracy (``metrics['val_accuracy']``).

    Returns:
        One direction; ``eigenvalues[0]`` is ``‖w‖`` of the fitted normal and ``metrics``
        holds ``train_accuracy`` and ``val_accuracy``.
    """
    if method not in ("svm", "logistic"):
        raise GanlensError(f"boundary method {method!r} is not allowed; use svm or logistic")
    sel = parse_layers(G, layers)
    X = _latent_rows(G, torch.as_tensor(np.asarray(codes)), sel).double().cpu()
    y = torch.as_tensor(np.asarray(labels)).reshape(-1).double()
    if len(y) != len(X):
        raise GanlensError(f"got {len(X)} codes but {len(y)} labels")
    if not torch.all((y == 0) | (y == 1)):
        raise GanlensError("labels must be binary (0/1 or False/True)")
    if y.sum() < 2 or (1 - y).sum() < 2:
        raise GanlensError("labels need at least two examples of each class")
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(X), generator=gen)
    n_val = int(round(len(X) * val_fraction)) if 0 < val_fraction < 1 else 0
    val, tr = perm[:n_val], perm[n_val:]
    mu, sd = X[tr].mean(0), X[tr].std(0).clamp_min(1e-8)
    Xs = ((X - mu) / sd).numpy()  # standardise for a well-conditioned solve; mapped back below
    yn = y.numpy()
    theta = _newton_fit(Xs[tr.numpy()], 2 * yn[tr.numpy()] - 1, method=method, l2=l2, max_iter=max_iter)
    w, b = theta[:-1], theta[-1]
    w_lat = torch.from_numpy(w) / sd  # normal in the original coordinates
    norm = float(w_lat.norm())
    if not np.isfinite(norm) or norm == 0:
        raise GanlensError(
            "the classifier found no separating direction (all weights are zero); check the labels"
        )

    def acc(idx):
        if len(idx) == 0:
            return float("nan")
        idx = idx.numpy()
        pred = (Xs[idx] @ w + b) > 0
        return float(np.mean(pred == (yn[idx] > 0.5)))

    return Directions(
        vectors=(w_lat / norm).numpy()[None].astype(np.float32),
        eigenvalues=np.array([norm]),
        layers=sel,
        model_id=model_id,
        method="interfacegan",
        code_shape=tuple(G.code_shape),
        names=[name],
        metrics={"train_accuracy": [acc(tr)], "val_accuracy": [acc(val)]},
    )


def labels_from_scores(scores: np.ndarray, *, ratio: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """InterFaceGAN's sample selection: the top ``ratio`` of scores are positives, the bottom negatives.

    Returns:
        (indices into ``scores``, 0/1 labels) for the selected samples only.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not 0 < ratio <= 0.5:
        raise GanlensError(f"ratio {ratio!r} is not allowed; use a value in (0, 0.5]")
    k = int(len(scores) * ratio)
    if k < 2:
        raise GanlensError(f"ratio {ratio} of {len(scores)} scores keeps {k} per class; need at least 2")
    order = np.argsort(scores, kind="stable")
    idx = np.concatenate([order[-k:], order[:k]])
    return idx, np.concatenate([np.ones(k, dtype=np.int64), np.zeros(k, dtype=np.int64)])
