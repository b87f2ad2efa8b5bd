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

    .venv/bin/python benchmarks/toonfaces_attr_net.py RUN/checkpoints/step-00001513
    .venv/bin/python benchmarks/toonfaces_attr_net.py RUN/checkpoints/step-00001513 --n 2000 --samples 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

#: base seed of the held-out renders (a training render uses seeds from 0)
HELD_OUT_SEED = 10_000_000


def a_classes(A: torch.nn.Module, images: torch.Tensor, num_classes: tuple[int, ...], batch: int = 100):
    """A's class probabilities per factor, (N, K_f) each."""
    with torch.no_grad():
        logits = torch.cat([A(images[i : i + batch]).float() for i in range(0, len(images), batch)])
    return [part.softmax(1) for part in logits.split(num_classes, dim=1)]


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
    p.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = p.parse_args(argv)

    from ganlens.analysis.realism import generate, render_real_records
    from ganlens.classifier import attribute_accuracy, load_classifier
    from ganlens.data.toonfaces import TOONFACES_SCHEMA
    from ganlens.errors import GanlensError, one_line
    from ganlens.generators import build_generator
    from ganlens.training.attributes import attribute_classes, load_attribute_net
    from ganlens.training.checkpoint import load_module, read_checkpoint_state

    torch.set_num_threads(max(1, args.threads))
    try:
        if args.n < 100:
            raise GanlensError(f"--n {args.n} must be at least 100")
        if args.samples < 0:
            raise GanlensError(f"--samples {args.samples} must be >= 0")
        A = load_attribute_net(args.checkpoint)
        ck = read_checkpoint_state(args.checkpoint)
        bins = _bins_from(A, TOONFACES_SCHEMA)
        size = A.config.resolution
        real, records = render_real_records(args.n, size=size, base_seed=HELD_OUT_SEED, progress=False)
        num_classes, targets = attribute_classes(TOONFACES_SCHEMA, records, bins=bins)
        if num_classes != A.config.num_classes:
            raise GanlensError(f"A has classes {A.config.num_classes}; {bins} bins give {num_classes}")
        C = load_classifier(None)
        c_scores = attribute_accuracy(C, real, records)
        a_real = a_classes(A, real, num_classes)
        fake = None
        if args.samples:
            G = build_generator(ck.state["g_config"]).eval()
            load_module(ck.path, "G_ema", G)
            with torch.no_grad():
                fake = generate(G, args.samples, seed=args.seed, batch_size=50, progress=False)
    except GanlensError as e:
        print(f"toonfaces attr-net: error: {one_line(e)}", file=sys.stderr)
        return 2

    encoded = TOONFACES_SCHEMA.encode(records)
    print(
        f"checkpoint: {Path(args.checkpoint)} ({ck.nimg / 1000:.2f} kimg); A: {bins} bins per continuous factor"
    )
    print(f"\n## Held-out renders (n = {args.n}, seeds {HELD_OUT_SEED:,}+)")
    print("| factor | A: exact class | A: within one bin | A: R² of the expected bin centre | classifier |")
    print("| --- | ---: | ---: | ---: | ---: |")
    centres = (torch.arange(bins) + 0.5) / bins * 2 - 1
    acc_a, acc_c = [], []
    for j, f in enumerate(TOONFACES_SCHEMA):
        probs, t = a_real[j], targets[:, j]
        exact = float((probs.argmax(1) == t).float().mean())
        acc_a.append(exact)
        acc_c.append(c_scores[f.name])
        if f.categorical:
            print(f"| {f.name} | {exact:.3f} | — | — | acc {c_scores[f.name]:.3f} |")
            continue
        v = encoded[f.name]
        ok = ~v.isnan()
        near = float(((probs.argmax(1) - t).abs() <= 1).float().mean())
        ev = (probs[:, :bins] * centres).sum(1) / probs[:, :bins].sum(1).clamp_min(1e-6)
        r2 = 1 - float(((ev - v)[ok] ** 2).mean() / v[ok].var())
        print(f"| {f.name} | {exact:.3f} | {near:.3f} | {r2:.3f} | R² {c_scores[f.name]:.3f} |")
    print(
        f"\nmean over factors: A's exact class {np.mean(acc_a):.3f}; the classifier's score {np.mean(acc_c):.3f}"
    )

    if fake is None:
        return 0
    a_fake = a_classes(A, fake, num_classes)
    _, c_real = attribute_classes(TOONFACES_SCHEMA, C.predict_records(real), bins=bins)
    _, c_fake = attribute_classes(TOONFACES_SCHEMA, C.predict_records(fake), bins=bins)
    print(f"\n## G_ema's samples (n = {args.samples}, seed {args.seed}) against the held-out renders")
    half = args.n // 2
    print("| factor | TV as A reads both | TV as the classifier reads both | floor: renders, half vs half |")
    print("| --- | ---: | ---: | ---: |")
    rows = []
    for j, (f, k) in enumerate(zip(TOONFACES_SCHEMA, num_classes, strict=True)):
        ta = tv(a_fake[j].argmax(1), a_real[j].argmax(1), k)
        tc = tv(c_fake[:, j], c_real[:, j], k)
        floor = tv(c_real[:half, j], c_real[half:, j], k)
        rows.append((ta, tc, floor))
        print(f"| {f.name} | {ta:.3f} | {tc:.3f} | {floor:.3f} |")
    ta, tc, floor = np.mean(rows, axis=0)
    print(
        f"\nmean TV: A {ta:.3f}, classifier {tc:.3f}, floor {floor:.3f} (in A's classes; the realism "
        "benchmark bins differently)"
    )
    return 0


def _bins_from(A, schema) -> int:
    """The run's bins, from A's class counts (a continuous factor without a condition)."""
    for f, k in zip(schema, A.config.num_classes, strict=True):
        if not f.categorical and f.requires is None:
            return k
    raise ValueError("the schema has no continuous factor")


if __name__ == "__main__":
    sys.exit(main())
