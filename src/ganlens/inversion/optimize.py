"""Single-code inversion by optimisation over z, w or w+ (batched, with random restarts).

* ``space="z"``: optimise z; the code is ``G.mapping(z)`` (projection models: z itself).
* ``space="w"``: one w per image broadcast to all ``num_ws`` rows (style-based only).
* ``space="w+"``: one w per row (style-based only).

Every image of the batch is optimised independently (the loss is summed over images, Adam is
element-wise). ``restarts > 1`` runs that many random initialisations side by side and keeps,
per image, the code with the lowest loss seen during optimisation. For the NVIDIA projector
schedule (noise optimisation, lr ramp, latent noise) see :func:`ganlens.inversion.projector.project`.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ganlens.errors import GanlensError
from ganlens.generators.base import Generator
from ganlens.inversion.common import (
    check_lr,
    check_positive_int,
    check_target,
    default_degradation,
    default_loss,
    make_optimizer,
    resolve_device,
)
from ganlens.inversion.degradations import Degradation
from ganlens.inversion.losses import ReconstructionLoss
from ganlens.inversion.result import InversionResult

SPACES = ("z", "w", "w+")
INITS = ("random", "mean", "zero")
DEFAULT_LR = {"adam": 0.05, "sgd": 1.0}


def check_space(G: Generator, space: str) -> str:
    if space not in G.latent_spaces:
        raise GanlensError(
            f"latent space {space!r} is not available for {G.arch}; "
            f"this model allows {', '.join(G.latent_spaces)}"
        )
    return space


def w_from_z(G: Generator, z: Tensor) -> Tensor:
    """(N, z_dim) → (N, w_dim): the first row of the (untruncated) mapping output."""
    return G.mapping(z)[:, 0]


def initial_latents(
    G: Generator, space: str, n: int, *, init: str, generator: torch.Generator | None, device: torch.device
) -> Tensor:
    """Starting point of the optimised variable for ``n`` images.

    random: z ~ N(0, I) (w/w+: mapped through the mapping network); mean: w_avg (z: zeros);
    zero: all zeros.
    """
    if init not in INITS:
        raise GanlensError(f"init {init!r} is not allowed; use one of {', '.join(INITS)}")
    if init == "zero" or (init == "mean" and space == "z"):
        shape = {"z": (n, G.z_dim), "w": (n, G.w_dim), "w+": (n, G.num_ws, G.w_dim)}[space]
        return torch.zeros(shape, device=device)
    if init == "mean":
        w = G.w_avg.detach().to(device).float()
        return w.expand(n, -1).clone() if space == "w" else w.expand(n, G.num_ws, -1).clone()
    z = torch.randn(n, G.z_dim, generator=generator).to(device)
    if space == "z":
        return z
    with torch.no_grad():
        w = w_from_z(G, z)
    return w if space == "w" else w[:, None].expand(-1, G.num_ws, -1).clone()


def latents_to_codes(G: Generator, space: str, latents: Tensor) -> Tensor:
    """The optimised variable → (N, *code_shape)."""
    if space == "z":
        return G.mapping(latents)
    if space == "w":
        return latents[:, None].expand(-1, G.num_ws, -1)
    return latents


def invert(
    G: Generator,
    target: Tensor,
    *,
    space: str = "z",
    steps: int = 300,
    lr: float | None = None,
    optimizer: str = "adam",
    restarts: int = 1,
    init: str = "random",
    init_latents: Tensor | None = None,
    prior_weight: float = 0.0,
    loss: ReconstructionLoss | None = None,
    degradation: Degradation | None = None,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> InversionResult:
    """Invert a batch of images into single codes by gradient descent.

    Args:
        G: generator (frozen; its parameters are not touched).
        target: (N, 3, R, R) in [-1, 1] (or an observation already in the degradation's space).
        space: "z", "w" or "w+" (see the module docstring).
        steps: optimisation steps.
        lr: learning rate (default 0.05 for Adam, 1.0 for SGD as in mGANprior).
        optimizer: "adam" or "sgd".
        restarts: random initialisations per image; the best is kept.
        init: "random", "mean" (w_avg / zero z) or "zero".
        init_latents: start the first restart here instead, (N, *latent_shape) of ``space`` (e.g.
            an encoder's guess, see :func:`encoder_latents`); the other restarts use ``init``.
        prior_weight: z space only: adds ``prior_weight · (mean(z²) − 1)²`` per image, which keeps
            ‖z‖ near the √z_dim shell where N(0, I) puts its mass (0 turns it off).
        loss: reconstruction loss (default pixel MSE).
        degradation: task degradation applied to prediction and target (default identity).
        device: where to run (default: G's device).
        generator: torch.Generator for the random initialisations.
        progress: show a tqdm bar.

    Returns:
        InversionResult with ``codes`` (N, *code_shape), ``images`` and per-step ``losses``;
        ``extra["latents"]`` holds the optimised z / w / w+.
    """
    t0 = time.perf_counter()
    check_space(G, space)
    check_positive_int("steps", steps, lo=0)
    check_positive_int("restarts", restarts)
    lr = check_lr(lr if lr is not None else DEFAULT_LR.get(optimizer, 0.05))
    device = resolve_device(device, G)
    degradation = default_degradation(degradation).to(device)
    loss = default_loss(loss)
    tgt = check_target(G, target, degradation, device)  # (N, ...) in observation space
    n = tgt.shape[0]
    tgt_rep = tgt.repeat(restarts, *([1] * (tgt.ndim - 1)))  # (restarts·N, ...), restart-major
    deg = _repeat_degradation(degradation, restarts)

    if not (isinstance(prior_weight, (int, float)) and prior_weight >= 0):
        raise GanlensError(f"prior_weight {prior_weight!r} must be a number ≥ 0")
    if prior_weight and space != "z":
        raise GanlensError(f"prior_weight applies to z space only, not {space!r}")
    latents = initial_latents(G, space, restarts * n, init=init, generator=generator, device=device)
    if init_latents is not None:
        start = torch.as_tensor(init_latents).detach().float().to(device)
        if tuple(start.shape) != (n, *latents.shape[1:]):
            raise GanlensError(
                f"init_latents have shape {tuple(start.shape)}; expected {(n, *latents.shape[1:])} "
                f"for {n} image(s) in {space} space"
            )
        latents[:n] = start  # restart-major: the first restart of every image
    latents.requires_grad_(True)
    opt = make_optimizer(optimizer, [latents], lr)
    best_loss = torch.full((restarts * n,), float("inf"), device=device)
    best = latents.detach().clone()
    history: list[float] = []
    for _ in tqdm(range(steps), desc=f"invert {space}", disable=not progress, leave=False):
        opt.zero_grad(set_to_none=True)
        img = G.synthesis(latents_to_codes(G, space, latents), noise_mode="const")
        per = loss.per_sample(deg(img), tgt_rep)  # (restarts·N,)
        if prior_weight:
            per = per + prior_weight * z_shell_penalty(latents)
        with torch.no_grad():
            better = per < best_loss
            best_loss = torch.where(better, per.detach(), best_loss)
            best[better] = latents.detach()[better]
        history.append(float(per.detach().mean()))
        per.sum().backward()
        opt.step()
    with torch.no_grad():  # the final state too
        img = G.synthesis(latents_to_codes(G, space, latents), noise_mode="const")
        per = loss.per_sample(deg(img), tgt_rep)
        if prior_weight:
            per = per + prior_weight * z_shell_penalty(latents)
        better = per < best_loss
        best_loss = torch.where(better, per, best_loss)
        best[better] = latents.detach()[better]
        # pick the best restart per image
        losses_rn = best_loss.view(restarts, n)
        pick = losses_rn.argmin(dim=0)  # (N,)
        chosen = best.view(restarts, n, *best.shape[1:])[pick, torch.arange(n, device=device)]
        codes = latents_to_codes(G, space, chosen)
        raw = G.synthesis(codes, noise_mode="const")
        images = degradation.postprocess(raw, target.to(device))
    return InversionResult(
        codes=codes.detach().cpu(),
        images=images.detach().cpu(),
        method=space,
        losses=history,
        seconds=time.perf_counter() - t0,
        final_losses=losses_rn.min(dim=0).values.detach().cpu(),
        raw_images=raw.detach().cpu(),
        extra={
            "latents": chosen.detach().cpu(),
            "space": space,
            "optimizer": optimizer,
            "lr": lr,
            "restarts": restarts,
            "prior_weight": float(prior_weight),
            "init": "latents" if init_latents is not None else init,
        },
    )


def z_shell_penalty(z: Tensor) -> Tensor:
    """Per-image ``(mean(z²) − 1)²``: 0 on the shell ‖z‖ = √z_dim where N(0, I) samples lie."""
    return (z.pow(2).flatten(1).mean(dim=1) - 1).pow(2)


def encoder_latents(
    G: Generator, encoder, space: str, observed: Tensor, degradation: Degradation | None = None
):
    """An encoder's guess as the optimised variable of ``space``: (N, *latent_shape).

    The encoder sees the degradation's full-resolution first guess of the observation (bicubic
    upsampling for super-resolution). Its codes are z itself on projection models (DCGAN, PGGAN),
    w+ rows on style-based models (``space="w"`` takes their mean; ``space="z"`` is not possible
    there because the mapping network cannot be inverted).
    """
    check_space(G, space)
    if space == "z" and G.style_based:
        raise GanlensError(
            f"an encoder gives w+ codes for {G.arch}; z space cannot start from them, use space 'w' or 'w+'"
        )
    degradation = default_degradation(degradation)
    device = encoder.device
    with torch.no_grad():
        obs = check_target(G, observed, degradation, device)
        codes = encoder(degradation.initial_image(obs, G.resolution)).float()
    if space == "w":
        return codes.mean(dim=1)
    return codes


def _repeat_degradation(degradation: Degradation, restarts: int) -> Degradation:
    """Per-image masks must be repeated like the targets (restart-major)."""
    from ganlens.inversion.degradations import Inpaint

    if isinstance(degradation, Inpaint) and degradation.mask.shape[0] > 1 and restarts > 1:
        return Inpaint(degradation.mask.repeat(restarts, 1, 1, 1), paste=degradation.paste)
    return degradation
