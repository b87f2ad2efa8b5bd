"""Moving codes along directions (SPEC §3.3) and rendering them in batches.

Projection generators (DCGAN, PGGAN): the code is z; it is first put through
``G.normalize_code`` (PGGAN pixel norm, DCGAN identity) and then moved, as the official tool does.
Style-based generators: the code is w+ (already truncated); only the rows of the chosen layers move.
Multi-code (mGANprior) codes ``(N, n_codes, *code_shape)`` move all their codes together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ganlens.errors import GanlensError
from ganlens.sefa.directions import Directions, latent_dim
from ganlens.sefa.factorize import LayerSpec, parse_layers


def sample_codes(
    G,
    n: int,
    *,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    trunc_psi: float = 0.7,
    trunc_cutoff: int | None = 8,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Draw ``n`` z and turn them into the codes SeFa edits.

    Style-based: ``G.mapping(z)`` truncated with (ψ, cutoff) (official sefa.py defaults 0.7 / 8).
    Projection: ``G.normalize_code(z)``; truncation does not apply.

    Returns:
        (z (n, z_dim), codes (n, *code_shape)), both on ``device`` (default: G's device).
    """
    if not (isinstance(n, int) and n >= 1):
        raise GanlensError(f"number of samples {n!r} must be a positive integer")
    device = torch.device(device) if device is not None else G.device
    z = G.sample_z(n, seed=seed, generator=generator, device="cpu").to(device)
    with torch.no_grad():
        if G.style_based:
            if trunc_cutoff is not None and int(trunc_cutoff) < 0:
                raise GanlensError(
                    f"truncation cutoff {trunc_cutoff!r} must be >= 0 (rows < cutoff are truncated)"
                )
            if trunc_cutoff is not None:  # like the official code, a cutoff past the last row means all rows
                trunc_cutoff = min(int(trunc_cutoff), G.num_ws)
            codes = G.mapping(z, trunc_psi=trunc_psi, trunc_cutoff=trunc_cutoff)
        else:
            codes = G.normalize_code(G.mapping(z))
    return z, codes


def _as_list(x, what: str) -> list:
    if isinstance(x, (list, tuple, np.ndarray)):
        return list(x)
    if isinstance(x, Tensor):
        return x.flatten().tolist()
    return [x]


def edit_offset(
    directions: Directions,
    *,
    index: int | Sequence[int],
    distance: float | Sequence[float],
    device: torch.device | str = "cpu",
) -> Tensor:
    """Σ_k distance_k · n_index_k as a (d,) float32 tensor.

    ``index`` and ``distance`` are a scalar each, or lists of equal length (a scalar is
    broadcast against a list), e.g. ``index=[0, 2], distance=[1.5, -1]``.
    """
    idx = _as_list(index, "index")
    dist = _as_list(distance, "distance")
    if len(idx) == 1 and len(dist) > 1:
        idx = idx * len(dist)
    if len(dist) == 1 and len(idx) > 1:
        dist = dist * len(idx)
    if len(idx) != len(dist) or not idx:
        raise GanlensError(
            f"got {len(idx)} direction indices but {len(dist)} distances; give one distance per index"
        )
    vecs = directions.tensor(device)
    out = torch.zeros(directions.dim, dtype=torch.float32, device=device)
    for i, d in zip(idx, dist):
        try:
            d = float(d)
        except (TypeError, ValueError):
            raise GanlensError(f"distance {d!r} is not a number") from None
        if not np.isfinite(d):
            raise GanlensError(f"distance {d!r} must be finite")
        out = out + d * vecs[directions.check_index(int(i))]
    return out


def edit_codes(
    G,
    codes: Tensor,
    directions: Directions,
    *,
    index: int | Sequence[int],
    distance: float | Sequence[float],
    layers: LayerSpec = None,
) -> Tensor:
    """Move ``codes`` along direction(s) ``index`` by ``distance``.

    Args:
        G: the generator the codes and directions belong to.
        codes: (N, *code_shape) codes (sampled with :func:`sample_codes`, or loaded from a
            :class:`ganlens.codes.CodesFile`), or multi-codes (N, n_codes, *code_shape).
        directions: from :func:`factorize` / baselines / :meth:`Directions.load`.
        index, distance: scalars or equal-length lists; the edit is Σ distance_k · n_index_k.
        layers: w+ rows to move (style-based); default: the directions' own layers.

    Returns:
        New codes of the same shape (the input is not modified).

    Raises:
        GanlensError: shapes that do not fit G, directions of another latent size, bad index,
            layers or distances.
    """
    if not isinstance(codes, Tensor):
        codes = torch.as_tensor(np.asarray(codes), dtype=torch.float32)
    shape = tuple(G.code_shape)
    k = len(shape)
    if codes.ndim == k + 2 and tuple(codes.shape[2:]) == shape:
        flat = codes.reshape(-1, *shape)  # multi-code: (N·n_codes, *code_shape)
    elif codes.ndim == k + 1 and tuple(codes.shape[1:]) == shape:
        flat = codes
    else:
        raise GanlensError(
            f"codes have shape {tuple(codes.shape)}; expected (N, {', '.join(map(str, shape))}) "
            f"or multi-codes (N, n_codes, {', '.join(map(str, shape))})"
        )
    if directions.dim != latent_dim(G):
        raise GanlensError(
            f"directions have latent size {directions.dim} but this {G.arch} model "
            f"has latent size {latent_dim(G)}"
        )
    offset = edit_offset(directions, index=index, distance=distance, device=codes.device).to(codes.dtype)
    if G.style_based:
        rows = parse_layers(G, layers if layers is not None else (directions.layers or "all"))
        out = flat.clone()
        out[:, list(rows)] += offset  # only the chosen w+ rows move
    else:
        if layers is not None:
            parse_layers(G, layers)  # projection generators: only layer 0 is valid
        out = G.normalize_code(flat) + offset
    return out.reshape(codes.shape)


@torch.no_grad()
def synthesize(G, codes: Tensor, *, batch_size: int = 16, noise_mode: str = "const") -> Tensor:
    """``G.synthesis`` in batches without gradients; returns float images on the CPU."""
    outs = []
    for i in range(0, len(codes), batch_size):
        outs.append(G.synthesis(codes[i : i + batch_size], noise_mode=noise_mode).float().cpu())
    return torch.cat(outs) if outs else torch.empty(0)
