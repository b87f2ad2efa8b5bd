"""The SeFa report: the two official HTML pages plus grids, GIFs, heat maps and an index page.

Layout of the output folder (``prefix = {model}_N{N}_K{K}_L{layers}_seed{seed}``)::

    index.html                      start here: eigenvalue plot, per-direction table, links
    {prefix}_sample_first.html      official page: per semantic, a header row then N sample rows
    {prefix}_semantic_first.html    official page: per sample, a header row then K semantic rows
    eigenvalues.png                 eigenvalue spectrum (top K highlighted)
    grids/direction_XX.png          rows = samples, columns = distances
    gifs/direction_XX.gif           the sweep as an animation (there and back)
    heatmaps/direction_XX.png       where the direction changes the image
    directions.npz / .json          all directions (rename them with ``ganlens sefa-name``)
    codes.npz                       the N sampled codes (``ganlens edit --codes``)
    metrics.json                    per-direction change measurements

Every file is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ganlens.sefa.analysis import Sweep, heatmap_overlay
from ganlens.sefa.directions import Directions
from ganlens.utils.io import write_bytes, write_json, write_text
from ganlens.utils.plots import figure_png, new_figure

# Same look as the official pages: a sortable table with a JS click-to-sort header.
_PAGE_HEAD = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  table {{ border-spacing: 0; border: 1px solid black; }}
  th {{ cursor: pointer; }}
  th, td {{ text-align: left; vertical-align: middle; border-collapse: collapse;
           border: 0.5px solid black; padding: 8px; }}
  tr:nth-child(even) {{ background-color: #d2d2d2; }}
</style>
<script>
let ascending = false;
function sortBy(col) {{
  const body = document.getElementById("tbody");
  const rows = Array.from(body.rows);
  const sign = ascending ? 1 : -1;
  rows.sort((a, b) => sign * (a.cells[col].innerText > b.cells[col].innerText ? 1 : -1));
  rows.forEach(r => body.appendChild(r));
  ascending = !ascending;
}}
</script>
</head>
<body>
<table>
<thead>
<tr>
{headers}</tr>
</thead>
<tbody id="tbody">
"""
_PAGE_FOOT = "</tbody>\n</table>\n</body>\n</html>\n"


def report_prefix(model_id: str, n: int, k: int, layers: str, seed: int) -> str:
    """``{model}_N{N}_K{K}_L{layers}_seed{seed}`` as the official tool names its pages."""
    safe_model = re.sub(r"[^A-Za-z0-9._-]+", "_", str(model_id)) or "model"
    safe_layers = re.sub(r"[^A-Za-z0-9,._-]+", "_", str(layers))
    return f"{safe_model}_N{n}_K{k}_L{safe_layers}_seed{seed}"


def jpeg_data_uri(img: np.ndarray, *, viz_size: int = 256, quality: int = 95) -> str:
    """HWC RGB uint8 → ``<img>`` tag with a base64 JPEG, resized to ``viz_size`` (0 keeps the size)."""
    bgr = np.ascontiguousarray(img[:, :, ::-1]) if img.shape[2] == 3 else img
    if viz_size and bgr.shape[0] != viz_size:
        bgr = cv2.resize(bgr, (viz_size, viz_size))
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV only fails on invalid arrays
        raise RuntimeError("JPEG encoding failed")
    return f'<img src="data:image/jpeg;base64, {base64.b64encode(buf.tobytes()).decode("ascii")}"/>'


def _cell(text: str = "", image: str = "", highlight: bool = False) -> str:
    color = ' bgcolor="#FF8888"' if highlight else ""
    return f"    <td{color}>{text}<br><br>{image}</td>\n" if text else f"    <td{color}>{image}</td>\n"


def official_pages(
    sweep: Sweep, eigenvalues: np.ndarray, *, title: str, viz_size: int = 256
) -> tuple[str, str]:
    """The ``sample_first`` and ``semantic_first`` pages (official layout), as HTML strings."""
    K, N, S = sweep.images.shape[:3]
    headers = "".join(
        f'    <th onclick="sortBy({i})">{h}</th>\n'
        for i, h in enumerate([""] + [f"Distance {d:.2f}" for d in sweep.distances])
    )
    uri = [
        [[jpeg_data_uri(sweep.images[k, n, s], viz_size=viz_size) for s in range(S)] for n in range(N)]
        for k in range(K)
    ]

    def sem_text(k: int) -> str:
        return f"Semantic {int(sweep.indices[k]):03d}<br>({float(eigenvalues[k]):.3f})"

    rows1, rows2 = [], []
    for k in range(K):  # sample_first: per semantic, a header then its samples
        rows1.append("<tr>\n" + _cell(sem_text(k), highlight=True) + _cell() * S + "</tr>\n")
        for n in range(N):
            rows1.append(
                "<tr>\n" + _cell(f"Sample {n:03d}") + "".join(_cell(image=u) for u in uri[k][n]) + "</tr>\n"
            )
    for n in range(N):  # semantic_first: per sample, a header then the semantics
        rows2.append("<tr>\n" + _cell(f"Sample {n:03d}", highlight=True) + _cell() * S + "</tr>\n")
        for k in range(K):
            rows2.append(
                "<tr>\n" + _cell(sem_text(k)) + "".join(_cell(image=u) for u in uri[k][n]) + "</tr>\n"
            )
    head = _PAGE_HEAD.format(title=html.escape(title), headers=headers)
    return head + "".join(rows1) + _PAGE_FOOT, head + "".join(rows2) + _PAGE_FOOT


