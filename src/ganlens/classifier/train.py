"""Training the attribute classifier on a ToonFaces render: checkpoints, resume, evaluation."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ganlens.classifier.io import CONFIG_NAME, WEIGHTS_NAME, save_classifier
from ganlens.classifier.metrics import attribute_scores
from ganlens.classifier.model import AttributeClassifier, ClassifierConfig
from ganlens.data.toonfaces.dataset import load_attributes_tensor, load_images_tensor, load_records
from ganlens.errors import GanlensError
from ganlens.utils.bf16 import warn_if_bf16_slow
from ganlens.utils.io import atomic_path, prepare_out_dir, write_json, write_text

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
PLOT = "loss.png"


@dataclass
class ClassifierTrainSummary:
    """Result of :func:`train_classifier`.

    Attributes:
        out: output folder (``config.json`` + ``model.safetensors`` + ``metrics.json`` + ``log.jsonl``).
        steps: total optimisation steps done; ``resumed_from``: step loaded from a checkpoint (0 = fresh).
        losses: (step, total loss) every ``log_every`` steps of this run.
        scores: per-factor held-out scores (see ``attribute_scores``); empty with ``evaluate=False``.
        seconds: wall time of this run.
    """

    out: Path
    steps: int
    resumed_from: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


def classifier_loss(
    model: AttributeClassifier,
    outputs: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    *,
    regression_weight: float = 4.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of per-factor losses: cross-entropy (categorical; index -1 ignored) and
    ``regression_weight`` × MSE on normalised values (continuous; NaN ignored)."""
    total = outputs[model.schema.factors[0].name].new_zeros(())
    parts: dict[str, float] = {}
    for f in model.schema:
        y = outputs[f.name]
        t = targets[f.name].to(y.device)
        if f.categorical:
            m = t >= 0
            loss = F.cross_entropy(y[m], t[m]) if m.any() else y.sum() * 0
        else:
            m = ~torch.isnan(t)
            loss = regression_weight * F.mse_loss(y[m], t[m]) if m.any() else y.sum() * 0
        parts[f.name] = float(loss.detach())
        total = total + loss
    return total, parts


