"""Labels for conditional training (stylegan2-ada-pytorch's ``--cond``), aligned with the images.

Where they come from, by training data:

* a ToonFaces render (folder or zip): the factors named in ``cond`` (``"hair_style"`` or
  ``"hair_style,glasses"``). A categorical factor becomes a one-hot block, a continuous one a
  column with its value in [-1, 1]; where a factor does not apply (``requires``), the block is 0.
* a folder or zip of images with ``dataset.json`` beside them (``cond="dataset"``), the format of
  ADA's ``dataset_tool.py``: ``{"labels": [["relative/name.png", label], ...]}``, where a label is a
  class index (one-hot, ``c_dim`` = largest index + 1) or a list of numbers (used as they are).
* an ``.npz`` with a ``labels`` array (``cond="dataset"``): (N,) class indices or (N, c_dim) numbers.

:func:`load_labels` returns a float32 (N, c_dim) matrix in the row order (and DDP shard) of
:func:`ganlens.training.data.load_images`, and a name per column.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlens.errors import GanlensError
from ganlens.training.data import folder_images, image_root, is_toonfaces, zip_images

DATASET_JSON = "dataset.json"
FROM_DATASET = "dataset"


def load_labels(path: str | Path, cond: str, *, shard: tuple[int, int] = (0, 1)) -> tuple[Tensor, list[str]]:
    """The labels of the training images at ``path``: (N, c_dim) float32 and the columns' names.

    Args:
        path: the training data, as given to :func:`ganlens.training.data.load_images`.
        cond: ``"dataset"`` (``dataset.json`` or an ``.npz``'s ``labels``) or, for a ToonFaces
            render, comma-separated factor names.
        shard: ``(rank, world_size)``: rows ``rank, rank + world, ...`` as the images.
    Raises:
        GanlensError: no labels there, an unknown factor, labels that do not match the images.
    """
    path = Path(path)
    rank, world = shard
    if is_toonfaces(path):
        labels, names = _toonfaces_labels(path, cond)
    elif cond != FROM_DATASET:
        raise GanlensError(
            f"--cond {cond!r} names ToonFaces factors, but {str(path)!r} is not a ToonFaces render; "
            f"use --cond alone to read the labels of a {DATASET_JSON} or an .npz"
        )
    elif path.is_file() and path.suffix == ".npz":
        labels, names = _npz_labels(path)
    elif path.is_dir() or (path.is_file() and path.suffix == ".zip"):
        labels, names = _dataset_json_labels(path)
    else:
        raise GanlensError(
            f"{str(path)!r} holds no labels; conditional training (--cond) reads a folder or zip with "
            f"{DATASET_JSON}, an .npz with a 'labels' array, or a ToonFaces render"
        )
    if not torch.isfinite(labels).all():
        raise GanlensError(f"the labels of {str(path)!r} contain NaN or infinite values")
    return labels[rank::world].contiguous(), names


def _toonfaces_labels(path: Path, cond: str) -> tuple[Tensor, list[str]]:
    from ganlens.data.toonfaces import load_records

    schema, records = load_records(path)
    if cond == FROM_DATASET:
        raise GanlensError(
            f"{str(path)!r} is a ToonFaces render: name the factors to condition on, e.g. --cond "
            f"hair_style or --cond hair_style,glasses (factors: {', '.join(schema.names)})"
        )
    factors = [n.strip() for n in cond.split(",") if n.strip()]
    if not factors or len(set(factors)) != len(factors):
        raise GanlensError(f"--cond {cond!r} must name distinct factors, e.g. hair_style,glasses")
    encoded = schema.encode(records)
    blocks, names = [], []
    for name in factors:
        f = schema[name]  # a one-line error for an unknown factor
        v = encoded[name]
        if f.categorical:
            one_hot = torch.zeros(len(v), f.num_classes)
            ok = v >= 0
            one_hot[ok] = torch.nn.functional.one_hot(v[ok], f.num_classes).float()
            blocks.append(one_hot)
            names += [f"{name}={c}" for c in f.classes]
        else:
            blocks.append(torch.nan_to_num(v, nan=0.0)[:, None])
            names.append(name)
    return torch.cat(blocks, dim=1), names


def _npz_labels(path: Path) -> tuple[Tensor, list[str]]:
    try:
        with np.load(path) as z:
            if "labels" not in z:
                raise GanlensError(
                    f"{str(path)!r} has no 'labels' array for --cond; keys: {', '.join(z.keys())}"
                )
            labels = np.asarray(z["labels"])
            n = len(z["images"]) if "images" in z else None
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise GanlensError(f"cannot read labels from {str(path)!r}: {e}") from None
    if n is not None and len(labels) != n:
        raise GanlensError(f"{str(path)!r} has {len(labels)} labels for {n} images")
    return _as_matrix(list(labels), str(path))


def _dataset_json_labels(path: Path) -> tuple[Tensor, list[str]]:
    if path.is_dir():
        root = image_root(path)
        names = [f.relative_to(root).as_posix() for f in folder_images(root)]
        meta = root / DATASET_JSON
        if not meta.is_file():
            raise GanlensError(f"{str(root)!r} has no {DATASET_JSON}; conditional training needs its labels")
        text = meta.read_bytes()
    else:
        try:
            with zipfile.ZipFile(path) as zf:
                names = zip_images(zf)
                if DATASET_JSON not in zf.namelist():
                    raise GanlensError(
                        f"zip {str(path)!r} has no {DATASET_JSON}; conditional training needs its labels"
                    )
                text = zf.read(DATASET_JSON)
        except (OSError, zipfile.BadZipFile) as e:
            raise GanlensError(f"cannot read {str(path)!r}: {e}") from None
    try:
        table = json.loads(text)["labels"]
        by_name = {str(k): v for k, v in table}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
        raise GanlensError(
            f'{DATASET_JSON} of {str(path)!r} is malformed; expected {{"labels": [["name.png", label], ...]}}'
        ) from None
    missing = [n for n in names if n not in by_name]
    if missing:
        raise GanlensError(
            f"{len(missing)} of {len(names)} images have no label in {DATASET_JSON}, e.g. {missing[0]!r}"
        )
    return _as_matrix([by_name[n] for n in names], f"{DATASET_JSON} of {str(path)!r}")


def _as_matrix(labels: list, source: str) -> tuple[Tensor, list[str]]:
    """Class indices → one-hot rows; rows of numbers → as they are."""
    if not labels:
        raise GanlensError(f"{source} has no labels")
    try:
        arr = np.asarray(labels, dtype=np.float64)
    except (TypeError, ValueError):
        raise GanlensError(
            f"{source}: labels must be class indices or equally long lists of numbers"
        ) from None
    if arr.ndim == 1:
        if (arr < 0).any() or (arr != np.round(arr)).any():
            raise GanlensError(
                f"{source}: class labels must be integers >= 0; got e.g. {arr[(arr < 0) | (arr != np.round(arr))][0]}"
            )
        idx = torch.from_numpy(arr.astype(np.int64))
        c_dim = int(idx.max()) + 1
        return torch.nn.functional.one_hot(idx, c_dim).float(), [f"class {i}" for i in range(c_dim)]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise GanlensError(f"{source}: labels have shape {arr.shape}; expected (N,) or (N, c_dim)")
    return torch.from_numpy(arr).float(), [f"label {i}" for i in range(arr.shape[1])]
