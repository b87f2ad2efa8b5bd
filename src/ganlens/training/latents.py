"""Reparametrising a style-based generator's latents: permuting its z inputs (the same
distribution of images, other latents), and folding an affine map of W into its style affines.

Every StyleGAN2 that ``ganlens train stylegan2`` built before session 48 initialised its weights
right after ``torch.manual_seed(seed)``, and the first weights drawn are the mapping network's
first layer (``fc0``, out × z_dim, drawn like ``torch.randn``). So row j of ``fc0`` starts as
latent j of torch's stream for that seed, which is also the stream that
``torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))`` samples: for those
latents one unit of ``fc0`` gets |z|² ≈ z_dim instead of about √z_dim, and they map far out in W.
The mapping's first layer hardly moves in training (lr × 0.01), so a trained model keeps this. On
the shipped ToonFaces model the first 256 latents of seed 0, half of ``benchmarks/toonfaces.py``'s
standard set, map twice as far from ``w_avg`` as any others (|w − w_avg| 22.0 against 11.6).

Permuting the columns of ``fc0`` that read z by a fixed random permutation q gives a model
G'(z) = G(Pz) with P a permutation matrix; Pz has the same N(0, I) law as z and pixel norm does not
see the order, so G' draws exactly G's distribution of images, while no stream's first latents line
up with ``fc0``'s rows any more. Adam's second moments of ``fc0`` are permuted the same way.

StyleGAN2's synthesis network reads w only through the affines of its layers (style = A w + b),
so an affine map of W, w' = w + L (w − w_avg) + c, folds exactly into them: A ← A (I + L),
b ← b + A (c − L w_avg) (:func:`fold_w_affine`). ``benchmarks/toonfaces_w_affine.py`` uses it to
ask whether a factor's marginal can be fixed in W alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ganlens.errors import GanlensError

#: cosine above which a row of ``fc0`` counts as a latent of a torch stream
MATCH_COSINE = 0.99


def _mapping(G) -> torch.nn.Module | None:
    """StyleGAN2's ``mapping_network`` or StyleGAN v1's ``mapping_net``."""
    return getattr(G, "mapping_network", None) or getattr(G, "mapping_net", None)


def _fc0(G) -> torch.nn.Module:
    net = _mapping(G)
    fc0 = getattr(net, "fc0", None)
    if fc0 is None or not getattr(net, "normalize_z", False) or not getattr(G, "z_dim", 0):
        raise GanlensError(
            f"{getattr(G, 'arch', type(G).__name__)} has no mapping network that normalises z "
            "(StyleGAN and StyleGAN2 models only)"
        )
    return fc0


def stream_rows(G, seeds: range = range(10)) -> dict[int, int]:
    """``{seed: k}``: how many of the first rows of torch's normal stream for each seed are rows of
    the mapping network's first layer (cosine ≥ :data:`MATCH_COSINE`, row j against latent j);
    seeds with none are left out."""
    weight = _fc0(G).weight.detach().float()[:, : G.z_dim]  # (out, z_dim)
    found = {}
    for seed in seeds:
        z = torch.randn(weight.shape[0], G.z_dim, generator=torch.Generator().manual_seed(int(seed)))
        k = int((torch.nn.functional.cosine_similarity(weight, z, dim=1) >= MATCH_COSINE).sum())
        if k:
            found[int(seed)] = k
    return found


def latent_permutation(z_dim: int, seed: int) -> torch.Tensor:
    """A random permutation of ``range(z_dim)`` with no fixed point, from ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    while True:
        q = torch.randperm(z_dim, generator=gen)
        if z_dim < 2 or not bool((q == torch.arange(z_dim)).any()):
            return q


@dataclass(frozen=True)
class PermuteResult:
    """The permuted generator, the permutation of its z inputs, and the streams fc0 matched."""

    G: torch.nn.Module
    permutation: torch.Tensor  # (z_dim,) column j of the new fc0 is column permutation[j] of the old
    matched_before: dict[int, int]
    matched_after: dict[int, int]


def permute_latents(G, *, seed: int = 1) -> PermuteResult:
    """A copy of ``G`` whose z inputs are permuted (see the module docstring): the same images in
    distribution, other images for a given latent. ``G`` itself is left as it is.

    Raises:
        GanlensError: ``G`` has no mapping network that normalises z.
    """
    before = stream_rows(G)  # refuses a G without a z-normalising mapping network
    q = latent_permutation(G.z_dim, seed)
    out = copy.deepcopy(G)
    fc0 = _fc0(out)
    with torch.no_grad():
        fc0.weight[:, : G.z_dim] = fc0.weight[:, : G.z_dim][:, q]
    return PermuteResult(out, q, before, stream_rows(out))


def fc0_weight_index(G) -> int:
    """Position of the mapping's first weight among ``G.parameters()``: its index in the
    optimiser's state (:func:`ganlens.training.optim.generator_param_groups` keeps that order)."""
    weight = _fc0(G).weight
    return next(i for i, p in enumerate(G.parameters()) if p is weight)


def fold_w_affine(G, L: torch.Tensor, c: torch.Tensor) -> torch.nn.Module:
    """A copy of StyleGAN2 ``G`` whose synthesis network draws for w what ``G``'s draws for
    w + L (w − w_avg) + c: the map folded into every layer's style affine (module docstring).
    ``G`` itself is left as it is; its mapping network and ``w_avg`` are unchanged.

    Raises:
        GanlensError: ``G`` is not a StyleGAN2, or ``L`` is not (w_dim, w_dim) or ``c`` not (w_dim,).
    """
    from ganlens.generators.stylegan2 import StyleGAN2Generator, SynthesisLayer, ToRGBLayer

    if not isinstance(G, StyleGAN2Generator):
        raise GanlensError(
            f"{getattr(G, 'arch', type(G).__name__)} is not a StyleGAN2; W maps fold into StyleGAN2 only"
        )
    n = G.w_dim
    if tuple(L.shape) != (n, n) or tuple(c.shape) != (n,):
        raise GanlensError(
            f"L {tuple(L.shape)} and c {tuple(c.shape)} must be ({n}, {n}) and ({n},) for w_dim {n}"
        )
    out = copy.deepcopy(G)
    dev = G.w_avg.device
    L, c = L.detach().to(dev, torch.float64), c.detach().to(dev, torch.float64)
    m = torch.eye(n, dtype=torch.float64, device=dev) + L
    shift = c - L @ G.w_avg.detach().double()
    with torch.no_grad():
        for layer in out.synthesis_network.modules():
            if isinstance(layer, (SynthesisLayer, ToRGBLayer)):
                aff = layer.affine
                weight = aff.weight.double() * aff.weight_gain  # the weight the forward pass applies
                aff.bias.copy_((aff.bias.double() * aff.lr_mul + weight @ shift) / aff.lr_mul)
                aff.weight.copy_(weight @ m / aff.weight_gain)
    return out
