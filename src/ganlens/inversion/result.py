"""The result every inversion method returns (single-code, projector, mGANprior, encoder, hybrid)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor


@dataclass
class InversionResult:
    """What an inversion produced, for a batch of N target images.

    Attributes:
        codes: (N, *G.code_shape) codes that ``G.synthesis`` consumes, or None when the result is
            not a single code per image. For mGANprior this is the mean of the N codes (an
            approximation useful for editing tools that need one code; ``images`` are exact).
        images: (N, 3, R, R) reconstructions in [-1, 1] (detached, on the CPU). For colorization
            they already carry the input's luminance (see :class:`~ganlens.inversion.degradations.Colorize`).
        method: "z", "w", "w+", "projector", "mganprior", "encoder", "hybrid", ...
        losses: the optimisation loss per step (mean over the batch), for plotting.
        seconds: wall-clock time of the whole call.
        multi_codes: mGANprior only: (N, n_codes, *G.code_shape).
        alpha: mGANprior only: (N, n_codes, C) channel importance.
        layer: mGANprior only: composition layer ℓ.
        final_losses: (N,) final per-image loss (the best restart's), or None.
        raw_images: images straight from the generator, before any task post-processing
            (equal to ``images`` except for colorization).
        extra: method-specific extras (projector: optimised noise maps, w per step, ...).
    """

    codes: Tensor | None
    images: Tensor
    method: str
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    multi_codes: Tensor | None = None
    alpha: Tensor | None = None
    layer: int | None = None
    final_losses: Tensor | None = None
    raw_images: Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])
