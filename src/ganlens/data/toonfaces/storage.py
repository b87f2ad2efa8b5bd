"""On-disk layout of a ToonFaces dataset and a reader for both storages (folder or zip).

Layout (the zip holds the same paths)::

    schema.json         format, size, count, base seed, label classes + palette, factor schema
    attributes.jsonl    one record per image: {"index", "seed", "name", <factor>: value, ...}
    captions.jsonl      {"index", "captions": [str, ...]}
    images/NNNNNN.png   RGB
    labels/NNNNNN.png   palette PNG: pixel values are class indices, viewers show the palette
    sketches/NNNNNN.png grayscale, black lines on white
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganlens.errors import GanlensError

FORMAT_NAME = "toonfaces"
FORMAT_VERSION = 1
ZIP_NAME = "toonfaces.zip"
SCHEMA_FILE = "schema.json"
ATTRIBUTES_FILE = "attributes.jsonl"
CAPTIONS_FILE = "captions.jsonl"
MODALITY_DIRS = {"image": "images", "label": "labels", "sketch": "sketches"}


def name_width(n: int) -> int:
    return max(6, len(str(max(n - 1, 0))))


def file_name(index: int, n: int) -> str:
    return f"{index:0{name_width(n)}d}.png"


class ToonStore:
    """Read-only access to a dataset folder or zip by relative path. Safe to use from DataLoader
    workers: the zip handle is (re)opened lazily in each process."""

    def __init__(self, path: str | os.PathLike[str]):
        p = Path(path)
        if p.is_dir() and not (p / SCHEMA_FILE).is_file() and (p / ZIP_NAME).is_file():
            p = p / ZIP_NAME
        if not p.exists():
            raise GanlensError(
                f"dataset {str(path)!r} does not exist; render one with 'ganlens data toonfaces'"
            )
        self.path = p
        self.is_zip = p.is_file()
        if self.is_zip and not zipfile.is_zipfile(p):
            raise GanlensError(f"dataset {str(path)!r} is neither a ToonFaces folder nor a zip file")
        if not self.is_zip and not (p / SCHEMA_FILE).is_file():
            raise GanlensError(
                f"dataset folder {str(path)!r} has no {SCHEMA_FILE}; is it a ToonFaces render?"
            )
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1

    def _zf(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)
            self._pid = os.getpid()
        return self._zip

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["_zip"] = None
        return d

    def read_bytes(self, rel: str) -> bytes:
        try:
            if self.is_zip:
                return self._zf().read(rel)
            return (self.path / rel).read_bytes()
        except (KeyError, OSError) as e:
            raise GanlensError(f"dataset {str(self.path)!r} lacks {rel!r} ({e.__class__.__name__})") from None

    def read_json(self, rel: str) -> Any:
        try:
            return json.loads(self.read_bytes(rel).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise GanlensError(f"{rel!r} in {str(self.path)!r} is not valid JSON: {e}") from None

    def read_jsonl(self, rel: str) -> list[dict[str, Any]]:
        out = []
        for k, line in enumerate(self.read_bytes(rel).decode("utf-8").splitlines()):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise GanlensError(
                        f"line {k + 1} of {rel!r} in {str(self.path)!r} is not JSON: {e}"
                    ) from None
        return out

    def read_png(self, rel: str) -> np.ndarray:
        """Pixels as stored: RGB (H, W, 3), or (H, W) class indices / gray values."""
        try:
            with Image.open(io.BytesIO(self.read_bytes(rel))) as im:
                im.load()
                if im.mode in ("P", "L"):
                    return np.asarray(im)
                return np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise GanlensError(f"{rel!r} in {str(self.path)!r} is not a readable PNG: {e}") from None


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def pack_zip(folder: Path, zip_path: Path, names: list[str]) -> None:
    """Pack the given relative paths of ``folder`` into ``zip_path`` (PNGs stored, JSON deflated)."""
    from ganlens.utils.io import atomic_path

    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for rel in names:
            comp = zipfile.ZIP_STORED if rel.endswith(".png") else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))  # fixed time: same bytes every run
            info.compress_type = comp
            info.external_attr = 0o644 << 16
            zf.writestr(info, (folder / rel).read_bytes())