def _lr_at(step: int, total: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def train_classifier(
    data: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    steps: int = 8000,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    val: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.02,
    limit: int | None = None,
    config: ClassifierConfig | None = None,
    arch: dict[str, Any] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    checkpoint_every: int = 500,
    log_every: int = 50,
    resume: bool = False,
    overwrite: bool = False,
    evaluate: bool = True,
    progress: bool = True,
    bf16: bool = False,
) -> ClassifierTrainSummary:
    """Train an :class:`AttributeClassifier` on a ToonFaces dataset.

    Args:
        data: dataset folder or zip (``ganlens data toonfaces``).
        out: output folder; holds ``checkpoint.pt`` (every ``checkpoint_every`` steps), the final
            ``config.json`` + ``model.safetensors``, ``metrics.json``, ``log.jsonl`` and ``loss.png``
            (per-factor losses, redrawn at every checkpoint).
        steps: total optimisation steps (a resumed run continues up to this number).
        val: a separately rendered held-out dataset; otherwise the last ``val_fraction`` of ``data``
            is held out (never trained on).
        limit: use only the first ``limit`` images of ``data``.
        config: the architecture (default: ``ClassifierConfig`` at the data's resolution, with the
            fields in ``arch`` replaced, e.g. ``{"stem_stride": 1, "channels": (32, 64, 128, 192, 192)}``).
        resume: continue from ``out/checkpoint.pt``; ``overwrite``: start afresh in a non-empty ``out``.
        bf16: run forward and backward under bfloat16 autocast (weights and optimiser stay float32);
            about 3x faster on CPUs with bf16 support.

    Raises:
        GanlensError: bad arguments or data; a non-empty ``out`` without ``resume``/``overwrite``.
    """
    if steps < 1 or batch_size < 1 or lr <= 0:
        raise GanlensError(f"steps {steps!r}, batch size {batch_size!r} and lr {lr!r} must be positive")
    if not 0.0 <= val_fraction < 0.5:
        raise GanlensError(f"val_fraction {val_fraction!r} must be in [0, 0.5)")
    t_start = time.perf_counter()
    device = torch.device(device)
    images = load_images_tensor(data, limit=limit, progress=progress)  # (N, 3, H, W) uint8
    out = prepare_out_dir(out, overwrite=overwrite, resume=resume)
    targets = {k: v[: images.shape[0]] for k, v in load_attributes_tensor(data).items()}
    n_all = images.shape[0]
    if val is None:
        n_val = max(1, int(round(n_all * val_fraction))) if evaluate else 0
        n_train = n_all - n_val
        val_images, val_targets = images[n_train:], {k: v[n_train:] for k, v in targets.items()}
    else:
        n_train = n_all
        val_images = load_images_tensor(val, progress=progress)
        val_targets = load_attributes_tensor(val)
    if n_train < 2:
        raise GanlensError(f"dataset {str(data)!r} has {n_all} images; need at least 2 to train on")

    schema, _ = load_records(data)
    if config is None:
        config = ClassifierConfig(
            resolution=max(16, 1 << (images.shape[-1] - 1).bit_length()),
            schema=schema.to_dict(),
            **(arch or {}),
        )
    elif arch:
        raise GanlensError("pass either config or arch, not both")
    torch.manual_seed(seed)
    model = AttributeClassifier(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    start = 0
    ckpt_path = out / CHECKPOINT
    if resume and ckpt_path.is_file():
        try:
            ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
            if ck["config"] != json.loads(json.dumps(config.to_dict())):
                raise GanlensError(f"checkpoint {str(ckpt_path)!r} is for another classifier config")
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            gen.set_state(ck["gen"])
            start = int(ck["step"])
        except (RuntimeError, KeyError, EOFError) as e:
            raise GanlensError(f"cannot resume from {str(ckpt_path)!r}: {e}") from None

    def save_checkpoint(step: int) -> None:
        state = {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "gen": gen.get_state(),
            "step": step,
            "config": json.loads(json.dumps(config.to_dict())),
        }
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)

    losses: list[tuple[int, float]] = []
    plot_window = max(log_every, min(250, steps // 10))
    warmup = min(200, steps // 10 + 1)
    warn_if_bf16_slow(device, enabled=bf16)
    model.train()
    bar = tqdm(
        range(start, steps), desc="classifier", unit="step", disable=not progress, initial=start, total=steps
    )
    run_loss = None
    log_lines: list[str] = []
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, steps, lr, warmup)
        idx = torch.randint(0, n_train, (batch_size,), generator=gen)
        x = images[idx].to(device).float().div_(127.5).sub_(1.0)  # (B, 3, H, W) in [-1, 1]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out_ = model(x)
        out_ = {k: v.float() for k, v in out_.items()}
        loss, parts = classifier_loss(model, out_, {k: v[idx] for k, v in targets.items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        v = float(loss.detach())
        run_loss = v if run_loss is None else 0.95 * run_loss + 0.05 * v
        bar.set_postfix(loss=f"{run_loss:.3f}")
        if (step + 1) % log_every == 0 or step == start:
            losses.append((step + 1, v))
            log_lines.append(
                json.dumps(
                    {
                        "step": step + 1,
                        "loss": v,
                        "smoothed": run_loss,
                        "lr": opt.param_groups[0]["lr"],
                        "parts": parts,
                    }
                )
                + "\n"
            )
        if (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            save_checkpoint(step + 1)
            _append_log(out / LOG, log_lines)
            log_lines = []
            plot_training_log(out / LOG, out / PLOT, window=plot_window)
    bar.close()
    _append_log(out / LOG, log_lines)
    if (out / LOG).is_file():
        plot_training_log(out / LOG, out / PLOT, window=plot_window)
    save_checkpoint(steps)

    scores: dict[str, dict[str, Any]] = {}
    if evaluate and val_images.shape[0] > 0:
        scores = attribute_scores(model, val_images, val_targets)
        write_json(out / "metrics.json", {"held_out": int(val_images.shape[0]), "scores": scores})
    save_classifier(model, out, overwrite=True, metadata={"steps": str(steps), "data": str(data)})
    return ClassifierTrainSummary(
        out=out,
        steps=steps,
        resumed_from=start,
        losses=losses,
        scores=scores,
        seconds=time.perf_counter() - t_start,
    )


def plot_training_log(
    log: str | os.PathLike[str],
    out_png: str | os.PathLike[str],
    *,
    factors: list[str] | None = None,
    top: int = 8,
    window: int = 250,
    title: str = "",
) -> list[str]:
    """Plot per-factor training losses from a run's ``log.jsonl`` (window means, log scale).

    ``factors`` default to the ``top`` factors with the highest loss in the last window (the ones
    still being learnt). Returns the factors drawn.
    """
    from ganlens.utils.plots import new_figure, save_figure

    rows = [json.loads(line) for line in Path(log).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("parts")]
    if not rows:
        raise GanlensError(f"{str(log)!r} has no per-factor losses to plot")
    bins: dict[int, list[dict[str, float]]] = {}
    for r in rows:
        bins.setdefault((r["step"] - 1) // window, []).append(r["parts"])
    steps = [(b + 1) * window for b in sorted(bins)]
    names = list(rows[-1]["parts"])
    means = {n: [sum(p[n] for p in bins[b]) / len(bins[b]) for b in sorted(bins)] for n in names}
    if factors is None:
        factors = sorted(names, key=lambda n: -means[n][-1])[:top]
    unknown = [f for f in factors if f not in means]
    if unknown:
        raise GanlensError(f"factors {unknown} are not in {str(log)!r}; allowed: {', '.join(names)}")
    fig, ax = new_figure(figsize=(6.4, 3.2))
    for n in factors:
        ax.plot(steps, [max(v, 1e-6) for v in means[n]], label=n, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"training loss ({window}-step mean)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title or "per-factor training loss", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=80)
    return factors


def _append_log(path: Path, lines: list[str]) -> None:
    if not lines:
        return
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_text(path, old + "".join(lines))


def scores_table(scores: dict[str, dict[str, Any]], *, acc_bar: float = 0.95, r2_bar: float = 0.9) -> str:
    """A Markdown table of per-factor scores with a pass mark against the bars."""
    rows = ["| factor | kind | metric | value | n | bar | pass |", "|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        bar = acc_bar if s["metric"] == "accuracy" else r2_bar
        ok = s["value"] >= bar
        rows.append(
            f"| {name} | {s['kind']} | {s['metric']} | {s['value']:.4f} | {s['n']} | {bar} "
            f"| {'yes' if ok else 'NO'} |"
        )
    return "\n".join(rows)


__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "ClassifierTrainSummary",
    "classifier_loss",
    "plot_training_log",
    "scores_table",
    "train_classifier",
]
