"""The ToonFaces attribute classifier and the metrics built on it (accuracy / R² per factor, ToonFD,
marginal total variation, pairwise dependence)."""

from ganlens.classifier.io import SHIPPED_DIR, load_classifier, save_classifier
from ganlens.classifier.metrics import (
    attribute_accuracy,
    attribute_scores,
    feature_stats,
    frechet_distance,
    kernel_distance,
    manifold_membership,
    marginal_histograms,
    marginal_spread,
    marginal_tv,
    mutual_information,
    pair_dependence,
    precision_recall,
    reading_codes,
    recall_by_factor,
    summed_excess,
    toon_fd,
)
from ganlens.classifier.model import AttributeClassifier, ClassifierConfig
from ganlens.classifier.train import (
    ClassifierTrainSummary,
    classifier_loss,
    plot_training_log,
    scores_table,
    train_classifier,
)

__all__ = [
    "SHIPPED_DIR",
    "AttributeClassifier",
    "ClassifierConfig",
    "ClassifierTrainSummary",
    "attribute_accuracy",
    "attribute_scores",
    "classifier_loss",
    "feature_stats",
    "frechet_distance",
    "kernel_distance",
    "load_classifier",
    "manifold_membership",
    "marginal_histograms",
    "marginal_spread",
    "marginal_tv",
    "mutual_information",
    "pair_dependence",
    "precision_recall",
    "plot_training_log",
    "reading_codes",
    "recall_by_factor",
    "save_classifier",
    "scores_table",
    "summed_excess",
    "toon_fd",
    "train_classifier",
]
