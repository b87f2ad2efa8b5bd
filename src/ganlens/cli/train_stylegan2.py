"""``ganlens train stylegan2`` (train, resume, torchrun), ``stylegan2-export``, ``stylegan2-average``,
``stylegan2-permute-z`` and ``stylegan2-widen``."""

from __future__ import annotations

import argparse

from ganlens.cli.common import add_command
from ganlens.errors import GanlensError

EXAMPLES = """\
  # a 64-px run on one machine (resumable: rerun the same command with --resume)
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64 --kimg 200 --batch 32 \\
      --channel-base 8192 --channel-max 256 --map-layers 4 --w-dim 256 --z-dim 256 --bf16 --resume

  # the same run on 2 processes (gloo on CPU); every rank takes its own data shard and seed
  torchrun --nproc_per_node 2 -m ganlens.cli.main train stylegan2 --data toonfaces64/ --res 64 \\
      --out runs/toon64 --kimg 200 --batch 32 --resume

  # a small dataset: ADA augmentation, p tuned on the fly (see loss.png's augmentation panel)
  ganlens train stylegan2 --data my2k_faces/ --res 64 --out runs/few --kimg 500 --aug ada --resume

  # carry on from a checkpoint copied from another machine (G, D, G_ema and state.json suffice)
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64-gpu --kimg 2000 --batch 64 \\
      --device cuda --resume-from copied/step-00021153 --bf16

  # carry on from a trained generator (zoo name or exported folder) and the D in its discriminator/;
  # no EMA ramp-up, since G_ema starts from trained weights
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64-ft --kimg 200 --batch 64 \\
      --init-g toonfaces-stylegan2-64 --ema-rampup 0 --lr 0.0005 --d-lr 0.0025 --bf16 --resume

  # fine-tune an official stylegan2-ada-pytorch pickle with its own D (transfer learning, as ADA's --resume)
  ganlens train stylegan2 --data my_faces/ --res 256 --out runs/ft-ffhq --kimg 200 --batch 32 \\
      --init-g ffhq-res256.pkl --ema-rampup 0 --aug ada --freeze-d 10 --device cuda --resume

  # an export without a D: the fresh D trains alone for the first 32 kimg
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/ft2 --kimg 200 --batch 64 \\
      --init-g models/toon64 --freeze-g-kimg 32 --ema-rampup 0 --bf16 --resume

  # carry on with a second D that sees 16-px box-filtered images (content, not edge sharpness)
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64-low --kimg 200 --batch 64 \\
      --init-g toonfaces-stylegan2-64 --ema-rampup 0 --lr 0.0005 --d-lr 0.0025 --lowres-d 16 --bf16 --resume

  # ... and a component D on the 32-px window of rows 21-52, columns 16-47 (brows, eyes, nose, mouth)
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64-crop --kimg 200 --batch 64 \\
      --init-g toonfaces-stylegan2-64 --ema-rampup 0 --lowres-d 16 --crop-d 32 --crop-d-at 21 16 --bf16 --resume

  # ... the same window shown in place to a copy of the trained D (which already knows G's rendering)
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64-crop2 --kimg 200 --batch 64 \\
      --resume-from runs/toon64-low/checkpoints/step-00000386 --lowres-d 16 --crop-d 32 --crop-d-at 21 16 \\
      --crop-d-from-d --bf16 --resume

  # carry on with the mapping network learning 10x faster than its default (0.01 x --lr → 0.1 x)
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64-map --kimg 200 --batch 64 \\
      --resume-from runs/toon64/checkpoints/step-00006962 --mapping-lr-scale 10 --bf16 --resume

  # carry on with Inclusive GAN's coverage term: each of 8 real images per step pulls its nearest of 64
  # samples (compared at 32 px) towards itself
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64-imle --kimg 200 --batch 64 \\
      --init-g toonfaces-stylegan2-64 --ema-rampup 0 --imle-weight 30 --imle-res 32 --bf16 --resume

  # pull each attribute's histogram over the samples towards the data's (an attribute network
  # learns the factors from the renders' labels)
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64-attr --kimg 200 --batch 64 \\
      --init-g toonfaces-stylegan2-64 --ema-rampup 0 --attr-weight 30 --bf16 --resume

  # a conditional model (ADA's --cond): G and D take the hat class of a ToonFaces render
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/toon64-hat --kimg 200 --batch 32 \
      --cond hat --bf16 --resume
  ganlens generate --model models/toon64-hat --class 1 --seeds 0-7 --out caps/   # after the export

  # ... on your own labels: dataset.json beside the images ({"labels": [["a/0001.png", 3], ...]},
  # ADA's dataset_tool format) or an .npz with 'images' and 'labels'
  ganlens train stylegan2 --data my_labelled/ --res 64 --out runs/cond --kimg 200 --cond --resume

  # tiny smoke test on a .npy array of uint8 images
  ganlens train stylegan2 --data faces16.npy --res 16 --out /tmp/run16 --kimg 1 --batch 8 \\
      --channel-base 512 --channel-max 64 --map-layers 2 --w-dim 64 --z-dim 64
"""