def grid_image(images: np.ndarray, *, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """(rows, cols, H, W, C) uint8 → one padded grid image (H', W', C)."""
    r, c, h, w, ch = images.shape
    out = np.full((r * (h + pad) + pad, c * (w + pad) + pad, ch), pad_value, dtype=np.uint8)
    for i in range(r):
        for j in range(c):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y : y + h, x : x + w] = images[i, j]
    return out


def png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def gif_bytes(frames: list[np.ndarray], *, duration_ms: int = 120) -> bytes:
    """An endlessly looping GIF of HWC uint8 frames."""
    # One shared palette for all frames, from a single fast quantization of the stacked frames:
    # per-frame median-cut quantization in PIL is ~30x slower and makes colours flicker.
    stack = np.concatenate([f if f.shape[2] == 3 else np.repeat(f, 3, axis=2) for f in frames], axis=0)
    q = Image.fromarray(stack).quantize(
        colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    idx = np.asarray(q)
    h = frames[0].shape[0]
    palette = q.getpalette()
    pil = []
    for i in range(len(frames)):
        fr = Image.fromarray(np.ascontiguousarray(idx[i * h : (i + 1) * h]), mode="P")
        fr.putpalette(palette)
        pil.append(fr)
    buf = io.BytesIO()
    pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def eigenvalue_plot(eigenvalues: np.ndarray, k: int, *, title: str) -> bytes:
    """PNG of the eigenvalue spectrum with the top ``k`` marked."""
    fig, ax = new_figure(figsize=(6, 3.2))
    x = np.arange(len(eigenvalues))
    ax.plot(x, eigenvalues, color="0.5", lw=1, label="all")
    ax.scatter(x[:k], eigenvalues[:k], color="tab:red", zorder=3, s=18, label=f"top {k} (in the report)")
    ax.set_xlabel("direction index")
    ax.set_ylabel("eigenvalue")
    ax.set_title(title, fontsize=10)
    if len(eigenvalues) > 1 and eigenvalues[0] > 0:
        ax.set_yscale("symlog", linthresh=max(float(eigenvalues[0]) * 1e-4, 1e-12))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return figure_png(fig)


@dataclass
class ReportFiles:
    index: Path
    sample_first: Path
    semantic_first: Path
    grids: list[Path]
    gifs: list[Path]
    heatmaps: list[Path]


def write_report(
    out_dir: str | Path,
    sweep: Sweep,
    directions: Directions,
    *,
    prefix: str,
    title: str,
    settings: dict[str, object],
    viz_size: int = 256,
) -> ReportFiles:
    """Write every report file for ``sweep`` into ``out_dir`` (which must already exist).

    Args:
        sweep: from :func:`ganlens.sefa.analysis.render_sweep`.
        directions: the directions the sweep rendered (all of them; ``sweep.indices`` picks).
        prefix: file prefix of the official pages (:func:`report_prefix`).
        settings: shown on the index page (model, layers, seed, ...).
        viz_size: image size inside the two official pages (official default 256).
    """
    out = Path(out_dir)
    K, N, S = sweep.images.shape[:3]
    eig = directions.eigenvalues[sweep.indices]
    page1, page2 = official_pages(sweep, eig, title=title, viz_size=viz_size)
    files = ReportFiles(
        index=out / "index.html",
        sample_first=out / f"{prefix}_sample_first.html",
        semantic_first=out / f"{prefix}_semantic_first.html",
        grids=[],
        gifs=[],
        heatmaps=[],
    )
    write_text(files.sample_first, page1)
    write_text(files.semantic_first, page2)
    vmax_shared = float(sweep.heatmaps.max()) if sweep.heatmaps.size else 0.0
    mean_img = sweep.base.astype(np.float64).mean(0).round().astype(np.uint8)
    for a in range(K):
        k = int(sweep.indices[a])
        grid = grid_image(sweep.images[a])  # rows = samples, columns = distances
        files.grids.append(out / "grids" / f"direction_{k:02d}.png")
        write_bytes(files.grids[-1], png_bytes(grid))
        frames = [grid_image(sweep.images[a, :, s][None]) for s in range(S)]
        files.gifs.append(out / "gifs" / f"direction_{k:02d}.gif")
        write_bytes(files.gifs[-1], gif_bytes(frames + frames[-2:0:-1]))
        files.heatmaps.append(out / "heatmaps" / f"direction_{k:02d}.png")
        write_bytes(
            files.heatmaps[-1], png_bytes(heatmap_overlay(sweep.heatmaps[a], mean_img, vmax=vmax_shared))
        )
    write_bytes(out / "eigenvalues.png", eigenvalue_plot(directions.eigenvalues, K, title=title))
    metrics = {
        "distances": [float(d) for d in sweep.distances],
        "units": "mean |delta pixel| (0-255 scale) per unit distance",
        "directions": [
            {
                "index": int(sweep.indices[a]),
                "name": directions.names[int(sweep.indices[a])],
                "eigenvalue": float(eig[a]),
                "change_per_unit": float(sweep.change[a]),
                "change_per_unit_plus": float(sweep.change_plus[a]),
                "change_per_unit_minus": float(sweep.change_minus[a]),
                "heatmap_peak": float(sweep.heatmaps[a].max()),
            }
            for a in range(K)
        ],
    }
    write_json(out / "metrics.json", metrics)
    write_text(
        files.index,
        _index_html(
            sweep, directions, files, prefix=prefix, title=title, settings=settings, vmax=vmax_shared
        ),
    )
    return files


def _index_html(
    sweep: Sweep,
    directions: Directions,
    files: ReportFiles,
    *,
    prefix: str,
    title: str,
    settings: dict[str, object],
    vmax: float,
) -> str:
    esc = html.escape
    rel = lambda p: esc(Path(p).relative_to(files.index.parent).as_posix())  # noqa: E731
    rows = []
    for a in range(len(sweep.indices)):
        k = int(sweep.indices[a])
        rows.append(
            "<tr>"
            f"<td>{k}</td><td>{esc(directions.names[k])}</td><td>{directions.eigenvalues[k]:.4g}</td>"
            f"<td>{sweep.change[a]:.3f}</td><td>{sweep.change_minus[a]:.3f}</td><td>{sweep.change_plus[a]:.3f}</td>"
            f"<td>{sweep.heatmaps[a].max():.2f}</td>"
            f'<td><img class="heat" src="{rel(files.heatmaps[a])}"></td>'
            f'<td><a href="{rel(files.grids[a])}"><img class="grid" src="{rel(files.grids[a])}"></a></td>'
            f'<td><img class="gif" src="{rel(files.gifs[a])}"></td>'
            "</tr>"
        )
    setting_rows = "".join(
        f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>" for k, v in settings.items()
    )
    d = sweep.distances
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
 body {{ font-family: sans-serif; margin: 1.5em; }}
 table {{ border-collapse: collapse; }}
 th, td {{ border: 1px solid #aaa; padding: 4px 8px; text-align: left; vertical-align: middle; }}
 th.sort {{ cursor: pointer; background: #eee; }}
 img.grid {{ max-width: 480px; }} img.heat {{ width: 128px; image-rendering: pixelated; }}
 img.gif {{ max-width: 360px; }}
</style>
<script>
let asc = {{}};
function sortTable(col) {{
  const body = document.getElementById("dirs");
  const rows = Array.from(body.rows);
  asc[col] = !asc[col];
  rows.sort((a, b) => {{
    const x = a.cells[col].innerText, y = b.cells[col].innerText;
    const nx = parseFloat(x), ny = parseFloat(y);
    const c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
    return asc[col] ? c : -c;
  }});
  rows.forEach(r => body.appendChild(r));
}}
</script></head><body>
<h1>{esc(title)}</h1>
<table>{setting_rows}</table>
<p>Official-style pages (images as base64 JPEG):
<a href="{esc(files.sample_first.name)}">{esc(files.sample_first.name)}</a> ·
<a href="{esc(files.semantic_first.name)}">{esc(files.semantic_first.name)}</a></p>
<h2>Eigenvalues</h2>
<img src="eigenvalues.png">
<h2>Directions</h2>
<p>Grids: rows = samples, columns = distances {d[0]:.2f} … {d[-1]:.2f} ({len(d)} steps).
Change = mean |Δpixel| (0–255) per unit distance over samples and non-zero distances; heat maps show
where it happens (shared colour scale, peak {vmax:.2f}, over the grey mean image). Click a header to sort.
Rename a direction with <code>ganlens sefa-name {esc(str(settings.get("directions file", "directions.npz")))}
--index K --name NAME</code>.</p>
<table>
<thead><tr>{
        "".join(
            f'<th class="sort" onclick="sortTable({i})">{h}</th>'
            for i, h in enumerate(
                [
                    "#",
                    "name",
                    "eigenvalue",
                    "change / unit",
                    "change (−)",
                    "change (+)",
                    "heat peak",
                    "heat map",
                    "grid",
                    "animation",
                ]
            )
        )
    }</tr></thead>
<tbody id="dirs">
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
