"""Attribute-level evaluation: what latent directions change (per classifier factor) and how real a
generator's images look to the ToonFaces attribute classifier.

Quick use::

    from ganlens.analysis import analyze_directions, standard_sets, write_analysis
    from ganlens.classifier import load_classifier
    from ganlens.zoo import load_model

    G, C = load_model("path/to/toonfaces-stylegan2-64"), load_classifier()
    sets, _ = standard_sets(G, C, num=10)          # SeFa coarse/middle/fine, GANSpace, random, supervised
    result = analyze_directions(G, sets, C, distance=3.0, num_samples=32)
    write_analysis(result, "analysis-out")        # analysis.md, heatmap.png, analysis.json
"""

from ganlens.analysis.attributes import (
    AttributeAnalysis,
    AttributeScorer,
    DirectionEffect,
    analyze_directions,
    factor_changes,
)
from ganlens.analysis.directions import BoundaryReport, sefa_by_group, standard_sets, supervised_boundaries
from ganlens.analysis.ppl import PPLResult, perceptual_path_length
from ganlens.analysis.realism import (
    RealismReport,
    RealismScore,
    RealReference,
    gaussian_blur,
    generate,
    load_real,
    marginals_figure,
    quantize,
    realism_report,
    render_real,
    render_real_records,
    split_real,
)
from ganlens.analysis.report import heatmap_png, markdown_summary, markdown_table, write_analysis

__all__ = [
    "AttributeAnalysis",
    "AttributeScorer",
    "BoundaryReport",
    "DirectionEffect",
    "PPLResult",
    "RealismReport",
    "analyze_directions",
    "factor_changes",
    "gaussian_blur",
    "generate",
    "heatmap_png",
    "load_real",
    "marginals_figure",
    "markdown_summary",
    "markdown_table",
    "perceptual_path_length",
    "quantize",
    "realism_report",
    "RealismScore",
    "RealReference",
    "render_real",
    "render_real_records",
    "sefa_by_group",
    "split_real",
    "standard_sets",
    "supervised_boundaries",
    "write_analysis",
]