EXPORT_EXAMPLES = """\
  # write the latest G_ema as config.json + model.safetensors
  ganlens train stylegan2-export --run runs/toon64 --out models/toon64
  # with its discriminator, so that training can carry on from the export alone (--init-g)
  ganlens train stylegan2-export --run runs/toon64 --out models/toon64-d --with-d
  # ... and Adam's second moments (adam/, 1 byte a parameter), so that --init-g starts with them
  ganlens train stylegan2-export --run runs/toon64 --out models/toon64-da --with-d --with-adam
  # the raw trained G instead of its moving average (compare both with 'ganlens realism')
  ganlens train stylegan2-export --run runs/toon64 --out models/toon64-raw --generator G
  # G re-averaged after training with a 5-kimg half-life, over the run's kept checkpoints (post-hoc EMA)
  ganlens train stylegan2-export --run runs/toon64 --out models/toon64-ema5 --ema-kimg 5
  ganlens generate --model models/toon64 --seeds 0-7 --out samples/
"""

AVERAGE_EXAMPLES = """\
  # the uniform weight average of two runs restarted from the same export (a "model soup")
  ganlens train stylegan2-average models/run-a models/run-b --out models/soup
  # ... with run-a's D, training aids and Adam beside it, so that --init-g models/soup trains on
  ganlens train stylegan2-average toonfaces-stylegan2-64 models/run-a models/run-b \\
      --aids-from models/run-a --out models/soup-d
  ganlens realism models/soup --n 500 --repeats 5
"""

PERMUTE_EXAMPLES = """\
  # an export of a run trained before session 48: the same images in distribution, other images per
  # seed, no latents left on its initial seed's stream; D, aids and Adam come along for --init-g
  ganlens train stylegan2-permute-z runs/toon64-export --out models/toon64-pz
  ganlens realism models/toon64-pz --n 500 --repeats 5
  # another permutation of the shipped model (already permuted once, with seed 1)
  ganlens train stylegan2-permute-z toonfaces-stylegan2-64 --seed 7 --out models/toon64-pz7
"""

WIDEN_EXAMPLES = """\
  # a wider D for the shipped model (128 channels at 64 px, 256 below; G kept), then train on from it
  ganlens train stylegan2-widen toonfaces-stylegan2-64 --d-channel-base 8192 --d-channel-max 256 --out models/toon64-d
  ganlens train stylegan2 --data toonfaces64/ --res 64 --out runs/wide --kimg 200 --batch 64 \\
      --init-g models/toon64-d --ema-rampup 0 --lr 0.0005 --d-lr 0.0025 --bf16 --resume
  # grow your own export's G from 4096/128 to 8192/256 (same images; its discriminator/ is copied)
  ganlens train stylegan2-widen runs/toon64-export --channel-base 8192 --channel-max 256 --out models/toon64-b
"""


def add_model_output(p: argparse.ArgumentParser) -> None:
    """``--out``, ``--max-mb`` and ``--overwrite``: the options of every command that writes a model."""
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument(
        "--max-mb", type=float, default=25.0, help="refuse models larger than this (default 25 MB)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing model in --out")


