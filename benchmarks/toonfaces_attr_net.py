"""How well does a run's attribute network A read the factors (``--attr-weight``)?

G only learns a factor's marginal as well as A reads it: where A is blind, the KL term is small
however wrong G's histogram is. This script scores A from a training checkpoint in two ways, each
beside the shipped attribute classifier measured on the same images:

1. **Held-out renders** (``--n`` fresh renders, seeds from 10,000,000, never in a training render):
   per factor A's accuracy on its own classes (a categorical factor's classes, ``--attr-bins``
   bins of a continuous one), the share within one bin, and for a continuous factor the R² of the
   expected bin centre against the true value. The classifier's column is its accuracy or R²
   (``attribute_accuracy``).
2. **The checkpoint's samples** (``--samples`` images of G_ema; 0 skips it): per factor the total
   variation between the samples' histogram and the held-out renders' histogram, in A's classes,
   once as A reads both sets and once as the classifier reads them, and as a noise floor the TV
   between the two halves of the renders (classifier). Where A's TV is far below the classifier's,
   A cannot see that error, and more weight on the term will not fix it.
3. **A fresh reader** (``--fresh-a STEPS``): a second network A' of A's architecture, trained from
   a new seed on the run's training render alone for STEPS steps (it never sees G), adds its
   columns to both tables. If A' reads the samples like A, G is not drawing into its own A's
   blind spots: the readers disagree about the images themselves.

    .venv/bin/python benchmarks/toonfaces_attr_net.py RUN/checkpoints/step-00001513
    .venv/bin/python benchmarks/toonfaces_attr_net.py RUN/checkpoints/step-00001513 --n 2000 --samples 0
    .venv/bin/python benchmarks/toonfaces_attr_net.py RUN/checkpoints/step-00001946 --fresh-a 3000
    .venv/bin/python benchmarks/toonfaces_attr_net.py RUN/checkpoints/step-00001946 --fresh-a 3000 \
        --fresh-a-downsample stride   # A' halving with strided convolutions instead of pooling
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

from common import add_bench_args, fail

#: base seed of the held-out renders (a training render uses seeds from 0)
HELD_OUT_SEED = 10_000_000


def a_reads(
    A: torch.nn.Module, images: torch.Tensor, num_classes: tuple[int, ...], bins: int, batch: int = 100
):
    """A's class per factor, (N,) each, and its expected bin centre of every continuous factor,
    (N, continuous factors) (``expected_values``, the reading ``--attr-quantile`` trains on)."""
    from ganlens.data.toonfaces import TOONFACES_SCHEMA
    from ganlens.training.attributes import expected_values

    with torch.no_grad():
        logits = torch.cat([A(images[i : i + batch]).float() for i in range(0, len(images), batch)])
    continuous = tuple(not f.categorical for f in TOONFACES_SCHEMA)
    classes = [part.argmax(1) for part in logits.split(num_classes, dim=1)]
    return classes, expected_values(logits, num_classes, continuous, bins)


def tv(a: torch.Tensor, b: torch.Tensor, k: int) -> float:
    """Total variation between the class histograms of two (N,) long tensors with ``k`` classes."""
    ha = torch.bincount(a, minlength=k).float() / len(a)
    hb = torch.bincount(b, minlength=k).float() / len(b)
    return 0.5 * float((ha - hb).abs().sum())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a training checkpoint folder of a run with --attr-weight")
    p.add_argument("--n", type=int, default=1000, help="held-out renders (default 1000)")
    p.add_argument("--samples", type=int, default=1000, help="G_ema samples; 0: none (default 1000)")
    add_bench_args(p)
    p.add_argument(
        "--fresh-a",
        type=int,
        default=0,
        metavar="STEPS",
        help="also train a fresh A' for STEPS steps on the run's training render and read with it (default 0: no)",
    )
    p.add_argument(
        "--fresh-a-downsample",
        choices=("pool", "stride"),
        help="A''s downsampling (default: A's own); 'stride' halves with strided convolutions",
    )
    p.add_argument("--data", help="the training render for --fresh-a (default: the run's --data)")
    args = p.parse_args(argv)

    from ganlens.analysis.realism import generate, render_real_records
    from ganlens.classifier import attribute_accuracy, load_classifier
    from ganlens.data.toonfaces import TOONFACES_SCHEMA
    from ganlens.errors import GanlensError
    from ganlens.generators import build_generator
    from ganlens.training.attributes import attribute_classes, fit_attribute_net, load_attribute_net
    from ganlens.training.checkpoint import load_module, read_checkpoint_state

    torch.set_num_threads(max(1, args.threads))
    try:
        if args.n < 100:
            raise GanlensError(f"--n {args.n} must be at least 100")
        if args.samples < 0:
            raise GanlensError(f"--samples {args.samples} must be >= 0")
        if args.fresh_a < 0:
            raise GanlensError(f"--fresh-a {args.fresh_a} must be >= 0")
        A = load_attribute_net(args.checkpoint)
        ck = read_checkpoint_state(args.checkpoint)
        bins = _bins_from(A, TOONFACES_SCHEMA)
        size = A.config.resolution
        real, records = render_real_records(args.n, size=size, base_seed=HELD_OUT_SEED, progress=False)
        num_classes, targets = attribute_classes(TOONFACES_SCHEMA, records, bins=bins)
        if num_classes != A.config.num_classes:
            raise GanlensError(f"A has classes {A.config.num_classes}; {bins} bins give {num_classes}")
        readers = {"A": A}
        if args.fresh_a:
            fresh_config = A.config
            if args.fresh_a_downsample:
                fresh_config = dataclasses.replace(A.config, downsample=args.fresh_a_downsample)
            readers["A'"] = fit_attribute_net(
                fresh_config, *_training_render(args.data, ck, bins), steps=args.fresh_a, seed=12345
            )
        C = load_classifier(None)
        c_scores = attribute_accuracy(C, real, records)
        a_real = {name: a_reads(net, real, num_classes, bins) for name, net in readers.items()}
        fake = None
        if args.samples:
            G = build_generator(ck.state["g_config"]).eval()
            load_module(ck.path, "G_ema", G)
            with torch.no_grad():
                fake = generate(G, args.samples, seed=args.seed, batch_size=50, progress=False)
    except GanlensError as e:
        return fail("toonfaces attr-net", e)

    encoded = TOONFACES_SCHEMA.encode(records)
    print(
        f"checkpoint: {Path(args.checkpoint)} ({ck.nimg / 1000:.2f} kimg); A: {bins} bins per continuous factor"
        + (
            f"; A': fresh, {args.fresh_a} steps on the training render, downsampling by "
            + readers["A'"].config.downsample
            if args.fresh_a
            else ""
        )
    )
    print(f"\n## Held-out renders (n = {args.n}, seeds {HELD_OUT_SEED:,}+)")
    cols = [
        f"{r}: {c}"
        for r in readers
        for c in ("exact class", "within one bin", "R² of the expected bin centre")
    ]
    print("| factor | " + " | ".join(cols) + " | classifier |")
    print("| --- |" + " ---: |" * (len(cols) + 1))
    acc_a: dict[str, list[float]] = {r: [] for r in readers}
    acc_c = []
    continuous = [f.name for f in TOONFACES_SCHEMA if not f.categorical]
    for j, f in enumerate(TOONFACES_SCHEMA):
        t, v = targets[:, j], encoded[f.name]
        acc_c.append(c_scores[f.name])
        cells = []
        for r in readers:
            read, values = a_real[r][0][j], a_real[r][1]
            exact = float((read == t).float().mean())
            acc_a[r].append(exact)
            if f.categorical:
                cells += [f"{exact:.3f}", "—", "—"]
                continue
            ok = ~v.isnan()
            near = float(((read - t).abs() <= 1).float().mean())
            ev = values[:, continuous.index(f.name)]
            r2 = 1 - float(((ev - v)[ok] ** 2).mean() / v[ok].var())
            cells += [f"{exact:.3f}", f"{near:.3f}", f"{r2:.3f}"]
        score = f"{'acc' if f.categorical else 'R²'} {c_scores[f.name]:.3f}"
        print(f"| {f.name} | " + " | ".join(cells) + f" | {score} |")
    means = "; ".join(f"{r}'s exact class {np.mean(acc_a[r]):.3f}" for r in readers)
    print(f"\nmean over factors: {means}; the classifier's score {np.mean(acc_c):.3f}")

    if fake is None:
        return 0
    a_fake = {name: a_reads(net, fake, num_classes, bins) for name, net in readers.items()}
    _, c_real = attribute_classes(TOONFACES_SCHEMA, C.predict_records(real), bins=bins)
    _, c_fake = attribute_classes(TOONFACES_SCHEMA, C.predict_records(fake), bins=bins)
    print(f"\n## G_ema's samples (n = {args.samples}, seed {args.seed}) against the held-out renders")
    half = args.n // 2
    heads = [f"TV as {r} reads both" for r in readers] + ["TV as the classifier reads both"]
    print("| factor | " + " | ".join(heads) + " | floor: renders, half vs half |")
    print("| --- |" + " ---: |" * (len(heads) + 1))
    rows = []
    for j, (f, k) in enumerate(zip(TOONFACES_SCHEMA, num_classes, strict=True)):
        row = [tv(a_fake[r][0][j], a_real[r][0][j], k) for r in readers]
        row += [tv(c_fake[:, j], c_real[:, j], k), tv(c_real[:half, j], c_real[half:, j], k)]
        rows.append(row)
        print(f"| {f.name} | " + " | ".join(f"{x:.3f}" for x in row) + " |")
    mean = np.mean(rows, axis=0)
    names = list(readers) + ["classifier", "floor"]
    print(
        "\nmean TV: "
        + ", ".join(f"{n} {m:.3f}" for n, m in zip(names, mean, strict=True))
        + " (in A's classes; the realism benchmark bins differently)"
    )
    return 0


def _training_render(data: str | None, ck, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The images (uint8) and A's classes of a run's training render (``data`` or the run's own)."""
    from ganlens.errors import GanlensError
    from ganlens.training.attributes import toonfaces_attribute_targets
    from ganlens.training.data import load_images

    path = data or ck.state.get("train_config", {}).get("data")
    if not path:
        raise GanlensError("--fresh-a needs the training render: the checkpoint names none, so pass --data")
    images = load_images(path, resolution=ck.state["a_config"]["resolution"])
    return images, toonfaces_attribute_targets(path, bins=bins).targets


def _bins_from(A, schema) -> int:
    """The run's bins, from A's class counts (a continuous factor without a condition)."""
    for f, k in zip(schema, A.config.num_classes, strict=True):
        if not f.categorical and f.requires is None:
            return k
    raise ValueError("the schema has no continuous factor")


if __name__ == "__main__":
    sys.exit(main())
