"""Attribute-marginal matching for unconditional training on labelled data (``--attr-weight``).

An unconditional GAN's discriminator only has to tell real from fake. On ToonFaces it does so by
rendering quality and ignores which attributes G draws (README, "D does not see the attribute
errors"), so G keeps drawing too many neutral mouths and too few strong smiles. This module gives
G the missing signal from the data's own labels, in the manner of CatGAN (Springenberg, ICLR 2016):

* an auxiliary **attribute network** ``A`` (:class:`AttributeNet`) is trained beside D on the real
  images only, to read every factor: a categorical factor as its classes (plus "not applicable"
  for a factor with ``requires``), a continuous one as ``bins`` equal bins of its range;
* Gmain gets ``attr_weight × (Σ_f KL(π_f ‖ p̄_f) + attr_entropy × Σ_f E_x H(p_f(x))) / F``: p̄_f is
  A's mean class distribution over the generated batch and π_f the class frequencies of the whole
  training set. The first term pulls the batch's histogram of each factor towards the data's; the
  second asks every sample to be readable (confident), which rules out the cheap way to match a
  flat histogram: samples that are ambiguous between all classes.

G stays unconditional: no label goes into G or D. By default A never learns from a generated
image; with ``attr_fake_entropy`` it also learns to be unsure of them (CatGAN's discriminator side),
so that G cannot satisfy the term by drawing what A misreads. A is a small CNN of its own, not
the attribute classifier that ``benchmarks/toonfaces.py`` measures with.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlens.errors import GanlensError

#: A follows the training at this fraction of ``attr_lr``, the rate its pretraining starts at. At a
#: constant 1e-3, A's reading of the smile (its finest factor) stayed noisy: R² 0.62 of the expected
#: bin centre on 1,000 held-out renders; 1,750 more steps at 1e-4 took it to 0.93.
ATTR_FOLLOW_LR_SCALE = 0.1

#: How an attribute network's blocks halve the resolution (``AttributeNetConfig.downsample``).
ATTR_DOWNSAMPLE = ("pool", "stride")

#: Random unit directions a step that ``--attr-features`` projects A's hidden features onto.
ATTR_FEATURE_DIRECTIONS = 128

#: ``--attr-pairs`` averages the generated joint readings over batches with this momentum (about
#: the last 16 batches of 64 count), so its KL is not that of a noisy 64-image histogram.
PAIR_MOMENTUM = 1 / 16


@dataclass(frozen=True)
class AttributeTargets:
    """Every training image's class per factor, and the classes' frequencies.

    Attributes:
        names: factor names, in column order.
        num_classes: classes per factor (a factor with ``requires`` has a last "n/a" class).
        targets: (N, F) long: image i's class of factor f (this process's shard).
        marginals: (sum of num_classes,) float: each factor's class frequencies over the whole
            training set (every shard), concatenated in column order.
        continuous: per factor, whether its classes are bins of a continuous range (the first
            ``bins`` classes; a last "n/a" class may follow).
    """

    names: tuple[str, ...]
    num_classes: tuple[int, ...]
    targets: Tensor
    marginals: Tensor
    continuous: tuple[bool, ...]


def attribute_classes(
    schema: Any, records: list[dict[str, Any]], *, bins: int
) -> tuple[tuple[int, ...], Tensor]:
    """Every record's class per factor of a ToonFaces ``schema``: its class for a categorical
    factor, one of ``bins`` equal bins of the range [-1, 1] for a continuous one, and a last
    "not applicable" class for a factor with ``requires``.

    Returns:
        classes per factor (in the schema's order), and (N, F) long targets.
    Raises:
        GanlensError: ``bins`` is below 2.
    """
    if bins < 2:
        raise GanlensError(f"attr_bins {bins} must be at least 2")
    encoded = schema.encode(records)
    columns, sizes = [], []
    for f in schema:
        v = encoded[f.name]
        if f.categorical:
            k = f.num_classes
            idx = v.clone()
        else:
            k = bins
            # values are in [-1, 1]; the top edge goes into the last bin
            idx = ((torch.nan_to_num(v, nan=0.0) + 1) / 2 * bins).long().clamp(0, bins - 1)
            idx[v.isnan()] = -1
        if f.requires is not None:
            idx[idx < 0] = k  # the "not applicable" class
            k += 1
        columns.append(idx)
        sizes.append(k)
    return tuple(sizes), torch.stack(columns, dim=1)


def toonfaces_attribute_targets(
    path: str | Path, *, bins: int, shard: tuple[int, int] = (0, 1)
) -> AttributeTargets:
    """Classes of every factor of a ToonFaces render (:func:`attribute_classes`), in the order of
    ``load_images``.

    Args:
        path: the render (folder or zip).
        bins: equal bins each continuous factor's range is cut into.
        shard: ``(rank, world_size)``: rows ``rank, rank + world, ...`` as the images.
    Raises:
        GanlensError: ``path`` is not a ToonFaces render, or ``bins`` is below 2.
    """
    from ganlens.data.toonfaces import load_records
    from ganlens.training.data import is_toonfaces

    if bins < 2:  # before reading the records
        raise GanlensError(f"attr_bins {bins} must be at least 2")
    path = Path(path)
    if not is_toonfaces(path):
        raise GanlensError(
            f"attribute matching reads a ToonFaces render's attribute records; {str(path)!r} is not one"
        )
    schema, records = load_records(path)
    sizes, targets = attribute_classes(schema, records, bins=bins)
    marginals = torch.cat(
        [torch.bincount(targets[:, j], minlength=k).float() / len(targets) for j, k in enumerate(sizes)]
    )
    rank, world = shard
    return AttributeTargets(
        names=schema.names,
        num_classes=tuple(sizes),
        targets=targets[rank::world].contiguous(),
        marginals=marginals,
        continuous=tuple(not f.categorical for f in schema),
    )


@dataclass(frozen=True)
class AttributeNetConfig:
    """A small CNN from an image to one set of logits per factor.

    Attributes:
        resolution: input size (a power of two, at least 8).
        img_channels: input channels.
        num_classes: classes per factor.
        channel_base: channels of the first (full-resolution) block; doubled per halving.
        channel_max: most channels of a block.
        downsample: how a block halves the resolution: ``"pool"``, a 2× average pool after its
            two convolutions; ``"stride"``, its second convolution at stride 2, as the attribute
            classifier does. A pool averages away the 4-pixel mouth strokes that decide the smile
            (README, "What A reads"); a strided convolution learns what to keep.
    """

    resolution: int
    img_channels: int
    num_classes: tuple[int, ...]
    channel_base: int = 32
    channel_max: int = 256
    downsample: str = "pool"

    def __post_init__(self) -> None:
        r = self.resolution
        if r < 8 or r & (r - 1):
            raise GanlensError(f"attribute network resolution {r} must be a power of two >= 8")
        if not self.num_classes or min(self.num_classes) < 2:
            raise GanlensError(f"every factor needs at least 2 classes; got {self.num_classes}")
        if self.downsample not in ATTR_DOWNSAMPLE:
            raise GanlensError(
                f"attribute network downsample {self.downsample!r} is not one of {', '.join(ATTR_DOWNSAMPLE)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"arch": "attribute-net", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AttributeNetConfig:
        d = {k: v for k, v in d.items() if k not in ("arch", "format_version")}
        d["num_classes"] = tuple(d["num_classes"])
        return cls(**d)


class AttributeNet(nn.Module):
    """The image plus two pixel-coordinate channels, then blocks of two 3×3 convolutions with
    BatchNorm, each block halving the resolution (a 2× average pool after it, or its second
    convolution at stride 2: ``downsample``) from ``resolution`` down to 4 px, then two linear layers to the
    concatenated logits of every factor. It learns in train mode on real images and reads generated
    ones in eval mode (BatchNorm's running statistics), so a generated batch's statistics never
    shape what it reads."""

    def __init__(self, config: AttributeNetConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in, c, r = config.img_channels + 2, config.channel_base, config.resolution
        strided = config.downsample == "stride"
        while r > 4:
            for a, b, stride in ((c_in, c, 1), (c, c, 2 if strided else 1)):
                layers += [
                    nn.Conv2d(a, b, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(b),
                    nn.LeakyReLU(0.2),
                ]
            if not strided:
                layers.append(nn.AvgPool2d(2))
            c_in, c, r = c, min(2 * c, config.channel_max), r // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * 16, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, sum(config.num_classes)),
        )
        ramp = torch.linspace(-1, 1, config.resolution)
        self.register_buffer(
            "coords", torch.stack(torch.meshgrid(ramp, ramp, indexing="ij"))[None], persistent=False
        )

    def forward(self, img: Tensor) -> Tensor:
        """(B, C, R, R) in [-1, 1] → (B, sum of num_classes) logits."""
        return self.read(img)[0]

    def read(self, img: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, R, R) in [-1, 1] → the logits (B, sum of num_classes) and the head's hidden layer
        (B, 256) they are read from, after its activation (``--attr-features`` matches its
        distribution)."""
        r = self.config.resolution
        if img.ndim != 4 or img.shape[1:] != (self.config.img_channels, r, r):
            raise GanlensError(
                f"attribute network expects (B, {self.config.img_channels}, {r}, {r}); got {tuple(img.shape)}"
            )
        x = torch.cat([img, self.coords.to(img.dtype).expand(len(img), -1, -1, -1)], dim=1)
        hidden = self.head[:-1](self.features(x))
        return self.head[-1](hidden), hidden

    # ---------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``config.json`` + ``model.safetensors`` with the floating tensors in float16 (half
        the size; A is a training aid that goes on learning, so 16 bits are enough)."""
        from ganlens.generators.native import save_module

        config = self.config.to_dict()
        return save_module(
            self, directory, arch="attribute-net", config=config, overwrite=overwrite, dtype=torch.float16
        )

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> AttributeNet:
        """An attribute network written by :meth:`save_pretrained` (float32 again), in eval mode.

        Raises:
            CheckpointError: a missing file, a config that is not an attribute network's, or
                weights that do not fit it.
        """
        from ganlens.errors import CheckpointError
        from ganlens.generators.native import WEIGHTS_NAME, load_state, read_config

        cfg = read_config(directory, weights=True)
        try:
            A = cls(AttributeNetConfig.from_dict(cfg))
        except (KeyError, TypeError) as e:
            raise CheckpointError(
                f"{str(directory)!r} does not hold an attribute network's config: {e}"
            ) from None
        load_state(A, Path(directory) / WEIGHTS_NAME)  # copy_ takes the float16 values back to float32
        return A.eval()


def load_attribute_net(checkpoint: str | Path) -> AttributeNet:
    """The attribute network A of a training checkpoint folder (a run trained with
    ``--attr-weight``), in eval mode on the CPU.

    Raises:
        GanlensError: the folder is not a checkpoint, or its run had no attribute network.
    """
    from ganlens.training.checkpoint import has_module, load_module, read_checkpoint_state

    state = read_checkpoint_state(checkpoint).state
    if "a_config" not in state or not has_module(checkpoint, "A"):
        raise GanlensError(
            f"checkpoint {str(checkpoint)!r} has no attribute network (its run had no --attr-weight)"
        )
    A = AttributeNet(AttributeNetConfig.from_dict(state["a_config"]))
    load_module(checkpoint, "A", A)
    return A.eval().requires_grad_(False)


def cosine_lr(step: int, steps: int, start: float, end: float) -> float:
    """The learning rate at ``step`` of ``steps`` on a cosine from ``start`` (step 0) to ``end``."""
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * step / steps))


def fit_attribute_net(
    config: AttributeNetConfig,
    images: Tensor,
    targets: Tensor,
    *,
    steps: int,
    lr: float = 1e-3,
    batch: int = 64,
    seed: int = 0,
    bf16: bool = True,
    progress: bool = True,
) -> AttributeNet:
    """A fresh attribute network trained alone on real images, the way a run pretrains its A:
    Adam (betas 0.9, 0.999), the learning rate on a cosine from ``lr`` to
    ``ATTR_FOLLOW_LR_SCALE × lr``, batches drawn at random with replacement.

    Args:
        config: the network (its ``num_classes`` must match ``targets``' columns).
        images: (N, C, R, R) uint8 or float in [-1, 1].
        targets: (N, F) long classes (:func:`attribute_classes`).
        steps: optimiser steps; seed: initialisation and batch order.
        bf16: bfloat16 autocast (CPU).
    Returns:
        the network in eval mode, without gradients.
    Raises:
        GanlensError: ``steps`` or ``batch`` below 1, or images and targets that do not pair up.
    """
    if steps < 1 or batch < 1:
        raise GanlensError(f"steps {steps} and batch {batch} must be at least 1")
    if len(images) != len(targets) or targets.ndim != 2 or targets.shape[1] != len(config.num_classes):
        raise GanlensError(
            f"{len(images)} images and targets {tuple(targets.shape)} do not pair up "
            f"(need (N, {len(config.num_classes)}))"
        )
    torch.manual_seed(seed)
    net = AttributeNet(config).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, unit="step", desc="fresh attribute network", mininterval=5.0)
    for i in range(steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(i, steps, lr, lr * ATTR_FOLLOW_LR_SCALE)
        idx = torch.randint(len(images), (batch,), generator=gen)
        x = images[idx]
        x = x.float() / 127.5 - 1.0 if x.dtype == torch.uint8 else x.float()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            logits = net(x.contiguous(memory_format=torch.channels_last))
        loss, acc = attribute_loss(logits, targets[idx], config.num_classes)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update()
            bar.set_postfix_str(f"loss {float(loss.detach()):.3f} accuracy {float(acc):.3f}")
    if bar is not None:
        bar.close()
    return net.eval().requires_grad_(False)


def attribute_loss(logits: Tensor, targets: Tensor, num_classes: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """A's training loss on real images: mean over factors of the cross-entropy, and the mean
    accuracy (no gradient). ``logits`` (B, ΣK), ``targets`` (B, F)."""
    losses, hits = [], []
    for j, part in enumerate(logits.float().split(num_classes, dim=1)):
        losses.append(F.cross_entropy(part, targets[:, j]))
        hits.append((part.detach().argmax(1) == targets[:, j]).float().mean())
    return torch.stack(losses).mean(), torch.stack(hits).mean()


def marginal_terms(logits: Tensor, marginals: Tensor, num_classes: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """G's terms on a generated batch, each a mean over factors: KL(π_f ‖ p̄_f), where p̄_f is the
    batch's mean predicted distribution, and the mean entropy of each sample's prediction
    (:func:`mean_entropy`)."""
    kls = [
        batch_kl(part, pi)
        for part, pi in zip(
            logits.float().split(num_classes, dim=1), marginals.split(num_classes), strict=True
        )
    ]
    return torch.stack(kls).mean(), mean_entropy(logits, num_classes)


def batch_kl(logits: Tensor, pi: Tensor) -> Tensor:
    """KL(π ‖ p̄) of a class distribution ``pi`` (K,) against the batch's mean predicted
    distribution p̄ of ``logits`` (B, K), with p̄'s log taken stably."""
    logp = logits.float().log_softmax(dim=1)
    # log of the batch mean, stably: logsumexp over the batch minus log B
    log_pbar = torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(len(logits))))
    pi = pi.to(logits.device)
    return (pi * (torch.log(pi.clamp_min(1e-12)) - log_pbar)).sum()


