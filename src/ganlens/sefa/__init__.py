"""SeFa: closed-form discovery of latent directions, editing along them, baselines and reports.

Quick use::

    from ganlens.zoo import load_model
    from ganlens.sefa import factorize, sample_codes, edit_codes

    G = load_model("digiface-dcgan64")
    dirs = factorize(G, "all")                      # Directions, sorted by eigenvalue
    z, codes = sample_codes(G, 4, seed=0)
    edited = edit_codes(G, codes, dirs, index=0, distance=2.0)
    images = G.synthesis(edited)
"""

from ganlens.sefa.analysis import Sweep, check_distances, heatmap_overlay, render_sweep
from ganlens.sefa.baselines import ganspace, interfacegan_boundary, labels_from_scores, random_directions
from ganlens.sefa.directions import Directions, latent_dim
from ganlens.sefa.edit import edit_codes, edit_offset, sample_codes, synthesize
from ganlens.sefa.factorize import MODES, canonical_sign, factorize, parse_layers, stacked_weights
from ganlens.sefa.pipeline import METHODS, SefaResult, find_directions, load_codes_for, sefa_report
from ganlens.sefa.report import official_pages, report_prefix, write_report

__all__ = [
    "METHODS",
    "MODES",
    "Directions",
    "SefaResult",
    "Sweep",
    "canonical_sign",
    "check_distances",
    "edit_codes",
    "edit_offset",
    "factorize",
    "find_directions",
    "ganspace",
    "heatmap_overlay",
    "interfacegan_boundary",
    "labels_from_scores",
    "latent_dim",
    "load_codes_for",
    "official_pages",
    "parse_layers",
    "random_directions",
    "render_sweep",
    "report_prefix",
    "sample_codes",
    "sefa_report",
    "stacked_weights",
    "synthesize",
    "write_report",
]
