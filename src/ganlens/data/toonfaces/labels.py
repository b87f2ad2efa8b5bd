"""Semantic label classes of ToonFaces label maps, their palette, and the finer *parts* the
renderer draws (the sketch uses part edges, the label map merges parts into classes)."""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Label map classes, in index order. ``earrings`` and ``neck`` are ToonFaces additions to the
#: CelebAMask-HQ-like set; the neck is its own class so the face outline stays a label boundary.
LABEL_CLASSES: tuple[str, ...] = (
    "background",
    "skin",
    "hair",
    "eyes",
    "brows",
    "nose",
    "mouth",
    "glasses",
    "hat",
    "beard",
    "earrings",
    "neck",
)
NUM_LABEL_CLASSES = len(LABEL_CLASSES)

#: Viewing colours (RGB) for each class, the palette stored in label PNGs.
LABEL_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (230, 180, 140),
    (120, 60, 20),
    (40, 120, 255),
    (60, 40, 30),
    (255, 120, 0),
    (220, 20, 60),
    (0, 200, 200),
    (140, 0, 200),
    (90, 90, 20),
    (255, 220, 0),
    (180, 120, 90),
)

#: Parts (finer than classes). Each part maps to a label class; the sketch draws every part edge.
PARTS: tuple[tuple[str, str], ...] = (
    ("background", "background"),
    ("face", "skin"),
    ("ear", "skin"),
    ("neck", "neck"),
    ("hair", "hair"),
    ("eye_white", "eyes"),
    ("iris", "eyes"),
    ("pupil", "eyes"),
    ("brow", "brows"),
    ("nose", "nose"),
    ("mouth", "mouth"),
    ("teeth", "mouth"),
    ("glasses_frame", "glasses"),
    ("glasses_lens", "glasses"),
    ("hat", "hat"),
    ("hat_band", "hat"),
    ("beard", "beard"),
    ("earring", "earrings"),
)
PART_ID = {name: i for i, (name, _) in enumerate(PARTS)}
#: (num_parts,) uint8 lookup: part id -> label class id.
PART_TO_CLASS = np.array([LABEL_CLASSES.index(c) for _, c in PARTS], dtype=np.uint8)


def palette_flat() -> list[int]:
    """The palette as PIL wants it (768 ints; unused entries black)."""
    flat = [v for rgb in LABEL_PALETTE for v in rgb]
    return flat + [0] * (768 - len(flat))


def label_to_pil(label: np.ndarray) -> Image.Image:
    """A (H, W) class-index array as a palette ('P') PNG image: pixel values are the class indices,
    viewers show the palette colours."""
    arr = np.ascontiguousarray(label, dtype=np.uint8)
    img = Image.frombytes("P", (arr.shape[1], arr.shape[0]), arr.tobytes())
    img.putpalette(palette_flat())
    return img


def colorize(label: np.ndarray) -> np.ndarray:
    """(H, W) or (N, H, W) class indices -> uint8 RGB with the viewing palette."""
    pal = np.array(LABEL_PALETTE, dtype=np.uint8)
    return pal[np.clip(label, 0, NUM_LABEL_CLASSES - 1)]
