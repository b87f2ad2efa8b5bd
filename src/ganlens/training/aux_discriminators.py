"""Auxiliary discriminators: a second D on one view of every image, each with its own Dmain, lazy
R1, Adam, checkpoint files and weight in G's loss.

* ``D_low`` (``lowres_d``) sees every image box-filtered down to a few pixels. At that size edge
  sharpness is averaged away, so it can only tell real from fake by what is drawn where (pose,
  size, shapes, colours), which a full-resolution D that wins on rendering quality ignores.
* ``D_crop`` (``crop_d``), after GFP-GAN's facial-component discriminators, sees a fixed window at
  full resolution (on ToonFaces at 64 px, rows 21-52 and columns 16-47 hold the brows, eyes, nose
  and mouth), so its whole capacity goes to the small strokes a full-image D averages away. With
  ``crop_d_from_d`` it is D's own architecture seeing the window in place (the rest blanked), so
  that it can start as a copy of a trained D rather than from scratch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from ganlens.training.discriminator import StyleGAN2Discriminator
from ganlens.training.export import TRAINING_AIDS


@dataclasses.dataclass
class AuxDiscriminator:
    """A second discriminator on one view of every image: ``D_low`` (box-filtered) or ``D_crop``
    (a window). ``name`` gives its checkpoint files (``D_<name>``, ``opt_D_<name>``), config key
    (``d_<name>_config``) and stats suffix (``_<name>``)."""

    name: str
    D: StyleGAN2Discriminator
    view: Callable[[Tensor], Tensor]
    weight: float
    what: str  # how the log names it: "16 px", "32-px window at (21, 16)"
    opt: torch.optim.Optimizer | None = None
    starts_as_d: bool = False  # where it starts fresh, it starts as a copy of D and its Adam

    @staticmethod
    def module_of(name: str) -> str:
        """The checkpoint file (and export key) of the auxiliary D ``name``: ``D_low``, ``D_crop``."""
        return f"D_{name}"

    @property
    def module(self) -> str:
        return self.module_of(self.name)

    @property
    def optimizer(self) -> str:
        return f"opt_{self.module}"

    @property
    def config_key(self) -> str:
        """The checkpoint state's key for its config (the export's table of training aids names it)."""
        return TRAINING_AIDS[self.module].config_key


def crop_window(images: Tensor, size: int, at: tuple[int, int]) -> Tensor:
    """The ``size``-pixel square of ``images`` (N, C, R, R) whose top-left pixel is ``at`` (row, column)."""
    r, c = at
    return images[..., r : r + size, c : c + size]


def mask_window(images: Tensor, size: int, at: tuple[int, int]) -> Tensor:
    """``images`` (N, C, R, R) with every pixel outside the ``size``-pixel square at ``at`` (row,
    column) set to 0, mid-grey: the window in place, at the scale a full-image D knows."""
    r, c = at
    keep = torch.zeros(images.shape[-2:], dtype=images.dtype, device=images.device)
    keep[r : r + size, c : c + size] = 1
    return images * keep


def box_filter(images: Tensor, res: int) -> Tensor:
    """``images`` (N, C, R, R) averaged over (R/res)-pixel squares down to ``res`` pixels (as they are at R)."""
    factor = images.shape[-1] // res
    return images if factor == 1 else torch.nn.functional.avg_pool2d(images, factor)
