"""Encoder-based and hybrid (domain-regularised) inversion, SPEC §4.4.

* :func:`encoder_invert`: one forward pass, ``codes = E(x)``.
* :func:`hybrid_invert`: start from ``E(x)`` and optimise the codes with Adam (lr 0.01, 100 steps) on
  ``reconstruction(D(G(c)), D(x)) + domain_weight · MSE(c, E(G(c)))`` where ``D`` is the task
  degradation (identity, colorize, super-resolution, inpainting mask). The domain term keeps the code
  where the encoder can reach it; its gradient flows through the frozen encoder.
* :func:`hybrid_diffuse`: IDP's masked variant ("semantic diffusion"): the loss only sees
  ``x · keep`` and there is no domain term.

As in IDP's ``inverter.py`` the loss of a step is measured at the codes *before* that step's update,
every term is a mean, and a batch is optimised as independent images (per-image losses are summed).
"""

from __future__ import annotations

import time
from contextlib import contextmanager

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
)
from ganlens.inversion.degradations import Degradation, Inpaint
from ganlens.inversion.encoder import Encoder
from ganlens.inversion.losses import ReconstructionLoss
from ganlens.inversion.result import InversionResult


@contextmanager
def _frozen_eval(encoder: Encoder):
    """Encoder in eval mode with its parameters frozen; restores both afterwards."""
    was_training = encoder.training
    flags = [p.requires_grad for p in encoder.parameters()]
    encoder.eval().requires_grad_(False)
    try:
        yield encoder
    finally:
        encoder.train(was_training)
        for p, f in zip(encoder.parameters(), flags):
            p.requires_grad_(f)


def _check(G: Generator, encoder: Encoder, device: torch.device) -> None:
    if not isinstance(encoder, Encoder):
        raise GanlensError(
            f"encoder must be a ganlens Encoder (see load_encoder), got {type(encoder).__name__}"
        )
    encoder.fits(G)
    for name, dev in (("generator", G.device), ("encoder", encoder.device)):
        if dev.type != device.type or (device.index is not None and dev.index != device.index):
            raise GanlensError(
                f"the {name} is on {dev} but device={str(device)!r}; move it there with .to(device)"
            )


def domain_loss(encoder: Encoder, G: Generator, codes: Tensor, images: Tensor | None = None) -> Tensor:
    """Per-image ``mean((codes − E(G(codes)))²)``, shape (N,); pass ``images = G(codes)`` to reuse them."""
    if images is None:
        images = G.synthesis(codes, noise_mode="const")
    rec = encoder(images)  # (N, *code_shape)
    return (codes - rec).pow(2).flatten(1).mean(dim=1)


def encoder_invert(
    G: Generator,
    encoder: Encoder,
    target: Tensor,
    *,
    degradation: Degradation | None = None,
    loss: ReconstructionLoss | None = None,
    device: torch.device | str = "cpu",
) -> InversionResult:
    """Invert with one encoder pass: ``codes = E(initial_image(D(x)))``.

    Args:
        target: (N, 3, R, R) in [-1, 1], or an observation at the degradation's size.
        degradation: the task (default identity); the encoder sees its full-resolution first guess.
        loss: only used to report ``final_losses`` (default pixel MSE).

    Returns:
        InversionResult with ``method="encoder"``.
    """
    t0 = time.perf_counter()
    device = torch.device(device)
    _check(G, encoder, device)
    degradation = default_degradation(degradation).to(device)
    loss = default_loss(loss)
    tgt = check_target(G, target, degradation, device)
    with _frozen_eval(encoder), torch.no_grad():
        codes = encoder(degradation.initial_image(tgt, G.resolution))
        raw = G.synthesis(codes, noise_mode="const")
        final = loss.per_sample(degradation(raw), tgt)
        images = degradation.postprocess(raw, target.to(device))
    return InversionResult(
        codes=codes.detach().cpu(),
        images=images.detach().cpu(),
        method="encoder",
        losses=[float(final.mean())],
        seconds=time.perf_counter() - t0,
        final_losses=final.detach().cpu(),
        raw_images=raw.detach().cpu(),
    )