def mean_entropy(logits: Tensor, num_classes: tuple[int, ...]) -> Tensor:
    """The entropy of each sample's predicted distribution, averaged over samples and factors."""
    ents = []
    for part in logits.float().split(num_classes, dim=1):
        logp = part.log_softmax(dim=1)
        ents.append(-(logp.exp() * logp).sum(1).mean())
    return torch.stack(ents).mean()


def pair_joints(targets: Tensor, num_classes: tuple[int, ...]) -> list[Tensor]:
    """The training images' joint class frequencies of every pair of factors (f, g), f < g, in
    pair order: a list of (K_f, K_g) tables that each sum to 1. ``targets`` (N, F) long."""
    if targets.ndim != 2 or targets.shape[1] != len(num_classes) or len(targets) == 0:
        raise GanlensError(f"targets must be (N, {len(num_classes)}) with N >= 1; got {tuple(targets.shape)}")
    out = []
    for f in range(len(num_classes)):
        for g in range(f + 1, len(num_classes)):
            cells = targets[:, f] * num_classes[g] + targets[:, g]
            counts = torch.bincount(cells, minlength=num_classes[f] * num_classes[g]).float()
            out.append((counts / counts.sum()).view(num_classes[f], num_classes[g]))
    return out


def pair_term(
    logits: Tensor,
    joints: list[Tensor],
    num_classes: tuple[int, ...],
    running: list[Tensor] | None = None,
    momentum: float = PAIR_MOMENTUM,
) -> tuple[Tensor, list[Tensor]]:
    """The marginal term's KL one level up: for every pair of factors, KL(π_fg ‖ p̄_fg) between the
    data's joint class frequencies (:func:`pair_joints`) and the generated images' mean joint
    reading p̄_fg = mean_i p_f(x_i) p_g(x_i)ᵀ, averaged over pairs. It is 0 only when G pairs the
    factors' classes as the data does (the renderer draws most factors independently, so a G that
    ties glasses to brows pays here even when each marginal is right).

    A joint of up to 9 × 9 cells is a noisy histogram on one batch of 64, and the KL of a noisy
    histogram is biased upwards (two batches of renders score about 0.33, ten times the marginal
    KL) in a way that soft, unsure readings lower. So p̄_fg is a running mean over batches:
    ``running`` (the previous means, None at the start) moves by ``momentum`` towards this batch's.
    The term's value is the KL at the new running mean; its gradient reaches this batch through the
    KL linearised there, -Σ π / p̄ · ∂p̄_batch, the full-batch gradient with the running mean's
    denominators (without ``running``: exactly the gradient of the batch's own KL).

    Returns:
        the term (a scalar) and the new running means (detached), to pass back next step.
    """
    if not 0 < momentum <= 1:
        raise GanlensError(f"momentum {momentum} must be in (0, 1]")
    pairs = [(f, g) for f in range(len(num_classes)) for g in range(f + 1, len(num_classes))]
    if len(joints) != len(pairs) or (running is not None and len(running) != len(pairs)):
        given = f"{len(joints)} joint tables" + (
            f" and {len(running)} running means" if running is not None else ""
        )
        raise GanlensError(f"{given} for {len(pairs)} pairs of factors")
    probs = [part.softmax(dim=1) for part in logits.float().split(num_classes, dim=1)]
    terms, means = [], []
    for k, (f, g) in enumerate(pairs):
        batch = probs[f].T @ probs[g] / len(logits)  # (K_f, K_g)
        mean = batch.detach()
        if running is not None:
            mean = (1 - momentum) * running[k].to(mean.device) + momentum * mean
        pi, mean_c = joints[k].to(logits.device), mean.clamp_min(1e-12)
        kl = (pi * (torch.log(pi.clamp_min(1e-12)) - torch.log(mean_c))).sum()
        lin = -(pi / mean_c * batch).sum()
        terms.append(kl + lin - lin.detach())
        means.append(mean)
    return torch.stack(terms).mean(), means


