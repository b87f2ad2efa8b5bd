"""Training: StyleGAN2 (single process or ``torchrun``), its discriminator, losses and checkpoints."""

from ganlens.training.config import TrainConfig, TrainResult
from ganlens.training.discriminator import DiscriminatorConfig, StyleGAN2Discriminator
from ganlens.training.ema import PosthocEMA, average_generators, posthoc_ema
from ganlens.training.export import (
    AverageResult,
    ExportResult,
    PermuteWriteResult,
    export_generator,
    write_average,
    write_permuted,
)
from ganlens.training.latents import PermuteResult, fold_w_affine, permute_latents, stream_rows
from ganlens.training.losses import (
    PathLengthRegularizer,
    d_logistic_loss,
    g_nonsaturating_loss,
    path_length_lengths,
    r1_penalty,
)
from ganlens.training.stylegan2 import train_stylegan2

__all__ = [
    "AverageResult",
    "DiscriminatorConfig",
    "ExportResult",
    "PathLengthRegularizer",
    "PermuteResult",
    "PermuteWriteResult",
    "PosthocEMA",
    "StyleGAN2Discriminator",
    "TrainConfig",
    "TrainResult",
    "average_generators",
    "d_logistic_loss",
    "export_generator",
    "fold_w_affine",
    "g_nonsaturating_loss",
    "path_length_lengths",
    "permute_latents",
    "posthoc_ema",
    "r1_penalty",
    "stream_rows",
    "train_stylegan2",
    "write_average",
    "write_permuted",
]
