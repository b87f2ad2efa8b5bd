"""Saving and loading attribute classifiers (``config.json`` + ``model.safetensors``; no code runs)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ganlens.classifier.model import AttributeClassifier, ClassifierConfig
from ganlens.errors import CheckpointError, GanlensError
from ganlens.generators.native import load_state, save_state
from ganlens.utils.io import write_json

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights" / "toonfaces-classifier"
#: sha256 of the shipped ``model.safetensors`` (checked on load).
SHIPPED_SHA256 = "52565f2360edc5ceac0ed794789bd48ef12dc7d0ba90abac48b5a08989b94cde"


def save_classifier(
    model: AttributeClassifier,
    directory: str | Path,
    *,
    overwrite: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory`` (atomically)."""
    directory = Path(directory)
    if (directory / WEIGHTS_NAME).exists() and not overwrite:
        raise GanlensError(
            f"{str(directory / WEIGHTS_NAME)!r} exists; pass overwrite=True (--overwrite) to replace it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    save_state(model, directory / WEIGHTS_NAME, metadata=metadata)
    write_json(directory / CONFIG_NAME, model.config.to_dict())
    return directory


def load_classifier(
    path: str | Path | None = None, *, device: str | torch.device = "cpu", verify: bool = True
) -> AttributeClassifier:
    """Load an attribute classifier in eval mode.

    Args:
        path: a folder with ``config.json`` + ``model.safetensors``; ``None`` = the shipped weights
            (``ganlens/weights/toonfaces-classifier``), whose sha256 is checked when ``verify``.

    Raises:
        CheckpointError: missing or corrupt files, a sha256 mismatch, weights that do not fit.
    """
    from ganlens.zoo import sha256_file

    shipped = path is None
    directory = SHIPPED_DIR if shipped else Path(path)
    cfg_path, w_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not (cfg_path.is_file() and w_path.is_file()):
        raise CheckpointError(f"classifier folder {str(directory)!r} needs {CONFIG_NAME} and {WEIGHTS_NAME}")
    if shipped and verify:
        digest = sha256_file(w_path)
        if digest != SHIPPED_SHA256:
            raise CheckpointError(
                f"shipped classifier weights {str(w_path)!r} have sha256 {digest[:16]}..., "
                f"expected {SHIPPED_SHA256[:16]}...; reinstall ganlens"
            )
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read {str(cfg_path)!r}: {e}") from None
    if cfg.get("arch") != "toonfaces-classifier":
        raise CheckpointError(f"{str(cfg_path)!r} is for {cfg.get('arch')!r}, not a toonfaces-classifier")
    model = AttributeClassifier(ClassifierConfig.from_dict(cfg))
    load_state(model, w_path)
    return model.to(device).eval()