def expected_values(
    logits: Tensor, num_classes: tuple[int, ...], continuous: tuple[bool, ...], bins: int
) -> Tensor:
    """A's reading of every continuous factor as one number: the expected bin centre in [-1, 1]
    under its softmax over the ``bins`` bins (a last "n/a" class left out). (B, ΣK) → (B, C)."""
    centres = ((torch.arange(bins, device=logits.device) + 0.5) / bins * 2 - 1).float()
    cols = []
    for part, cont in zip(logits.float().split(num_classes, dim=1), continuous, strict=True):
        if cont:
            p = part[:, :bins].softmax(dim=1)
            cols.append(p @ centres)
    if not cols:
        raise GanlensError("the schema has no continuous factor for the quantile term")
    return torch.stack(cols, dim=1)


def quantile_term(fake_values: Tensor, real_values: Tensor) -> Tensor:
    """The squared 1-D Wasserstein-2 distance between a generated and a real batch of readings, per
    column, averaged over columns: the mean squared difference between the generated batch's sorted
    values and the real batch's quantiles at the same levels. (B, C) and (B', C) → scalar; only
    ``fake_values`` carries a gradient.

    Unlike a histogram of soft readings, it cannot be satisfied by samples the reader is unsure
    of: an unclear sample reads near the middle, so a batch of them misses the real batch's tails.
    """
    # the real batch's order statistics, interpolated to the generated batch's size (equal sizes:
    # exactly its sorted values)
    levels = torch.linspace(0, 1, len(fake_values), device=fake_values.device)
    target = torch.quantile(real_values.detach().float(), levels, dim=0)  # (B, C)
    return ((fake_values.float().sort(dim=0).values - target) ** 2).mean()


