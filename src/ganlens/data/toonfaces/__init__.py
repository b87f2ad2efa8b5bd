"""ToonFaces: procedural cartoon faces with ground truth for every factor, label maps, sketches and
captions (the multi-modal stand-in for FFHQ / Multi-Modal CelebA-HQ)."""

from ganlens.data.toonfaces.build import RenderSummary, image_seed, render_dataset, toonface_record
from ganlens.data.toonfaces.captions import facts_for, make_captions
from ganlens.data.toonfaces.dataset import (
    MODALITIES,
    ToonFacesDataset,
    collate_toonfaces,
    load_attributes_tensor,
    load_images_tensor,
    load_records,
)
from ganlens.data.toonfaces.labels import LABEL_CLASSES, LABEL_PALETTE, NUM_LABEL_CLASSES, colorize
from ganlens.data.toonfaces.render import ToonRender, render_toonface
from ganlens.data.toonfaces.schema import TOONFACES_SCHEMA, Factor, Schema, load_schema, sample_attributes

__all__ = [
    "LABEL_CLASSES",
    "LABEL_PALETTE",
    "MODALITIES",
    "NUM_LABEL_CLASSES",
    "TOONFACES_SCHEMA",
    "Factor",
    "RenderSummary",
    "Schema",
    "ToonFacesDataset",
    "ToonRender",
    "collate_toonfaces",
    "colorize",
    "facts_for",
    "image_seed",
    "load_attributes_tensor",
    "load_images_tensor",
    "load_records",
    "load_schema",
    "make_captions",
    "render_dataset",
    "render_toonface",
    "sample_attributes",
    "toonface_record",
]