def hybrid_invert(
    G: Generator,
    encoder: Encoder,
    target: Tensor,
    *,
    steps: int = 100,
    lr: float = 0.01,
    degradation: Degradation | None = None,
    loss: ReconstructionLoss | None = None,
    domain_weight: float = 2.0,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    progress: bool = True,
    init_codes: Tensor | None = None,
) -> InversionResult:
    """Encoder initialisation + domain-regularised optimisation of the codes (IDP ``invert``).

    Args:
        G: generator (frozen).
        encoder: an :class:`Encoder` for ``G`` (used frozen, in eval mode; gradients flow through it).
        target: (N, 3, R, R) in [-1, 1], or an observation at the degradation's size.
        steps: Adam steps (IDP: 100).
        lr: Adam learning rate (IDP: 0.01); Adam β = (0.9, 0.999) as torch's default, like IDP.
        degradation: task applied to prediction and target inside the loss (default identity).
        loss: reconstruction loss (default pixel MSE; IDP adds ``perceptual=5e-5`` VGG features).
        domain_weight: weight of ``MSE(c, E(G(c)))`` (IDP: 2.0; 0 turns it off).
        device: where to run; G and the encoder must already be there.
        generator: unused by the deterministic method; accepted for a uniform API.
        progress: show a tqdm bar.
        init_codes: start here instead of ``E(initial_image(D(x)))`` (N, *code_shape).

    Returns:
        InversionResult with ``method="hybrid"``, per-step ``losses`` (total, mean over the batch),
        ``extra`` = {"init_codes", "reconstruction", "domain" (per-step means), "domain_weight", "lr"}.
    """
    del generator  # nothing random here
    t0 = time.perf_counter()
    check_positive_int("steps", steps, lo=0)
    lr = check_lr(lr)
    if not (isinstance(domain_weight, (int, float)) and domain_weight >= 0):
        raise GanlensError(f"domain_weight {domain_weight!r} must be a number ≥ 0")
    device = torch.device(device)
    _check(G, encoder, device)
    degradation = default_degradation(degradation).to(device)
    loss = default_loss(loss)
    tgt = check_target(G, target, degradation, device)  # (N, ...) in observation space

    history: list[float] = []
    rec_hist: list[float] = []
    dom_hist: list[float] = []
    with _frozen_eval(encoder):
        if init_codes is None:
            with torch.no_grad():
                init = encoder(degradation.initial_image(tgt, G.resolution))  # (N, *code_shape)
        else:
            init = G.check_codes(init_codes.detach().float().to(device))
            if init.shape[0] != tgt.shape[0]:
                raise GanlensError(f"{init.shape[0]} initial codes for {tgt.shape[0]} target images")
        codes = init.clone().requires_grad_(True)
        opt = torch.optim.Adam([codes], lr=lr)

        def evaluate() -> tuple[Tensor, Tensor, Tensor, Tensor]:
            img = G.synthesis(codes, noise_mode="const")
            rec = loss.per_sample(degradation(img), tgt)  # (N,)
            dom = domain_loss(encoder, G, codes, img) if domain_weight else torch.zeros_like(rec)
            return rec + domain_weight * dom, rec, dom, img

        for _ in tqdm(range(steps), desc="hybrid invert", disable=not progress, leave=False):
            total, rec, dom, _img = evaluate()
            history.append(float(total.detach().mean()))
            rec_hist.append(float(rec.detach().mean()))
            dom_hist.append(float(dom.detach().mean()))
            opt.zero_grad(set_to_none=True)
            total.sum().backward()  # images are independent: sum of per-image means
            opt.step()
        with torch.no_grad():
            total, rec, dom, raw = evaluate()
            images = degradation.postprocess(raw, target.to(device))
    return InversionResult(
        codes=codes.detach().cpu(),
        images=images.detach().cpu(),
        method="hybrid",
        losses=history,
        seconds=time.perf_counter() - t0,
        final_losses=total.detach().cpu(),
        raw_images=raw.detach().cpu(),
        extra={
            "init_codes": init.detach().cpu(),
            "reconstruction": rec_hist,
            "domain": dom_hist,
            "final_domain": dom.detach().cpu(),
            "domain_weight": float(domain_weight),
            "lr": lr,
        },
    )


def hybrid_diffuse(
    G: Generator,
    encoder: Encoder,
    target: Tensor,
    keep: Tensor,
    *,
    steps: int = 100,
    lr: float = 0.01,
    loss: ReconstructionLoss | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> InversionResult:
    """IDP's masked variant ("semantic diffusion"): fit only the pixels where ``keep`` is 1.

    ``target`` is typically a copy-paste composite; the encoder starts from the whole composite,
    then the loss sees ``x · keep`` and has no domain term, so the rest of the image is free to
    blend in. ``keep`` is (H, W), (1, H, W) or (N|1, 1, H, W) in [0, 1] with **1 = pixels to fit**
    (the opposite of an inpainting mask).
    """
    keep = torch.as_tensor(keep, dtype=torch.float32)
    if float(keep.min()) < 0 or float(keep.max()) > 1:
        raise GanlensError("keep mask values must lie in [0, 1] (1 = pixels to fit)")
    dev = torch.device(device)
    _check(G, encoder, dev)
    tgt = check_target(G, target, default_degradation(None), dev)
    with _frozen_eval(encoder), torch.no_grad():
        init = encoder(tgt)  # the whole composite, as IDP
    result = hybrid_invert(
        G,
        encoder,
        target,
        steps=steps,
        lr=lr,
        degradation=Inpaint(1.0 - keep),
        init_codes=init,
        loss=loss,
        domain_weight=0.0,
        device=device,
        progress=progress,
    )
    result.method = "hybrid-diffuse"
    return result