def reader_term(
    fake: dict[str, Tensor],
    real: dict[str, Tensor],
    schema: Any,
    factors: tuple[str, ...] = (),
    weights: tuple[float, ...] = (),
) -> Tensor:
    """A frozen attribute reader's outputs (``AttributeClassifier.forward``) on a generated batch,
    matched to its outputs on a real batch (or several: the real side may be larger), factor by
    factor, averaged over ``factors`` (empty: every factor of ``schema``), each factor's term
    times its entry of ``weights`` (one per name in ``factors``; empty: all 1): for a
    categorical factor KL(p̄_real ‖ p̄_fake) between the two batches' mean class probabilities, for a
    continuous one the squared 1-D Wasserstein-2 distance between their values
    (:func:`quantile_term`). Only ``fake`` carries a gradient.

    The reader is trained on its own, the way the attribute classifier is (regression for the
    continuous factors), so unlike A it reads the thin strokes of mouths and brows (README, "What
    A reads"); the W2 part cannot be met by unclear samples, which read near the middle.
    """
    if weights and len(weights) != len(factors):
        raise GanlensError(f"weights {list(weights)} need one entry per factor of {list(factors)}")
    weight_of = dict(zip(factors, weights)) if weights else {}
    terms = []
    for f in schema:
        if factors and f.name not in factors:
            continue
        a, b = fake[f.name].float(), real[f.name].detach().float()
        if f.categorical:
            term = batch_kl(a, b.softmax(dim=1).mean(0))
        else:
            term = quantile_term(a[:, None], b[:, None])
        terms.append(weight_of.get(f.name, 1.0) * term)
    return torch.stack(terms).mean()


