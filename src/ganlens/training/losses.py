"""StyleGAN2 losses: non-saturating logistic loss, R1 and path-length regularisation.

All return per-sample values (N,) in float32 so callers choose the reduction and the lazy-
regularisation gain (ADA multiplies a regulariser evaluated every k minibatches by k).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """``softplus(-D(G(z)))`` = ``-log sigmoid(D(G(z)))`` per sample, (N,)."""
    return F.softplus(-fake_logits.float()).flatten()


def d_logistic_loss(real_logits: Tensor | None, fake_logits: Tensor | None) -> Tensor:
    """``softplus(D(G(z))) + softplus(-D(x))`` per sample, (N,); either side may be None."""
    terms = []
    if fake_logits is not None:
        terms.append(F.softplus(fake_logits.float()).flatten())
    if real_logits is not None:
        terms.append(F.softplus(-real_logits.float()).flatten())
    if not terms:
        raise ValueError("d_logistic_loss needs real or fake logits")
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def r1_penalty(real_logits: Tensor, real_img: Tensor, *, create_graph: bool = True) -> Tensor:
    """R1 = ``||∇_x D(x)||²`` per sample, (N,). ``real_img`` must require grad and be the input of
    ``real_logits``; ``create_graph`` keeps the graph so the penalty can be back-propagated."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real_img, create_graph=create_graph)
    return grad.float().square().sum(dim=tuple(range(1, grad.ndim)))


def path_length_lengths(
    img: Tensor, ws: Tensor, *, generator: torch.Generator | None = None, create_graph: bool = True
) -> Tensor:
    """Per-sample Jacobian-vector norm ``sqrt(mean_ws ||J_w^T y||²)`` with ``y ~ N(0, I) / sqrt(H·W)``.

    Args:
        img: (N, C, H, W) images produced from ``ws``.
        ws: (N, num_ws, w_dim) codes that ``img`` depends on (requires grad).
    Returns:
        (N,) path lengths.
    """
    noise = torch.randn(img.shape, generator=generator, dtype=torch.float32).to(img.device)
    noise = noise / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img.float() * noise).sum(), ws, create_graph=create_graph)
    return grad.float().square().sum(dim=2).mean(dim=1).sqrt()


class PathLengthRegularizer:
    """Path-length penalty ``(|J^T y| - a)²`` with ``a`` an EMA (decay ``pl_decay``) of the lengths.

    ``mean`` is the running target ``a``; it is part of the training state (checkpointed).
    """

    def __init__(self, *, decay: float = 0.01) -> None:
        self.decay = decay
        self.mean = torch.zeros([])

    def __call__(self, lengths: Tensor, *, batch_mean: Tensor | None = None) -> Tensor:
        """Penalty per sample (N,). ``batch_mean`` overrides ``lengths.mean()`` (DDP: the mean over
        every rank, so all ranks keep the same target)."""
        m = lengths.mean() if batch_mean is None else batch_mean.detach()
        new_mean = self.mean.to(lengths.device).lerp(m, self.decay)  # as ADA: the target keeps its graph
        self.mean = new_mean.detach().cpu()
        return (lengths - new_mean).square()
