"""Preview pictures of a ToonFaces dataset: an image | label map | sketch grid and an HTML page
with the captions and attributes of each sample."""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np

from ganlens.data.toonfaces.dataset import ToonFacesDataset
from ganlens.data.toonfaces.labels import LABEL_CLASSES, LABEL_PALETTE, colorize
from ganlens.errors import GanlensError
from ganlens.utils.io import save_image, write_text


def preview_rows(ds: ToonFacesDataset, indices: list[int], *, zoom: int = 2) -> np.ndarray:
    """(rows*H*zoom, 3*W*zoom, 3) uint8: one row per sample, image | coloured label map | sketch."""
    rows = []
    for i in indices:
        item = ds[i]
        img = ((item["image"].permute(1, 2, 0).numpy() + 1.0) * 127.5 + 0.5).clip(0, 255).astype(np.uint8)
        lab = colorize(item["label"].numpy())
        sk = np.repeat((item["sketch"][0].numpy() * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
        row = np.concatenate([img, lab, sk], axis=1)
        rows.append(row.repeat(zoom, 0).repeat(zoom, 1))
    return np.concatenate(rows, axis=0)


def write_preview(
    dataset: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    n: int = 8,
    columns: int = 2,
    zoom: int = 2,
) -> Path:
    """Write ``preview.png`` (grid) and ``preview.html`` (grid rows with captions) into ``out_dir``.

    Returns:
        the HTML path.
    """
    ds = ToonFacesDataset(dataset, modalities=("image", "label", "sketch", "captions"))
    n = min(n, len(ds))
    if n < 1:
        raise GanlensError(f"preview needs at least one image; dataset {str(dataset)!r} is empty")
    out_dir = Path(out_dir)
    idx = list(range(n))
    per_col = (n + columns - 1) // columns
    cols = [
        preview_rows(ds, idx[c * per_col : (c + 1) * per_col], zoom=zoom)
        for c in range(columns)
        if idx[c * per_col : (c + 1) * per_col]
    ]
    h = max(c.shape[0] for c in cols)
    cols = [np.pad(c, ((0, h - c.shape[0]), (0, 8), (0, 0)), constant_values=255) for c in cols]
    save_image(out_dir / "preview.png", np.concatenate(cols, axis=1))
    (out_dir / "preview").mkdir(exist_ok=True)
    legend = " ".join(
        f'<span style="background:rgb{LABEL_PALETTE[k]};padding:2px 6px;'
        f'color:{"#fff" if sum(LABEL_PALETTE[k]) < 300 else "#000"}">'
        f"{k} {name}</span>"
        for k, name in enumerate(LABEL_CLASSES)
    )
    body = [f"<h1>ToonFaces preview: {html.escape(str(dataset))}</h1><p>label classes: {legend}</p><table>"]
    for i in idx:
        row = preview_rows(ds, [i], zoom=zoom)
        save_image(out_dir / "preview" / f"{i}.png", row)
        rec = {k: v for k, v in ds.records[i].items() if k not in ("index", "seed", "name")}
        attrs = ", ".join(f"{k}={v}" for k, v in rec.items() if v is not None)
        caps = "".join(f"<li>{html.escape(c)}</li>" for c in ds.captions[i])
        body.append(
            f'<tr><td><img src="preview/{i}.png"></td><td><ul>{caps}</ul>'
            f"<small>{html.escape(attrs)}</small></td></tr>"
        )
    body.append("</table>")
    page = "<!doctype html><meta charset=utf-8><title>ToonFaces preview</title>" + "\n".join(body)
    write_text(out_dir / "preview.html", page)
    return out_dir / "preview.html"


def factor_sweep(
    base: dict,
    *,
    size: int = 64,
    seed: int = 0,
    steps: int = 6,
    factors: list[str] | None = None,
    label_width: int = 84,
) -> np.ndarray:
    """A picture of the schema's control: one row per factor, the base face with only that
    factor changed (every class of a categorical factor, ``steps`` even values of a continuous one).

    Returns:
        (rows*size, label_width + steps'*size, 3) uint8, the factor names written at the left.
    """
    from PIL import Image, ImageDraw

    from ganlens.data.toonfaces.render import render_toonface
    from ganlens.data.toonfaces.schema import TOONFACES_SCHEMA

    schema = TOONFACES_SCHEMA
    names = factors or list(schema.names)
    cols = max(steps, max(f.num_classes for f in schema.categorical))
    rows = []
    for name in names:
        f = schema[name]
        values = list(f.classes) if f.categorical else list(np.linspace(f.range[0], f.range[1], steps))
        row = np.full((size, label_width + cols * size, 3), 255, dtype=np.uint8)
        for j, v in enumerate(values):
            rec = dict(base)
            rec[name] = v if f.categorical else round(float(v), 4)
            if name == "hair_style" and rec["hair_color"] is None:
                rec["hair_color"] = "brown"
            if name == "glasses" and rec["eye_color"] is None:
                rec["eye_color"] = "blue"
            for g in schema:  # keep the record valid (conditional factors)
                if not g.applies(rec):
                    rec[g.name] = None
            if all(rec[g.name] is not None or not g.applies(rec) for g in schema):
                img = render_toonface(rec, size=size, seed=seed).image
                row[:, label_width + j * size : label_width + (j + 1) * size] = img
        pil = Image.fromarray(row)
        ImageDraw.Draw(pil).text((4, size // 2 - 6), name, fill=(0, 0, 0))
        rows.append(np.asarray(pil))
    return np.concatenate(rows, axis=0)