def register_train(sub) -> None:
    p = add_command(
        sub,
        "stylegan2",
        help="train a StyleGAN2 (R1, path length, style mixing, EMA; torchrun for several processes)",
        examples=EXAMPLES,
        description=(
            "Train a StyleGAN2 with ADA's recipe: non-saturating loss, lazy R1 and path-length "
            "regularisation, style mixing, EMA generator. Checkpoints (safetensors + JSON), sample "
            "grids and a loss plot go to --out; Ctrl-C or SIGTERM checkpoints before stopping."
        ),
    )
    g = p.add_argument_group("data and run")
    g.add_argument(
        "--data", required=True, help="image folder, ToonFaces render, .zip, or .npy/.npz uint8 array"
    )
    g.add_argument("--res", type=int, default=64, help="image resolution (default 64)")
    g.add_argument("--out", required=True, help="run folder")
    g.add_argument(
        "--kimg", type=float, default=1000.0, help="train until this many thousand images (default 1000)"
    )
    g.add_argument("--batch", type=int, default=32, help="global minibatch (default 32)")
    g.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint (if any)")
    g.add_argument(
        "--resume-from",
        metavar="CKPT",
        default=None,
        help="start from another run's checkpoint folder (from another machine, say) until this run "
        "has its own; the optimiser files may be left out (Adam then starts afresh)",
    )
    g.add_argument(
        "--init-g",
        metavar="MODEL",
        default=None,
        help="start G and G_ema from a trained StyleGAN2 (zoo name, exported folder or NVIDIA pickle; its "
        "config sets G's size), D from its discriminator/ or the pickle's D if it has one (else fresh), "
        "D_low and the attribute network from its discriminator_low/ and attribute_net/ where they fit, "
        "until this run has its own "
        "checkpoint; the path-length target starts at G's measured mean path length, and both Adams "
        "at the second moments in its adam/ where it has one (--no-init-adam: empty)",
    )
    g.add_argument(
        "--init-adam",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --init-g: start both Adams from the model's adam/ folder where it has one (default)",
    )
    g.add_argument(
        "--freeze-d",
        type=int,
        default=0,
        help="Freeze-D for transfer learning (ADA's --freezed): never update D's first N conv layers, "
        "counted from the input (default 0)",
    )
    g.add_argument(
        "--freeze-g-kimg",
        type=float,
        default=0.0,
        help="leave G untouched for the first N kimg so that a fresh D catches up (default 0)",
    )
    g.add_argument("--overwrite", action="store_true", help="start afresh in a non-empty run folder")
    g.add_argument(
        "--snapshot-kimg", type=float, default=10.0, help="checkpoint + sample grid every N kimg (10)"
    )
    g.add_argument(
        "--tick-kimg", type=float, default=1.0, help="log stats and redraw the loss plot every N kimg (1)"
    )
    g.add_argument("--keep", type=int, default=3, help="checkpoints kept on disk (default 3)")
    g.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    g.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads per process (default: torch's)"
    )
    g.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (log.txt still records ticks)")
    m = p.add_argument_group("networks (ignored on --resume: the checkpoint's architecture is used)")
    m.add_argument("--z-dim", type=int, default=512, help="z size (default 512)")
    m.add_argument("--w-dim", type=int, default=512, help="w size (default 512)")
    m.add_argument("--map-layers", type=int, default=8, help="mapping layers (default 8)")
    m.add_argument(
        "--channel-base",
        "--g-channels",
        dest="channel_base",
        type=int,
        default=16384,
        help="channels at resolution r = min(base // r, max) (default 16384)",
    )
    m.add_argument("--channel-max", type=int, default=512, help="largest channel count (default 512)")
    m.add_argument(
        "--g-architecture",
        choices=("skip", "orig", "resnet"),
        default="skip",
        help="generator: a ToRGB per block (skip, config F), the last only (orig), or orig plus "
        "residual shortcuts (resnet) (default skip)",
    )
    m.add_argument("--d-channel-base", type=int, default=None, help="discriminator base (default: as G)")
    m.add_argument("--d-channel-max", type=int, default=None, help="discriminator max (default: as G)")
    m.add_argument("--mbstd-group", type=int, default=4, help="minibatch-stddev group size (default 4)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--lr", type=float, default=0.0025, help="Adam learning rate for G and D (default 0.0025)")
    o.add_argument("--d-lr", type=float, default=None, help="D's learning rate, if not --lr (default: --lr)")
    o.add_argument("--r1-gamma", type=float, default=None, help="R1 weight (default: 0.0002 * res^2 / batch)")
    o.add_argument("--r1-interval", type=int, default=16, help="lazy R1 every N minibatches (16)")
    o.add_argument("--pl-weight", type=float, default=2.0, help="path-length weight, 0 disables (default 2)")
    o.add_argument("--pl-interval", type=int, default=4, help="lazy path length every N minibatches (4)")
    o.add_argument("--mixing", type=float, default=0.9, help="style-mixing probability (default 0.9)")
    o.add_argument(
        "--noise",
        choices=("random", "none"),
        default="random",
        help="per-pixel noise inputs while training; 'none' keeps their strengths at 0 (default random)",
    )
    o.add_argument(
        "--ema-kimg", type=float, default=None, help="G_ema half-life in kimg (default batch*10/32)"
    )
    o.add_argument("--ema-rampup", type=float, default=0.05, help="EMA ramp-up, 0 disables (default 0.05)")
    o.add_argument("--xflip", action="store_true", help="randomly mirror real images")
    a = p.add_argument_group("augmentation of what D sees (ADA, Karras et al. 2020)")
    a.add_argument(
        "--aug",
        choices=("none", "ada", "fixed"),
        default="none",
        help="none; ada: p adapts to keep E[sign D(real)] at --ada-target; fixed: p = --aug-p (default none)",
    )
    a.add_argument(
        "--aug-p", type=float, default=0.0, help="starting (ada) or constant (fixed) p (default 0)"
    )
    a.add_argument(
        "--augpipe",
        choices=("blit", "geom", "color", "bg", "bgc"),
        default="bgc",
        help="transformations: blit (flip, 90°, integer shift), geom, color, or combined (default bgc)",
    )
    a.add_argument("--ada-target", type=float, default=0.6, help="ADA's r_t target (default 0.6)")
    a.add_argument(
        "--ada-kimg", type=float, default=500.0, help="kimg for p to move by 1 at the full rate (default 500)"
    )
    o.add_argument("--bf16", action="store_true", help="bf16 autocast for the main forward passes")
    o.add_argument(
        "--fold-resample",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fold the x2 FIR filters into the up/down convolutions (same networks, more multiply-adds, "
        "fewer memory passes; default: on for a GPU, 3.2x faster on an H200, off for a CPU, 2.1x "
        "slower there; benchmarks/train_profile.py measures it)",
    )
    o.add_argument(
        "--lowres-d",
        type=int,
        default=0,
        metavar="RES",
        help="also train a second D on images box-filtered down to RES px (a power of two below --res), "
        "which can only judge what is drawn where, not edge sharpness; 0: off (default 0)",
    )
    o.add_argument(
        "--mapping-lr-scale",
        type=float,
        default=1.0,
        metavar="K",
        help="train G's mapping network at K x --lr (its equalised-lr multiplier, 0.01, already slows it "
        "100x; K = 10 gives 0.1); a resumed run keeps Adam's moments (default 1)",
    )
    o.add_argument(
        "--cond",
        nargs="?",
        const="dataset",
        default=None,
        metavar="FACTORS",
        help="train a conditional G and D (ADA's --cond): alone, on the data's dataset.json or .npz "
        "'labels'; with FACTORS (e.g. hat or hair_style,glasses), on those factors of a ToonFaces render",
    )
    o.add_argument(
        "--lowres-d-weight",
        type=float,
        default=1.0,
        help="weight of the low-resolution D's term in G's loss (default 1)",
    )
    o.add_argument(
        "--crop-d",
        type=int,
        default=0,
        metavar="SIZE",
        help="also train a component D (after GFP-GAN's) on a SIZE-px window of every image at full "
        "resolution (a power of two below --res), all its capacity on what the window holds: faces' "
        "brows, eyes and mouths; 0: off (default 0)",
    )
    o.add_argument(
        "--crop-d-at",
        type=int,
        nargs=2,
        default=None,
        metavar=("ROW", "COL"),
        help="top row and left column of that window (default: centred)",
    )
    o.add_argument(
        "--crop-d-weight",
        type=float,
        default=1.0,
        help="weight of the component D's term in G's loss (default 1)",
    )
    o.add_argument(
        "--crop-d-from-d",
        action="store_true",
        help="the component D is D's own architecture seeing the window in place (the rest of the image "
        "mid-grey) and, where it starts fresh, starts as a copy of D and its Adam instead of from scratch",
    )
    o.add_argument(
        "--imle-weight",
        type=float,
        default=0.0,
        help="weight of Inclusive GAN's coverage term: each real image pulls its nearest of --imle-pool "
        "samples towards itself (mean absolute difference), meant to stop G dropping parts of the data; "
        "0: off (default 0)",
    )
    o.add_argument(
        "--imle-pool", type=int, default=64, help="samples drawn per step for the IMLE term (default 64)"
    )
    o.add_argument(
        "--imle-batch",
        type=int,
        default=8,
        help="real images per step (per process) in the IMLE term (default 8)",
    )
    o.add_argument(
        "--imle-res",
        type=int,
        default=None,
        metavar="RES",
        help="measure the IMLE distances on images box-filtered down to RES px (default: --res)",
    )
    o.add_argument(
        "--attr-weight",
        type=float,
        default=0.0,
        help="weight of the attribute-marginal term (ToonFaces data): an attribute network learns every "
        "factor from the real images' labels, and G is pulled towards the data's histogram of each factor "
        "as that network reads the generated batch; G and D stay unconditional; 0: off (default 0)",
    )
    o.add_argument(
        "--attr-entropy",
        type=float,
        default=0.1,
        help="weight of the per-sample entropy (readable samples) relative to the KL in that term (default 0.1)",
    )
    o.add_argument(
        "--attr-fake-entropy",
        type=float,
        default=0.0,
        help="the network also learns to be unsure of generated images, with this weight on its mean "
        "entropy there (CatGAN's discriminator side), so G cannot rely on its blind spots; 0: it learns "
        "from real images only (default 0)",
    )
    o.add_argument(
        "--attr-quantile",
        type=float,
        default=0.0,
        help="weight, relative to the KL, of a term on the continuous factors: the generated batch's sorted "
        "readings (expected bin centres) are pulled to the quantiles of the real batch's, so samples the "
        "network is unsure of cannot stand in for the tails; 0: off (default 0)",
    )
    o.add_argument(
        "--attr-features",
        type=float,
        default=0.0,
        help="weight, relative to the KL, of a sliced Wasserstein-2 term between the network's hidden "
        "features of the generated and the real batch (128 random directions a step): the joint "
        "distribution of what it sees, not only each factor's histogram; 0: off (default 0)",
    )
    o.add_argument(
        "--attr-pairs",
        type=float,
        default=0.0,
        help="weight, relative to the KL, of the same KL for every pair of factors: the training set's joint "
        "class frequencies against the generated batch's mean joint reading, so G pairs attributes as the "
        "data does (glasses with any brows); 0: off (default 0)",
    )
    o.add_argument(
        "--attr-bins",
        type=int,
        default=8,
        help="classes of each continuous factor, for that network (default 8)",
    )
    o.add_argument(
        "--attr-downsample",
        choices=("pool", "stride"),
        help="how the attribute network halves the resolution: 'pool' (average pooling) or 'stride' (strided "
        "convolutions, which keep the thin strokes of mouths and brows); a value other than the checkpoint's "
        "A starts a fresh one (default: the checkpoint's or init model's A; a fresh one pools)",
    )
    o.add_argument(
        "--attr-lr",
        type=float,
        default=0.001,
        help="Adam learning rate of the attribute network when its pretraining starts; it falls on a cosine "
        "to a tenth, the rate A then follows the training at (default 0.001)",
    )
    o.add_argument(
        "--attr-pretrain-kimg",
        type=float,
        default=192.0,
        help="a fresh attribute network first learns alone on this many kimg of real images, a few "
        "minutes on a CPU (default 192)",
    )
    o.add_argument(
        "--reader",
        metavar="CLASSIFIER",
        help="a trained attribute classifier's folder (ganlens train classifier; not the one the benchmarks "
        "measure with) whose readings of each generated batch are matched to its readings of the real batch: "
        "class frequencies for categorical factors, quantiles for continuous ones (ToonFaces data)",
    )
    o.add_argument(
        "--reader-weight",
        type=float,
        default=0.0,
        help="weight of that term in G's loss; needs --reader (default 0)",
    )
    o.add_argument(
        "--reader-factors",
        metavar="F1,F2=W",
        help="match only these factors (comma-separated; default all): the term is a mean over factors, so "
        "the few a model gets wrong each get the whole weight; NAME=W multiplies one factor's term by W "
        "(e.g. smile=4,brow_shape,scale)",
    )
    o.add_argument(
        "--reader-bank",
        type=int,
        default=1,
        metavar="K",
        help="match each generated batch to the real readings of the last K steps, for less noise (default 1)",
    )
    p.set_defaults(func=run)

    e = add_command(
        sub,
        "stylegan2-export",
        help="export a StyleGAN2 run's G_ema (or raw G) in the native format (config.json + model.safetensors)",
        examples=EXPORT_EXAMPLES,
    )
    e.add_argument("--run", required=True, help="run folder written by 'ganlens train stylegan2'")
    e.add_argument("--checkpoint", default=None, help="a checkpoint folder (default: the run's latest)")
    e.add_argument(
        "--with-d",
        action="store_true",
        help="write the run's discriminator too, in OUT/discriminator/ (for --init-g later), and its "
        "auxiliary Ds and attribute network where it has them (discriminator_low/, discriminator_crop/, "
        "attribute_net/) and a copy of its --reader (attribute_reader/)",
    )
    e.add_argument(
        "--with-adam",
        action="store_true",
        help="with --with-d: write both Adams' second moments in OUT/adam/ (1 byte a parameter), which "
        "--init-g then starts from instead of an empty optimiser",
    )
    e.add_argument(
        "--generator",
        choices=["G_ema", "G"],
        default="G_ema",
        help="which generator to write: the moving average (default) or the raw trained weights",
    )
    e.add_argument(
        "--ema-kimg",
        type=float,
        default=None,
        metavar="H",
        help="write G re-averaged with a half-life of H kimg instead of the run's G_ema: from the oldest kept "
        "checkpoint's G_ema, folding in the raw G of every later checkpoint up to the exported one",
    )
    add_model_output(e)
    e.set_defaults(func=run_export)

    a = add_command(
        sub,
        "stylegan2-average",
        help="write the uniform weight average of StyleGAN2 models of one config (a model soup)",
        examples=AVERAGE_EXAMPLES,
    )
    a.add_argument(
        "models", nargs="+", metavar="MODEL", help="zoo names or exported model folders (2 or more)"
    )
    a.add_argument(
        "--aids-from",
        default=None,
        metavar="MODEL",
        help="copy this model's discriminator/, other training aids, attribute_reader/ and adam/ beside the "
        "average (for --init-g)",
    )
    add_model_output(a)
    a.set_defaults(func=run_average)

    pz = add_command(
        sub,
        "stylegan2-permute-z",
        help="permute a StyleGAN's z inputs: the same image distribution, without latents its init left behind",
        examples=PERMUTE_EXAMPLES,
        description=(
            "Write a copy of a StyleGAN or StyleGAN2 whose mapping network reads z in a fixed random "
            "order (a fixed-point-free permutation from --seed). z ~ N(0, I) is unchanged by a "
            "permutation, so the copy draws exactly the same distribution of images; only the image "
            "of each latent changes. Models trained here before session 48 started the mapping's "
            "first layer as the first latents of torch's stream for the training seed, and map those "
            "latents far out in W (the first 256 of seed 0 for the shipped ToonFaces model); the "
            "copy has none. Prints which streams the first layer matched before and after. D, the "
            "other training aids, the reader and adam/ are copied, Adam's moments of that layer "
            "permuted alike."
        ),
    )
    pz.add_argument("model", metavar="MODEL", help="zoo name or exported model folder")
    pz.add_argument("--seed", type=int, default=1, help="seed of the permutation (default 1)")
    add_model_output(pz)
    pz.set_defaults(func=run_permute)

    w = add_command(
        sub,
        "stylegan2-widen",
        help="grow a trained StyleGAN2 to more channels, drawing the same images (to train on from it)",
        examples=WIDEN_EXAMPLES,
        description=(
            "Write a copy of a StyleGAN2 with wider layers: every new channel starts with fresh weights "
            "but is read with zero weights, so the copy draws the same images (checked on 8 samples) "
            "until training uses the new capacity. The model's discriminator/ is copied, or widened the "
            "same way with --d-channel-base/--d-channel-max (same logits, checked on 16 images)."
        ),
    )
    w.add_argument("model", help="zoo name or exported StyleGAN2 folder")
    w.add_argument(
        "--channel-base", type=int, help="G's new channel base (min(base // r, max)); default: kept"
    )
    w.add_argument("--channel-max", type=int, help="G's new channel cap; default: kept")
    w.add_argument("--d-channel-base", type=int, help="widen the model's discriminator/ to this channel base")
    w.add_argument("--d-channel-max", type=int, help="... and this channel cap (default: D's own)")
    w.add_argument("--seed", type=int, default=0, help="seed of the new channels' fresh weights (default 0)")
    add_model_output(w)
    w.set_defaults(func=run_widen)


def parse_reader_factors(text: str | None) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """``--reader-factors``: ``smile=4,brow_shape`` → (("smile", "brow_shape"), (4.0, 1.0)); the
    weights are () when none is given, so the term is the plain mean."""
    names: list[str] = []
    weights: list[float] = []
    for item in (text or "").split(","):
        name, sep, value = item.strip().partition("=")
        if not name.strip():
            continue
        try:
            weight = float(value) if sep else 1.0
        except ValueError:
            raise GanlensError(
                f"--reader-factors {item.strip()!r}: the weight after '=' must be a number"
            ) from None
        names.append(name.strip())
        weights.append(weight)
    return tuple(names), tuple(weights) if any(w != 1.0 for w in weights) else ()


def config_from_args(args: argparse.Namespace):
    from ganlens.training.config import TrainConfig

    reader_factors, reader_weights = parse_reader_factors(args.reader_factors)
    return TrainConfig(
        data=args.data,
        out=args.out,
        resolution=args.res,
        kimg=args.kimg,
        batch=args.batch,
        z_dim=args.z_dim,
        w_dim=args.w_dim,
        map_layers=args.map_layers,
        channel_base=args.channel_base,
        channel_max=args.channel_max,
        architecture=args.g_architecture,
        d_channel_base=args.d_channel_base,
        d_channel_max=args.d_channel_max,
        mbstd_group=args.mbstd_group,
        g_lr=args.lr,
        d_lr=args.lr if args.d_lr is None else args.d_lr,
        r1_gamma=args.r1_gamma,
        r1_interval=args.r1_interval,
        pl_weight=args.pl_weight,
        pl_interval=args.pl_interval,
        mixing=args.mixing,
        noise=args.noise,
        ema_kimg=args.ema_kimg,
        ema_rampup=args.ema_rampup or None,
        xflip=args.xflip,
        aug=args.aug,
        aug_p=args.aug_p,
        augpipe=args.augpipe,
        ada_target=args.ada_target,
        ada_kimg=args.ada_kimg,
        bf16=args.bf16,
        fold_resample=args.fold_resample,
        tick_kimg=args.tick_kimg,
        snapshot_kimg=args.snapshot_kimg,
        keep_checkpoints=args.keep,
        seed=args.seed,
        num_threads=args.threads,
        device=args.device,
        resume=args.resume,
        resume_from=args.resume_from,
        init_generator=args.init_g,
        init_adam=args.init_adam,
        freeze_g_kimg=args.freeze_g_kimg,
        freeze_d=args.freeze_d,
        lowres_d=args.lowres_d,
        cond=args.cond,
        lowres_d_weight=args.lowres_d_weight,
        crop_d=args.crop_d,
        crop_d_at=tuple(args.crop_d_at) if args.crop_d_at else None,
        crop_d_weight=args.crop_d_weight,
        crop_d_from_d=args.crop_d_from_d,
        mapping_lr_scale=args.mapping_lr_scale,
        imle_weight=args.imle_weight,
        imle_pool=args.imle_pool,
        imle_batch=args.imle_batch,
        imle_res=args.imle_res,
        attr_weight=args.attr_weight,
        attr_entropy=args.attr_entropy,
        attr_quantile=args.attr_quantile,
        attr_features=args.attr_features,
        attr_pairs=args.attr_pairs,
        attr_fake_entropy=args.attr_fake_entropy,
        attr_bins=args.attr_bins,
        attr_downsample=args.attr_downsample,
        attr_lr=args.attr_lr,
        attr_pretrain_kimg=args.attr_pretrain_kimg,
        reader=args.reader,
        reader_weight=args.reader_weight,
        reader_factors=reader_factors,
        reader_factor_weights=reader_weights,
        reader_bank=args.reader_bank,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )


def run(args: argparse.Namespace) -> int:
    from ganlens.training.stylegan2 import train_stylegan2

    if args.res & (args.res - 1) or not 8 <= args.res <= 1024:
        raise GanlensError(f"--res {args.res} is not allowed; use a power of two from 8 to 1024")
    result = train_stylegan2(config_from_args(args))
    if result.checkpoint is not None:
        state = "stopped" if result.interrupted else "done"
        print(
            f"{state}: {result.kimg:.2f} kimg (step {result.step}), last {result.images_per_sec:.1f} img/s; "
            f"checkpoint {result.checkpoint}"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ganlens.training.export import export_generator

    r = export_generator(
        args.run,
        args.out,
        checkpoint=args.checkpoint,
        overwrite=args.overwrite,
        max_mb=args.max_mb,
        with_discriminator=args.with_d,
        with_adam=args.with_adam,
        generator=args.generator,
        ema_kimg=args.ema_kimg,
    )
    what = f"{r.generator} of"
    if r.posthoc is not None:
        ph = r.posthoc
        what = f"G re-averaged with a {ph.half_life_kimg:g}-kimg half-life up to"
        print(
            f"re-averaged G over {len(ph.checkpoints)} checkpoints ({ph.kimg[0]:.2f}–{ph.kimg[-1]:.2f} kimg) with a "
            f"half-life of {ph.half_life_kimg:g} kimg; {ph.checkpoints[0].name}'s G_ema weighs "
            f"{100 * ph.start_share:.0f} %"
        )
    print(
        f"exported {what} {r.checkpoint.name} ({r.kimg:.2f} kimg) to {r.directory}: "
        f"{r.size_bytes / 1e6:.2f} MB, sha256 {r.sha256}"
        + (f"; its discriminator to {r.discriminator}" if r.discriminator else "")
        + "".join(f", {folder}/" for folder in r.training_aids)
        + ("; Adam's second moments to adam/" if args.with_adam else "")
    )
    return 0


def run_average(args: argparse.Namespace) -> int:
    from ganlens.training.export import write_average

    r = write_average(
        args.models, args.out, aids_from=args.aids_from, overwrite=args.overwrite, max_mb=args.max_mb
    )
    print(
        f"averaged {len(r.models)} generators ({', '.join(r.models)}) to {r.directory}: "
        f"{r.size_bytes / 1e6:.2f} MB, sha256 {r.sha256}"
        + (f"; from {r.aids_from}: {', '.join(f'{f}/' for f in r.training_aids)}" if r.training_aids else "")
    )
    return 0


def run_permute(args: argparse.Namespace) -> int:
    from ganlens.training.export import write_permuted

    r = write_permuted(args.model, args.out, seed=args.seed, overwrite=args.overwrite, max_mb=args.max_mb)
    streams = lambda d: ", ".join(f"seed {s}: {k}" for s, k in d.items()) or "none"  # noqa: E731
    print(
        f"permuted the z inputs of {args.model} (seed {r.seed}) to {r.directory}: "
        f"{r.size_bytes / 1e6:.2f} MB, sha256 {r.sha256}"
        + (f"; copied {', '.join(f'{f}/' for f in r.training_aids)}" if r.training_aids else "")
    )
    print(
        f"first mapping layer rows that are latents of a torch stream, before: {streams(r.matched_before)}; "
        f"after: {streams(r.matched_after)}"
    )
    return 0


def run_widen(args: argparse.Namespace) -> int:
    from ganlens.training.widen import write_widened

    widths = (args.channel_base, args.channel_max, args.d_channel_base, args.d_channel_max)
    if all(v is None for v in widths):
        raise GanlensError(
            "nothing to widen: give --channel-base/--channel-max (G) and/or --d-channel-base/--d-channel-max (D)"
        )
    r = write_widened(
        args.model,
        args.out,
        channel_base=args.channel_base,
        channel_max=args.channel_max,
        d_channel_base=args.d_channel_base,
        d_channel_max=args.d_channel_max,
        seed=args.seed,
        max_mb=args.max_mb,
        overwrite=args.overwrite,
    )
    chans = lambda d: " ".join(f"{k}:{v}" for k, v in d.items())  # noqa: E731
    print(
        f"widened {args.model}: G channels {chans(r.channels_before)} -> {chans(r.channels_after)}, "
        f"{r.params_before / 1e6:.2f} M -> {r.params_after / 1e6:.2f} M parameters; "
        f"largest image difference {r.max_abs_diff:.1e}"
    )
    d = r.discriminator_widening
    if d is not None:
        print(
            f"D channels {chans(d.channels_before)} -> {chans(d.channels_after)}, "
            f"{d.params_before / 1e6:.2f} M -> {d.params_after / 1e6:.2f} M parameters; "
            f"largest logit difference {d.max_abs_diff:.1e}"
        )
    where = {None: "", False: " (with its discriminator/)", True: " (with its widened discriminator/)"}
    print(f"wrote {args.out}" + where[None if r.discriminator is None else d is not None])
    return 0
