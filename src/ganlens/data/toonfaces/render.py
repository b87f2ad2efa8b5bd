"""Procedural cartoon-face renderer: one attribute record -> image, label map and sketch.

Everything is drawn as polygons and thick poly-lines in *head units* (the face outline spans
x in [-w, w], y in [-1.25, 1.25], y pointing down), warped for the head turn (yaw: points shift
sideways in proportion to their depth on a rounded head) and mapped to pixels by one affine
transform (scale, roll, offset). The same shapes are drawn into an RGB canvas and a part-id
canvas at ``supersample``× the output size; the image is box-filtered down (anti-aliasing), the
label map takes each block's majority class, and the sketch is the box-filtered part edges, so
all three are aligned by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ganlens.data.toonfaces.labels import NUM_LABEL_CLASSES, PART_ID, PART_TO_CLASS
from ganlens.errors import GanlensError

Point = tuple[float, float]

HAIR_RGB = {
    "black": (35, 30, 32),
    "brown": (112, 66, 32),
    "blonde": (236, 200, 108),
    "red": (196, 72, 30),
    "gray": (165, 165, 170),
    "blue": (52, 92, 214),
}
EYE_RGB = {"brown": (104, 58, 22), "blue": (40, 120, 235), "green": (30, 165, 60)}
BACKGROUND_RGB = {
    "white": (246, 246, 246),
    "blue": (150, 192, 236),
    "green": (160, 216, 160),
    "yellow": (246, 226, 140),
    "pink": (246, 182, 202),
    "purple": (192, 166, 228),
}
SKIN_ANCHORS = np.array(
    [(255, 226, 198), (241, 194, 150), (200, 136, 88), (142, 88, 56), (92, 58, 40)], dtype=np.float64
)
HAT_RGB = ((200, 40, 40), (40, 60, 160), (36, 130, 70), (225, 150, 20), (80, 80, 88), (120, 40, 140))
FRAME_RGB = ((20, 20, 20), (120, 62, 22), (140, 140, 150), (160, 30, 30))
EARRING_RGB = (242, 192, 40)
LIP_RGB = (150, 40, 52)
MOUTH_RGB = (90, 20, 32)

# Sketch: which part edges are drawn. Edges between different label classes always are; inside a
# class only these pairs (irises, teeth, a beanie's band) are, so every line is a part boundary.
_SKETCH_INNER_PARTS = ("iris", "teeth", "hat_band")


@dataclass
class ToonRender:
    """One rendered face.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        label: (H, W) uint8 class indices (see ``LABEL_CLASSES``).
        sketch: (H, W) uint8, black (0) lines on white (255).
    """

    image: np.ndarray
    label: np.ndarray
    sketch: np.ndarray


def skin_rgb(tone: float) -> tuple[int, int, int]:
    """Skin colour for a tone in [0, 1] (light to dark), interpolated between anchors."""
    t = float(np.clip(tone, 0.0, 1.0)) * (len(SKIN_ANCHORS) - 1)
    i = min(int(t), len(SKIN_ANCHORS) - 2)
    c = SKIN_ANCHORS[i] * (1 - (t - i)) + SKIN_ANCHORS[i + 1] * (t - i)
    return tuple(int(round(v)) for v in c)


def _shade(rgb, f: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(round(v * f), 0, 255)) for v in rgb)


def _jitter(rgb, rng: np.random.Generator, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in rgb)


def ellipse_pts(
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    *,
    n: int = 40,
    a0: float = 0.0,
    a1: float = 360.0,
    power: float = 2.0,
) -> list[Point]:
    """Points on a (super)ellipse from angle a0 to a1 degrees (0 = +x, 90 = +y i.e. down)."""
    pts = []
    for t in np.linspace(math.radians(a0), math.radians(a1), n, endpoint=(a1 - a0) < 360):
        c, s = math.cos(t), math.sin(t)
        e = 2.0 / power
        pts.append((cx + rx * math.copysign(abs(c) ** e, c), cy + ry * math.copysign(abs(s) ** e, s)))
    return pts


class _Canvas:
    """Draws head-unit shapes into an RGB canvas and a part-id canvas at once."""

    def __init__(self, size: int, ss: int, bg, rec: dict[str, Any], width: float):
        self.n = size * ss
        self.rgb = Image.new("RGB", (self.n, self.n), bg)
        self.part = Image.new("L", (self.n, self.n), PART_ID["background"])
        self.d_rgb = ImageDraw.Draw(self.rgb)
        self.d_part = ImageDraw.Draw(self.part)
        self.w = width
        self.unit = 0.29 * self.n * rec["scale"]  # pixels per head unit
        a = math.radians(rec["roll"])
        self.cos, self.sin = math.cos(a), math.sin(a)
        self.cx = self.n * (0.5 + rec["offset_x"])
        self.cy = self.n * (0.54 + rec["offset_y"])
        self.yaw = rec["yaw"]

    def tf(self, pts: list[Point], lift: float = 0.0) -> list[Point]:
        out = []
        for x, y in pts:
            depth = math.sqrt(max(0.0, 1.0 - (x / (1.2 * self.w)) ** 2)) + lift
            x = x + 0.24 * self.yaw * depth
            px, py = x * self.unit, y * self.unit
            out.append((self.cx + self.cos * px - self.sin * py, self.cy + self.sin * px + self.cos * py))
        return out

    def poly(self, pts: list[Point], rgb, part: str, *, lift: float = 0.0) -> None:
        p = self.tf(pts, lift)
        self.d_rgb.polygon(p, fill=tuple(rgb))
        self.d_part.polygon(p, fill=PART_ID[part])

    def line(
        self, pts: list[Point], width: float, rgb, part: str, *, lift: float = 0.0, closed: bool = False
    ) -> None:
        p = self.tf(pts, lift)
        if closed:
            p = p + p[:1]
        w = max(1, int(round(width * self.unit)))
        self.d_rgb.line(p, fill=tuple(rgb), width=w, joint="curve")
        self.d_part.line(p, fill=PART_ID[part], width=w, joint="curve")
        # round caps so thick lines end cleanly (thin lines need none)
        r = w / 2.0
        for x, y in (p[0], p[-1]) if w >= 3 else ():
            box = (x - r + 0.5, y - r + 0.5, x + r - 0.5, y + r - 0.5)
            self.d_rgb.ellipse(box, fill=tuple(rgb))
            self.d_part.ellipse(box, fill=PART_ID[part])


def _face_outline(shape: str, w: float, n: int = 64) -> list[Point]:
    if shape == "square":
        pts = ellipse_pts(0, 0, 1.0, 1.22, n=n, power=3.6)
    else:
        pts = ellipse_pts(0, 0, 1.0, 1.25, n=n)
    if shape == "heart":
        pts = [
            (x * (1 - 0.5 * (y / 1.25)) if y > 0 else x * (1 + 0.06 * math.sin(math.pi * -y / 1.25)), y)
            for x, y in pts
        ]
    return [(x * w, y) for x, y in pts]


def _hair_top(c: _Canvas, style: str, rgb, w: float) -> None:
    """Hair on top of the forehead (drawn over the face)."""
    outer = ellipse_pts(0, -0.08, 1.1 * w, 1.38, n=40, a0=188, a1=352)  # from left temple over the top
    if style == "bangs":
        inner = [(0.93 * w, -0.2), (0.86 * w, -0.52)]
        k = 9
        xs = np.linspace(0.86 * w, -0.86 * w, 2 * k + 1)
        inner += [(float(x), -0.5 if i % 2 == 0 else -0.6) for i, x in enumerate(xs)]
        inner += [(-0.86 * w, -0.52), (-0.93 * w, -0.2)]
    else:
        inner = [(0.94 * w, -0.28), (0.84 * w, -0.7)]
        inner += ellipse_pts(0, -0.28, 0.8 * w, 0.52, n=16, a0=340, a1=200)
        inner += [(-0.84 * w, -0.7), (-0.94 * w, -0.28)]
    c.poly(outer + inner, rgb, "hair")
    if style == "curly":
        for x, y in ellipse_pts(0, -0.08, 1.1 * w, 1.38, n=14, a0=180, a1=360):
            c.poly(ellipse_pts(x, y, 0.2, 0.2, n=14), rgb, "hair")
        for x, y in ellipse_pts(0, -0.28, 0.82 * w, 0.5, n=9, a0=200, a1=340):
            c.poly(ellipse_pts(x, y, 0.13, 0.13, n=12), rgb, "hair")


def _hair_back(c: _Canvas, style: str, rgb, w: float) -> None:
    """Hair behind the head (long panels, curly volume)."""
    if style == "long":
        top = ellipse_pts(0, -0.08, 1.12 * w, 1.4, n=30, a0=180, a1=360)
        pts = [(-1.28 * w, 1.55)] + top + [(1.28 * w, 1.55), (0.0, 1.45)]
        c.poly(pts, rgb, "hair", lift=-0.5)
    elif style == "curly":
        blob = ellipse_pts(0, -0.15, 1.28 * w, 1.3, n=36, a0=150, a1=390)
        c.poly(blob, rgb, "hair", lift=-0.5)
        for x, y in ellipse_pts(0, -0.15, 1.28 * w, 1.3, n=18, a0=150, a1=390):
            c.poly(ellipse_pts(x, y, 0.22, 0.22, n=14), rgb, "hair", lift=-0.5)


def _eye(c: _Canvas, ex_c: float, rec, size_t: float, iris_rgb) -> tuple[float, float]:
    ex = 0.15 + 0.1 * size_t
    ey = 0.72 * ex
    c.poly(ellipse_pts(ex_c, 0.0, ex, ey, n=28), (250, 250, 250), "eye_white", lift=0.05)
    ri = 0.9 * ey
    c.poly(ellipse_pts(ex_c, 0.0, ri, ri, n=20), iris_rgb, "iris", lift=0.1)
    c.poly(ellipse_pts(ex_c, 0.0, 0.38 * ri, 0.38 * ri, n=12), (10, 10, 10), "pupil", lift=0.1)
    return ex, ey


def _brow(c: _Canvas, ex_c: float, ex: float, ey: float, shape: str, rgb, side: int) -> None:
    # side: -1 for the left eye on screen, +1 for the right; "inner" end points to the nose
    y0 = -ey - 0.17
    outer, inner = ex_c + side * (ex + 0.04), ex_c - side * (ex + 0.02)
    if shape == "straight":
        pts = [(outer, y0), (inner, y0)]
    elif shape == "arched":
        pts = [
            (outer + (inner - outer) * t, y0 + 0.02 - 0.16 * math.sin(math.pi * t))
            for t in np.linspace(0, 1, 9)
        ]
    else:  # slanted: high at the outer end, low at the inner end
        pts = [(outer, y0 - 0.08), (inner, y0 + 0.08)]
    c.line(pts, 0.085, rgb, "brow", lift=0.1)


def _mouth(c: _Canvas, smile: float, is_open: bool) -> None:
    y0, mw = 0.66, 0.32
    xs = np.linspace(-mw, mw, 15)

    def curve(x: float) -> float:
        return y0 - smile * 0.14 * ((x / mw) ** 2 - 0.5)

    upper = [(float(x), curve(x)) for x in xs]
    if is_open:
        lower = [(float(x), curve(x) + 0.24 * (1 - (x / mw) ** 2)) for x in xs[::-1]]
        c.poly(upper + lower, MOUTH_RGB, "mouth", lift=0.1)
        xt = xs[2:-2]
        teeth = [(float(x), curve(x)) for x in xt] + [
            (float(x), curve(x) + 0.07 * (1 - (x / mw) ** 2) + 0.02) for x in xt[::-1]
        ]
        c.poly(teeth, (252, 252, 246), "teeth", lift=0.1)
        c.line(upper, 0.05, LIP_RGB, "mouth", lift=0.1)
        c.line(lower, 0.05, LIP_RGB, "mouth", lift=0.1)
    else:
        c.line(upper, 0.075, LIP_RGB, "mouth", lift=0.1)


def _glasses(c: _Canvas, kind: str, w: float, ex: float, frame_rgb) -> None:
    lr = ex + 0.07
    centers = (-0.4 * w, 0.4 * w)
    for cx in centers:
        if kind == "round":
            ring = ellipse_pts(cx, 0.0, lr, lr, n=28)
        elif kind == "square":
            ring = ellipse_pts(cx, 0.0, lr, 0.8 * lr, n=32, power=5)
        else:
            ring = ellipse_pts(cx, 0.02, 1.08 * lr, 0.86 * lr, n=32, power=3)
            c.poly(ring, (28, 28, 36), "glasses_lens", lift=0.15)
        c.line(ring, 0.055, frame_rgb, "glasses_frame", lift=0.15, closed=True)
    inner = centers[1] - lr
    c.line([(-inner, -0.03), (0.0, -0.07), (inner, -0.03)], 0.05, frame_rgb, "glasses_frame", lift=0.15)


def _hat(c: _Canvas, kind: str, w: float, rgb) -> None:
    if kind == "cap":
        crown = ellipse_pts(0, -0.78, 1.1 * w, 0.74, n=36, a0=180, a1=360)
        c.poly(crown, rgb, "hat")
        # the visor sticks out to the right, as a three-quarter view of a baseball cap
        brim = ellipse_pts(0.55 * w, -0.8, 1.0 * w, 0.2, n=30, a0=0, a1=180)
        c.poly([(1.55 * w, -0.82)] + brim + [(-0.45 * w, -0.82)], _shade(rgb, 0.65), "hat")
        c.poly(ellipse_pts(0, -1.5, 0.09, 0.06, n=10), _shade(rgb, 0.7), "hat")
    else:
        dome = ellipse_pts(0, -0.76, 1.12 * w, 0.8, n=36, a0=180, a1=360)
        c.poly(dome, rgb, "hat")
        band = ellipse_pts(0, -0.86, 1.14 * w, 0.06, n=16, a0=180, a1=360)
        band += ellipse_pts(0, -0.66, 1.14 * w, 0.06, n=16, a0=0, a1=180)
        c.poly(band, _shade(rgb, 1.3), "hat_band")
        c.poly(ellipse_pts(0, -1.55, 0.17, 0.17, n=16), _shade(rgb, 1.3), "hat_band")


def _beard(c: _Canvas, w: float, outline: list[Point], rgb, full: bool) -> None:
    if full:
        jaw = [(x * 1.05, y * 1.06 + 0.04) for x, y in outline if y > 0.04]
        jaw.sort(key=lambda p: -math.atan2(p[1], p[0]))  # right jaw -> chin -> left jaw
        inner = [(-0.86 * w, 0.06), (-0.48, 0.46), (-0.2, 0.46), (0.2, 0.46), (0.48, 0.46), (0.86 * w, 0.06)]
        c.poly(jaw[::-1] + inner[::-1], rgb, "beard")
    xs = np.linspace(-0.38, 0.38, 13)
    top = [(float(x), 0.46 + 0.05 * (x / 0.38) ** 2) for x in xs]
    bottom = [(float(x), 0.58 + 0.03 * (x / 0.38) ** 2 - 0.02) for x in xs[::-1]]
    c.poly(top + bottom, rgb, "beard", lift=0.15)


def render_toonface(
    rec: dict[str, Any], *, size: int = 64, seed: int = 0, supersample: int = 4
) -> ToonRender:
    """Render one face.

    Args:
        rec: an attribute record following ``TOONFACES_SCHEMA`` (see ``sample_attributes``).
        size: output width = height in pixels (16 to 1024).
        seed: seeds the nuisance details (exact hair/hat/frame shades) so output is a pure
            function of ``(rec, size, seed, supersample)``.
        supersample: drawing resolution factor; the image is box-filtered down from it.

    Raises:
        GanlensError: size or supersample out of range.
    """
    if not (isinstance(size, int) and 16 <= size <= 1024):
        raise GanlensError(f"size {size!r} is not allowed; use an integer from 16 to 1024")
    if supersample not in (1, 2, 3, 4, 6, 8):
        raise GanlensError(f"supersample {supersample!r} is not allowed; use 1, 2, 3, 4, 6 or 8")
    rng = np.random.default_rng([int(seed), 7])
    ss = supersample
    w = 0.86 + 0.3 * rec["face_width"]
    skin = skin_rgb(rec["skin_tone"])
    hair_name = rec["hair_color"] or list(HAIR_RGB)[int(rng.integers(len(HAIR_RGB)))]
    hair = _jitter(HAIR_RGB[hair_name], rng, 8)
    iris = EYE_RGB[rec["eye_color"] or list(EYE_RGB)[int(rng.integers(len(EYE_RGB)))]]
    hat_rgb = HAT_RGB[int(rng.integers(len(HAT_RGB)))]
    frame_rgb = (
        FRAME_RGB[int(rng.integers(len(FRAME_RGB)))] if rec["glasses"] != "sunglasses" else (15, 15, 15)
    )
    c = _Canvas(size, ss, BACKGROUND_RGB[rec["background"]], rec, w)

    c.poly(
        [(-0.42 * w, 0.6), (0.42 * w, 0.6), (0.5 * w, 4.0), (-0.5 * w, 4.0)],
        _shade(skin, 0.88),
        "neck",
        lift=-0.3,
    )
    _hair_back(c, rec["hair_style"], hair, w)
    for side in (-1, 1):
        c.poly(ellipse_pts(side * 0.98 * w, 0.06, 0.17, 0.27, n=20), _shade(skin, 0.95), "ear", lift=-0.8)
    outline = _face_outline(rec["face_shape"], w)
    c.poly(outline, skin, "face")
    if rec["facial_hair"] != "none":
        _beard(c, w, outline, _shade(hair, 0.9), full=rec["facial_hair"] == "beard")
    c.poly(
        [(0.0, 0.06), (0.11, 0.33), (0.06, 0.38), (-0.06, 0.38), (-0.11, 0.33)],
        _shade(skin, 0.8),
        "nose",
        lift=0.35,
    )
    _mouth(c, rec["smile"], rec["mouth_open"] == "open")
    brow_rgb = _shade(hair, 0.6) if rec["hair_color"] != "gray" else _shade(hair, 0.75)
    for side in (-1, 1):
        ex, ey = _eye(c, side * 0.4 * w, rec, rec["eye_size"], iris)
        _brow(c, side * 0.4 * w, ex, ey, rec["brow_shape"], brow_rgb, side)
    if rec["hair_style"] != "bald":
        _hair_top(c, rec["hair_style"], hair, w)
    if rec["glasses"] != "none":
        _glasses(c, rec["glasses"], w, 0.15 + 0.1 * rec["eye_size"], frame_rgb)
    if rec["hat"] != "none":
        _hat(c, rec["hat"], w, hat_rgb)
    if rec["earrings"] == "yes":
        for side in (-1, 1):
            c.poly(ellipse_pts(side * 1.0 * w, 0.34, 0.08, 0.08, n=14), EARRING_RGB, "earring", lift=-0.8)

    image = np.asarray(c.rgb.reduce(ss) if ss > 1 else c.rgb)
    parts = np.asarray(c.part)
    return ToonRender(image=image, label=_majority_labels(parts, ss), sketch=_sketch(parts, ss))


def _majority_labels(parts: np.ndarray, ss: int) -> np.ndarray:
    cls = PART_TO_CLASS[parts]
    if ss == 1:
        return cls
    h, w = cls.shape[0] // ss, cls.shape[1] // ss
    counts = np.stack([(cls == k).reshape(h, ss, w, ss).sum(axis=(1, 3)) for k in range(NUM_LABEL_CLASSES)])
    return counts.argmax(axis=0).astype(np.uint8)


def _sketch(parts: np.ndarray, ss: int) -> np.ndarray:
    cls = PART_TO_CLASS[parts]
    inner = np.isin(parts, [PART_ID[p] for p in _SKETCH_INNER_PARTS])

    e = np.zeros(parts.shape, dtype=bool)
    dh = (cls[:, 1:] != cls[:, :-1]) | ((parts[:, 1:] != parts[:, :-1]) & (inner[:, 1:] | inner[:, :-1]))
    dv = (cls[1:, :] != cls[:-1, :]) | ((parts[1:, :] != parts[:-1, :]) & (inner[1:, :] | inner[:-1, :]))
    e[:, 1:] |= dh
    e[:, :-1] |= dh
    e[1:, :] |= dv
    e[:-1, :] |= dv
    if ss == 1:
        return np.where(e, 0, 255).astype(np.uint8)
    h, w = e.shape[0] // ss, e.shape[1] // ss
    cover = e.reshape(h, ss, w, ss).mean(axis=(1, 3))
    ink = np.clip(cover * 2.2, 0.0, 1.0)
    return np.round(255.0 * (1.0 - ink)).astype(np.uint8)
