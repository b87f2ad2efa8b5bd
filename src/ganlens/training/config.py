"""The settings of a StyleGAN2 run (:class:`TrainConfig`, validated on construction and saved as the
run's ``training_options.json``) and what a run returns (:class:`TrainResult`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganlens.errors import GanlensError
from ganlens.training.attributes import ATTR_DOWNSAMPLE, ATTR_FOLLOW_LR_SCALE
from ganlens.training.augment import PIPELINES
from ganlens.training.discriminator import DiscriminatorConfig

AUG_MODES = ("none", "ada", "fixed")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a StyleGAN2 run needs. Defaults follow ADA's ``auto`` config where it applies.

    Attributes:
        data: image folder or ``.npy``/``.npz`` uint8 array (see :func:`load_images`).
        out: run folder (checkpoints, samples, stats, loss plot, log).
        resolution: image size (power of two).
        kimg: train until this many thousand real images have been shown in total.
        batch: global minibatch (split evenly over ``torchrun`` ranks).
        z_dim, w_dim, map_layers, channel_base, channel_max: generator size
            (channels at resolution r: ``min(channel_base // r, channel_max)``).
        architecture: the generator's ``skip`` (config F), ``orig`` or ``resnet``.
        d_channel_base, d_channel_max: discriminator size (None: as the generator).
        mbstd_group: minibatch-stddev group size (clipped to the per-rank batch).
        g_lr, d_lr, betas, eps: Adam (before the lazy-regularisation correction).
        mapping_lr_scale: G's mapping network trains at this multiple of ``g_lr`` (its own Adam
            param group, ``"mapping"``). The mapping's equalised-lr multiplier (``mapping_lr_mul``,
            0.01) already slows it 100×, so 10 makes its effective rate 0.1 × ``g_lr``. A run
            resumed with another value keeps Adam's moments (1: one group, as before).
        r1_gamma: R1 weight γ; None uses ADA's heuristic ``0.0002 · R² / batch``.
        r1_interval, pl_interval: lazy regularisation intervals (0 disables the regulariser).
        pl_weight, pl_batch_shrink, pl_decay: path-length regularisation (weight 0 disables it).
        mixing: style-mixing probability.
        noise: ``"random"`` (StyleGAN2's per-pixel noise inputs) or ``"none"``: the generator is
            trained without them, so its noise strengths stay exactly 0 and every noise mode gives
            the same image (for data with no stochastic detail, such as ToonFaces renders).
        ema_kimg: G_ema half-life in kimg (None: ``batch · 10 / 32``); ema_rampup: ADA's ramp-up.
        xflip: randomly mirror real images.
        aug: augmentation of everything D sees (:mod:`ganlens.training.augment`): ``"none"``,
            ``"ada"`` (p adapted to keep ``E[sign(D(real))]`` at ``ada_target``) or ``"fixed"``.
        aug_p: the starting (``ada``) or constant (``fixed``) probability of each transformation.
        augpipe: which transformations: ``blit``, ``geom``, ``color``, ``bg`` or ``bgc``.
        ada_target, ada_kimg, ada_interval: ADA's r_t target (0.6), the kimg for p to move by 1
            (500) and the steps between adjustments (4).
        bf16: run the main forward passes under bf16 autocast (regularisers stay fp32).
        fold_resample: fold the ×2 FIR filters into the up/down convolutions' weights (the same
            networks; 4× the multiply-adds of those convolutions, one memory pass fewer each).
            ``None`` (the default) turns it on for a GPU, where it made a step 3.2× faster on an
            H200, and off for a CPU, where it is 2.1× slower (benchmarks/train_profile.py).
        tick_kimg: how often to log stats / redraw the plot; snapshot_kimg: checkpoint + sample grid.
        keep_checkpoints: newest checkpoints kept on disk.
        grid_seeds: number of fixed seeds (0..n-1) in the sample grids.
        seed: base seed (init, data order, every per-step draw).
        num_threads: torch CPU threads (None: leave torch's default).
        device: ``"cpu"`` or ``"cuda[:N]"`` (the rank's local device under torchrun on CUDA).
        resume: continue from the run folder's latest checkpoint (fresh start when it has none).
        resume_from: a checkpoint folder of another run (copied from another machine, say) to start
            from while the run folder has no checkpoint of its own; after that the run's own latest
            wins, so the same command resumes. Weights, counters, ADA's p and the path-length target
            carry over; Adam's moments too where the checkpoint has them, else Adam starts afresh.
        init_generator: a generator to start G and G_ema from (a zoo name or an exported model
            folder) while the run has no checkpoint; its config sets G's architecture. D comes from
            the model's ``discriminator/`` folder where it has one (``export_generator(...,
            with_discriminator=True)``), else starts fresh. For fine-tuning a trained generator, or
            carrying on from an export when the run's checkpoints are gone.
        init_adam: with ``init_generator``: where the model also has an ``adam/`` folder (Adam's
            second moments, ``export_generator(..., with_adam=True)``) and its D came along, both
            optimisers start from those moments instead of empty (the counters still start at 0).
        lowres_d: resolution of a second discriminator, ``D_low``, that sees real and generated
            images box-filtered (averaged over ``resolution // lowres_d`` pixel squares) down to
            this size; 0 (the default) trains without it. Its architecture is D's at this
            resolution; it is trained like D (same lr, lazy R1 on the full-resolution reals with
            D's γ, which is ``γ · (lowres_d / resolution)²`` on its own input) and kept in the
            checkpoints (``D_low``, ``opt_D_low``); a checkpoint without it starts it fresh.
        lowres_d_weight: weight of D_low's term in G's loss (D's term has weight 1).
        crop_d: size of a component discriminator, ``D_crop``, that sees the ``crop_d``-pixel
            window at ``crop_d_at`` of real and generated images; 0 (the default) trains without
            it. Its architecture is D's at this resolution, trained like D (lazy R1 with D's γ,
            which on a window is the same penalty on its own input), kept in the checkpoints
            (``D_crop``, ``opt_D_crop``); a checkpoint without it starts it fresh.
        crop_d_at: (top row, left column) of that window; None: centred.
        crop_d_weight: weight of D_crop's term in G's loss.
        crop_d_from_d: D_crop is D's architecture at full resolution and sees the window in place,
            every pixel outside it set to 0 (mid-grey), and where it starts fresh it starts as a
            copy of D, weights and Adam's moments. A D_crop that learns from scratch against a
            trained G stays near chance for tens of kimg (docs/toonfaces-runs.md, run 38); a copy
            of D starts from features that already tell G's rendering from the data's.
        freeze_g_kimg: G (and so G_ema) is not updated until this many kimg of the run: D trains
            alone first, so that a fresh D meets a trained G with useful gradients (0: never frozen).
        freeze_d: Freeze-D (ADA's ``--freezed``, for transfer learning): D's first this many conv
            layers, counted from the input, are never updated (0: none).
        cond: train a conditional G and D (ADA's ``--cond``) on the data's labels
            (:func:`ganlens.training.labels.load_labels`): ``"dataset"`` (a ``dataset.json`` or an
            ``.npz``'s ``labels``) or a ToonFaces render's factor names (``"hair_style,glasses"``).
            Generated images get labels drawn from the training set's; G's mapping and D (a
            projection D) take them. None: unconditional.
        imle_weight: weight of the IMLE coverage term in Gmain (0, the default: off); see the module
            docstring. Unconditional runs only.
        imle_pool: generated samples each real image picks its nearest from, per step.
        imle_batch: real images per step (per process) that take part (at most the local batch).
        imle_res: resolution at which distances and the pull are measured (box-filtered down to
            it, a power of two up to ``resolution``; None: ``resolution``).
        attr_weight: weight of the attribute-marginal term in Gmain (0, the default: off); see
            :mod:`ganlens.training.attributes`. Unconditional runs on a ToonFaces render, without
            ``xflip`` (a mirrored image would need mirrored labels).
        attr_entropy: weight of the per-sample entropy inside that term, relative to the KL.
        attr_fake_entropy: CatGAN's other half: A's loss subtracts this weight × the mean entropy of
            its reading of D's generated batch, so A learns to be unsure of generated images and G,
            which asks for confident readings, cannot rely on A's blind spots (0, the default: A
            learns from real images only).
        attr_quantile: weight, relative to the KL, of a term on the continuous factors: A reads
            each as its expected bin centre, and the generated batch's sorted readings are pulled
            to the quantiles of A's readings of the real batch (:func:`quantile_term`; 0, the
            default: off). The KL on soft histograms is met by samples A is unsure of; this is not.
        attr_features: weight, relative to the KL, of a sliced Wasserstein-2 term between A's
            hidden features (the layer every factor is read from) of the generated and the real
            batch, on :data:`ATTR_FEATURE_DIRECTIONS` random directions a step
            (:func:`sliced_feature_term`; 0, the default: off). It pulls the joint distribution of
            what A sees, not only each factor's histogram.
        attr_pairs: weight, relative to the KL, of the same KL one level up: for every pair of
            factors, the training set's joint class frequencies against the generated batch's
            mean joint reading (:func:`pair_term`; 0, the default: off). The renderer draws most
            factors independently; this asks G to do the same.
        attr_bins: bins of each continuous factor's range, for A's classes.
        attr_downsample: how A's blocks halve the resolution (``AttributeNetConfig.downsample``):
            ``"pool"`` or ``"stride"``. None (the default) keeps the A of the checkpoint or init
            model, and pools in a fresh one; a value that differs from theirs starts a fresh A of
            that kind, pretrained first.
        attr_lr: Adam learning rate of the attribute network A (betas 0.9, 0.999) when its
            pretraining starts. The pretraining lowers it on a cosine to ``attr_lr ×``
            :data:`ATTR_FOLLOW_LR_SCALE`, and A follows the training at that rate.
        attr_pretrain_kimg: a fresh A first learns alone on this many kimg of real images (at the
            run's batch) before the first step; afterwards it takes one step per training step.
        reader: a trained attribute classifier's folder (``ganlens train classifier``; never the
            one the benchmarks measure with) whose readings of each generated batch are matched to
            its readings of the real batch (:func:`~ganlens.training.attributes.reader_term`);
            ToonFaces data and unconditional runs only. None: off.
        reader_weight: that term's weight in Gmain (needs ``reader``).
        reader_factors: the factors the term matches, averaged over them; empty (the default): all.
            The term is a mean over factors, so naming the few a model gets wrong gives each of
            them the whole weight instead of a share of it.
        reader_factor_weights: one multiplier per name in ``reader_factors`` (empty, the default:
            all 1), so one factor the model keeps missing can pull harder than the rest.
        reader_bank: the real readings that each step's generated batch is matched to are the real
            batches of the last this many steps (1, the default: this step's only). A larger
            bank lowers the noise of the real side's class frequencies and quantiles.
        overwrite: start afresh in a non-empty run folder (deletes its checkpoints/samples/stats).
        progress: show a tqdm bar on rank 0.
    """

    data: str
    out: str
    resolution: int = 64
    kimg: float = 1000.0
    batch: int = 32
    z_dim: int = 512
    w_dim: int = 512
    map_layers: int = 8
    channel_base: int = 16384
    channel_max: int = 512
    architecture: str = "skip"
    d_channel_base: int | None = None
    d_channel_max: int | None = None
    mbstd_group: int = 4
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    mapping_lr_scale: float = 1.0
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    r1_gamma: float | None = None
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    mixing: float = 0.9
    noise: str = "random"
    ema_kimg: float | None = None
    ema_rampup: float | None = 0.05
    xflip: bool = False
    aug: str = "none"
    aug_p: float = 0.0
    augpipe: str = "bgc"
    ada_target: float = 0.6
    ada_kimg: float = 500.0
    ada_interval: int = 4
    bf16: bool = False
    fold_resample: bool | None = None
    tick_kimg: float = 1.0
    snapshot_kimg: float = 10.0
    keep_checkpoints: int = 3
    grid_seeds: int = 32
    seed: int = 0
    num_threads: int | None = None
    device: str = "cpu"
    resume: bool = False
    resume_from: str | None = None
    init_generator: str | None = None
    init_adam: bool = True
    lowres_d: int = 0
    lowres_d_weight: float = 1.0
    crop_d: int = 0
    crop_d_at: tuple[int, int] | None = None
    crop_d_weight: float = 1.0
    crop_d_from_d: bool = False
    freeze_g_kimg: float = 0.0
    freeze_d: int = 0
    cond: str | None = None
    imle_weight: float = 0.0
    imle_pool: int = 64
    imle_batch: int = 8
    imle_res: int | None = None
    attr_weight: float = 0.0
    attr_entropy: float = 0.1
    attr_fake_entropy: float = 0.0
    attr_quantile: float = 0.0
    attr_features: float = 0.0
    attr_pairs: float = 0.0
    attr_bins: int = 8
    attr_downsample: str | None = None
    attr_lr: float = 0.001
    attr_pretrain_kimg: float = 192.0
    reader: str | None = None
    reader_weight: float = 0.0
    reader_factors: tuple[str, ...] = ()
    reader_factor_weights: tuple[float, ...] = ()
    reader_bank: int = 1
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        checks = [
            (self.kimg > 0, f"kimg {self.kimg} must be positive"),
            (self.batch >= 1, f"batch {self.batch} must be at least 1"),
            (0.0 <= self.mixing <= 1.0, f"mixing probability {self.mixing} must be in [0, 1]"),
            (self.noise in ("random", "none"), f"noise {self.noise!r} is not allowed; use random or none"),
            (self.r1_gamma is None or self.r1_gamma >= 0, f"r1_gamma {self.r1_gamma} must be >= 0"),
            (self.pl_weight >= 0, f"pl_weight {self.pl_weight} must be >= 0"),
            (self.r1_interval >= 0 and self.pl_interval >= 0, "regularisation intervals must be >= 0"),
            (self.pl_batch_shrink >= 1, f"pl_batch_shrink {self.pl_batch_shrink} must be >= 1"),
            (self.tick_kimg > 0 and self.snapshot_kimg > 0, "tick_kimg and snapshot_kimg must be positive"),
            (self.keep_checkpoints >= 1, f"keep_checkpoints {self.keep_checkpoints} must be >= 1"),
            (self.g_lr > 0 and self.d_lr > 0, "learning rates must be positive"),
            (self.mapping_lr_scale > 0, f"mapping_lr_scale {self.mapping_lr_scale} must be positive"),
            (self.grid_seeds >= 1, f"grid_seeds {self.grid_seeds} must be >= 1"),
            (self.aug in AUG_MODES, f"aug {self.aug!r} is not allowed; use {', '.join(AUG_MODES)}"),
            (
                self.augpipe in PIPELINES,
                f"augpipe {self.augpipe!r} is not allowed; use {', '.join(PIPELINES)}",
            ),
            (self.freeze_g_kimg >= 0, f"freeze_g_kimg {self.freeze_g_kimg} must be >= 0"),
            (self.freeze_d >= 0, f"freeze_d {self.freeze_d} must be >= 0"),
            (
                self.lowres_d == 0
                or _coarser_power_of_two(self.lowres_d, 8, self.resolution // 2, self.resolution),
                f"lowres_d {self.lowres_d!r} is not allowed; use 0 (off) or a power of two from 8 to "
                f"{self.resolution // 2}",
            ),
            (self.lowres_d_weight >= 0, f"lowres_d_weight {self.lowres_d_weight} must be >= 0"),
            (
                self.crop_d == 0
                or _coarser_power_of_two(self.crop_d, 8, self.resolution // 2, self.resolution),
                f"crop_d {self.crop_d!r} is not allowed; use 0 (off) or a power of two from 8 to "
                f"{self.resolution // 2}",
            ),
            (
                self.crop_d_at is None
                or (
                    len(self.crop_d_at) == 2
                    and all(0 <= v <= self.resolution - self.crop_d for v in self.crop_d_at)
                ),
                f"crop_d_at {self.crop_d_at!r} is not allowed; use a (row, column) from 0 to "
                f"{self.resolution - self.crop_d}, so the {self.crop_d}-px window fits the "
                f"{self.resolution}-px image",
            ),
            (self.crop_d_weight >= 0, f"crop_d_weight {self.crop_d_weight} must be >= 0"),
            (not self.crop_d_from_d or self.crop_d > 0, "crop_d_from_d needs a window: set crop_d"),
            (
                self.init_generator is None or self.resume_from is None,
                "init_generator and resume_from are alternatives; give one of them",
            ),
            (self.imle_weight >= 0, f"imle_weight {self.imle_weight} must be >= 0"),
            (self.imle_pool >= 1, f"imle_pool {self.imle_pool} must be at least 1"),
            (self.imle_batch >= 1, f"imle_batch {self.imle_batch} must be at least 1"),
            (
                self.imle_res is None
                or _coarser_power_of_two(self.imle_res, 4, self.resolution, self.resolution),
                f"imle_res {self.imle_res!r} is not allowed; use a power of two from 4 to {self.resolution}",
            ),
            (
                self.imle_weight == 0 or self.cond is None,
                "imle_weight is for unconditional runs; leave it at 0 with cond",
            ),
            (self.attr_weight >= 0, f"attr_weight {self.attr_weight} must be >= 0"),
            (self.attr_entropy >= 0, f"attr_entropy {self.attr_entropy} must be >= 0"),
            *(
                check
                for name in ("attr_fake_entropy", "attr_quantile", "attr_features", "attr_pairs")
                for check in (
                    (getattr(self, name) >= 0, f"{name} {getattr(self, name)} must be >= 0"),
                    (
                        getattr(self, name) == 0 or self.attr_weight > 0,
                        f"{name} {getattr(self, name)} needs attr_weight > 0 (the attribute network)",
                    ),
                )
            ),
            (self.attr_bins >= 2, f"attr_bins {self.attr_bins} must be at least 2"),
            (
                self.attr_downsample in (None, *ATTR_DOWNSAMPLE),
                f"attr_downsample {self.attr_downsample!r} is not one of {', '.join(ATTR_DOWNSAMPLE)}",
            ),
            (self.attr_lr > 0, f"attr_lr {self.attr_lr} must be positive"),
            (self.attr_pretrain_kimg >= 0, f"attr_pretrain_kimg {self.attr_pretrain_kimg} must be >= 0"),
            (self.reader_weight >= 0, f"reader_weight {self.reader_weight} must be >= 0"),
            (
                (self.reader is None) == (self.reader_weight == 0),
                f"reader {self.reader!r} and reader_weight {self.reader_weight:g} go together: "
                "give both, or neither",
            ),
            (
                self.reader is None or self.cond is None,
                "reader is for unconditional runs; leave it out with cond",
            ),
            (
                not self.reader_factors or self.reader is not None,
                f"reader_factors {list(self.reader_factors)} needs reader (the classifier that reads them)",
            ),
            (
                len(set(self.reader_factors)) == len(self.reader_factors),
                f"reader_factors {list(self.reader_factors)} names a factor twice",
            ),
            (
                not self.reader_factor_weights or len(self.reader_factor_weights) == len(self.reader_factors),
                f"reader_factor_weights {list(self.reader_factor_weights)} need one entry per factor of "
                f"reader_factors {list(self.reader_factors)}",
            ),
            (
                all(w > 0 for w in self.reader_factor_weights),
                f"reader_factor_weights {list(self.reader_factor_weights)} must all be > 0",
            ),
            (self.reader_bank >= 1, f"reader_bank {self.reader_bank} must be at least 1"),
            (
                self.reader_bank == 1 or self.reader is not None,
                f"reader_bank {self.reader_bank} needs reader",
            ),
            (
                self.attr_weight == 0 or self.cond is None,
                "attr_weight is for unconditional runs; leave it at 0 with cond",
            ),
            (
                self.attr_weight == 0 or not self.xflip,
                "attr_weight needs xflip off: a mirrored image would need mirrored labels",
            ),
            (0.0 <= self.aug_p <= 1.0, f"aug_p {self.aug_p} must be in [0, 1]"),
            (self.ada_kimg > 0 and self.ada_interval >= 1, "ada_kimg must be positive, ada_interval >= 1"),
            (
                self.num_threads is None or self.num_threads >= 1,
                f"num_threads {self.num_threads} must be >= 1",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise GanlensError(msg)

    @property
    def resumes(self) -> bool:
        """Whether a checkpoint may be read: the run's own (``resume``) or another run's (``resume_from``)."""
        return self.resume or self.resume_from is not None

    @property
    def attr_follow_lr(self) -> float:
        """The rate the attribute network follows the training at, where its pretraining ends."""
        return self.attr_lr * ATTR_FOLLOW_LR_SCALE

    @property
    def crop_d_resolution(self) -> int:
        """The input size of D_crop's architecture: the window's, or with ``crop_d_from_d`` the image's."""
        return self.resolution if self.crop_d_from_d else self.crop_d

    @property
    def effective_r1_gamma(self) -> float:
        return 0.0002 * self.resolution**2 / self.batch if self.r1_gamma is None else float(self.r1_gamma)

    @property
    def effective_ema_kimg(self) -> float:
        return self.batch * 10 / 32 if self.ema_kimg is None else float(self.ema_kimg)

    def generator_config(self, c_dim: int = 0) -> dict[str, Any]:
        return {
            "arch": "stylegan2",
            "resolution": self.resolution,
            "z_dim": self.z_dim,
            "w_dim": self.w_dim,
            "mapping_layers": self.map_layers,
            "channel_base": self.channel_base,
            "channel_max": self.channel_max,
            "architecture": self.architecture,
            "c_dim": c_dim,
        }

    def discriminator_config(self, g_config: dict[str, Any] | None = None) -> DiscriminatorConfig:
        """D's config; unset sizes follow the generator's (``g_config``, else this config's)."""
        g = g_config or self.generator_config()
        return DiscriminatorConfig(
            resolution=self.resolution,
            channel_base=self.d_channel_base or g["channel_base"],
            channel_max=self.d_channel_max or g["channel_max"],
            mbstd_group_size=self.mbstd_group,
            c_dim=int(g.get("c_dim", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass
class TrainResult:
    """What a call to :func:`train_stylegan2` did (rank 0's view)."""

    run_dir: Path
    step: int
    nimg: int
    checkpoint: Path | None
    seconds: float
    images_per_sec: float
    interrupted: bool = False
    last_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def kimg(self) -> float:
        return self.nimg / 1000.0


def _coarser_power_of_two(res: int, lo: int, hi: int, resolution: int) -> bool:
    """Whether ``res`` is a power of two in [lo, hi] that divides ``resolution``."""
    return lo <= res <= hi and res & (res - 1) == 0 and resolution % res == 0