def sliced_feature_term(
    fake: Tensor, real: Tensor, directions: int, generator: torch.Generator | None = None
) -> Tensor:
    """The squared sliced Wasserstein-2 distance between a generated and a real batch of feature
    vectors: both are standardised by the real batch's per-feature mean and spread, projected onto
    ``directions`` random unit vectors, and :func:`quantile_term` compares the projections. (B, D)
    and (B', D) → scalar; only ``fake`` carries a gradient.

    Moment matching (Salimans et al., 2016) pulls only each feature's mean; this pulls the whole
    distribution along every drawn direction, its spread and tails included, so a batch that
    covers too little of the real features is pushed outwards.
    """
    if fake.ndim != 2 or real.ndim != 2 or fake.shape[1] != real.shape[1]:
        shapes = f"{tuple(fake.shape)} and {tuple(real.shape)}"
        raise GanlensError(f"feature batches must be (B, D) with the same D; got {shapes}")
    if directions < 1:
        raise GanlensError(f"directions {directions} must be at least 1")
    real = real.detach().float()
    mean, std = real.mean(0), real.std(0).clamp_min(1e-3)
    dirs = torch.randn(fake.shape[1], directions, generator=generator, device="cpu").to(fake.device)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    return quantile_term(((fake.float() - mean) / std) @ dirs, ((real - mean) / std) @ dirs)
