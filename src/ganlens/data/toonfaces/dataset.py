"""Reading ToonFaces: a ``torch.utils.data.Dataset`` over either storage, and fast in-memory loaders."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ganlens.data.toonfaces.schema import Schema, load_schema
from ganlens.data.toonfaces.storage import (
    ATTRIBUTES_FILE,
    CAPTIONS_FILE,
    FORMAT_NAME,
    MODALITY_DIRS,
    SCHEMA_FILE,
    ToonStore,
)
from ganlens.errors import GanlensError
from ganlens.utils.io import atomic_path

MODALITIES = ("image", "attributes", "label", "sketch", "captions")


class ToonFacesDataset(Dataset):
    """A rendered ToonFaces dataset (folder, zip, or a folder holding ``toonfaces.zip``).

    Each item is a dict with the requested modalities:

    * ``"image"``: float (3, H, W) in [-1, 1];
    * ``"label"``: long (H, W) class indices (``self.label_classes``);
    * ``"sketch"``: float (1, H, W) in [0, 1], black lines (0) on white (1);
    * ``"attributes"``: dict factor -> 0-d tensor: long class index (-1 = not applicable) or float
      value normalised to [-1, 1] over the schema range (NaN = not applicable);
    * ``"captions"``: list of str;

    plus ``"index"``. ``transform`` is applied to the whole dict. Batch with
    :func:`collate_toonfaces` (keeps captions as a list of lists).

    Raises:
        GanlensError: unknown modality, or the path is not a ToonFaces dataset.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        modalities: Sequence[str] = MODALITIES,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ):
        bad = [m for m in modalities if m not in MODALITIES]
        if bad or not modalities:
            raise GanlensError(
                f"modalities {list(modalities)!r} not allowed; choose from {', '.join(MODALITIES)}"
            )
        self.store = ToonStore(path)
        self.meta = self.store.read_json(SCHEMA_FILE)
        if self.meta.get("format") != FORMAT_NAME:
            raise GanlensError(
                f"{str(path)!r} is not a ToonFaces dataset (format {self.meta.get('format')!r})"
            )
        self.schema: Schema = load_schema(self.meta)
        self.records = self.store.read_jsonl(ATTRIBUTES_FILE)
        self.captions = (
            [c["captions"] for c in self.store.read_jsonl(CAPTIONS_FILE)]
            if "captions" in modalities
            else None
        )
        self.modalities = tuple(modalities)
        self.transform = transform
        self.label_classes = tuple(self.meta["label_classes"])
        self.size = int(self.meta["size"])
        self._attrs = self.schema.encode(self.records) if "attributes" in modalities else None

    def __len__(self) -> int:
        return len(self.records)

    def _png(self, modality: str, index: int) -> np.ndarray:
        return self.store.read_png(f"{MODALITY_DIRS[modality]}/{self.records[index]['name']}")

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index = index % len(self)
        item: dict[str, Any] = {"index": index}
        if "image" in self.modalities:
            img = torch.from_numpy(self._png("image", index).copy()).permute(2, 0, 1)  # (3, H, W) uint8
            item["image"] = img.float() / 127.5 - 1.0
        if "label" in self.modalities:
            item["label"] = torch.from_numpy(self._png("label", index).astype(np.int64))
        if "sketch" in self.modalities:
            item["sketch"] = torch.from_numpy(self._png("sketch", index).copy()).float().div(255.0)[None]
        if self._attrs is not None:
            item["attributes"] = {k: v[index] for k, v in self._attrs.items()}
        if self.captions is not None:
            item["captions"] = list(self.captions[index])
        return self.transform(item) if self.transform else item


def collate_toonfaces(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch dataset items: tensors stacked, attributes per factor, captions as a list of lists."""
    out: dict[str, Any] = {"index": torch.tensor([it["index"] for it in items])}
    for k in ("image", "label", "sketch"):
        if k in items[0]:
            out[k] = torch.stack([it[k] for it in items])
    if "attributes" in items[0]:
        out["attributes"] = {
            f: torch.stack([it["attributes"][f] for it in items]) for f in items[0]["attributes"]
        }
    if "captions" in items[0]:
        out["captions"] = [it["captions"] for it in items]
    return out


def load_records(path: str | os.PathLike[str]) -> tuple[Schema, list[dict[str, Any]]]:
    """The schema and every attribute record of a dataset."""
    return load_dataset_schema(path), ToonStore(path).read_jsonl(ATTRIBUTES_FILE)


def load_dataset_schema(path: str | os.PathLike[str]) -> Schema:
    """A dataset's factor schema, without reading its records."""
    return load_schema(ToonStore(path).read_json(SCHEMA_FILE))


def load_attributes_tensor(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Every record encoded per factor (see :meth:`Schema.encode`), each of shape (N,)."""
    schema, records = load_records(path)
    return schema.encode(records)


def _cache_path(store: ToonStore, modality: str) -> Path:
    # keyed on the attribute file's digest, so a re-render (other seed, size or n) never reuses it
    digest = hashlib.sha1(store.read_bytes(ATTRIBUTES_FILE)).hexdigest()[:12]
    if store.is_zip:
        return store.path.parent / ".cache" / f"{store.path.stem}_{modality}_u8_{digest}.npy"
    return store.path / ".cache" / f"{modality}_u8_{digest}.npy"


def load_images_tensor(
    path: str | os.PathLike[str],
    *,
    modality: str = "image",
    limit: int | None = None,
    cache: bool = True,
    progress: bool = True,
) -> torch.Tensor:
    """All images of a dataset in memory as uint8: images (N, 3, H, W), labels / sketches (N, H, W).

    The first call decodes the PNGs (about 10 s for 50k at 64 px) and, with ``cache``, saves a
    ``.npy`` beside the data (``.cache/``) that later calls memory-map in well under a second.

    Args:
        limit: only the first ``limit`` images.

    Raises:
        GanlensError: not a dataset, unknown modality.
    """
    if modality not in MODALITY_DIRS:
        raise GanlensError(f"modality {modality!r} not allowed; use one of {', '.join(MODALITY_DIRS)}")
    store = ToonStore(path)
    records = store.read_jsonl(ATTRIBUTES_FILE)
    n = len(records) if limit is None else max(0, min(int(limit), len(records)))
    cpath = _cache_path(store, modality)
    if cache and cpath.is_file():
        arr = np.load(cpath, mmap_mode="r")
        if arr.shape[0] == len(records):
            return _to_tensor(np.array(arr[:n]))
    count = len(records) if cache else n
    first = store.read_png(f"{MODALITY_DIRS[modality]}/{records[0]['name']}")
    arr = np.empty((count, *first.shape), dtype=np.uint8)
    for i in tqdm(range(count), desc=f"loading {modality}s", unit="img", disable=not progress):
        arr[i] = first if i == 0 else store.read_png(f"{MODALITY_DIRS[modality]}/{records[i]['name']}")
    if cache:
        try:
            cpath.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cpath) as tmp, open(tmp, "wb") as fh:
                np.save(fh, arr)
        except OSError:
            pass  # a read-only dataset simply is not cached
    return _to_tensor(arr[:n])


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(arr)
    return t.permute(0, 3, 1, 2).contiguous() if t.ndim == 4 else t
