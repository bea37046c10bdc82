"""Fairness metrics (thin over Fairlearn) and the DP-safe fairness knobs."""

from trifront.fairness.knobs import FairPenalty, Knobs, reweighing_weights
from trifront.fairness.metrics import FAIRNESS_METRICS, describe_metric, unfairness
from trifront.fairness.thresholds import GroupThresholds, choose_thresholds

__all__ = [
    "FAIRNESS_METRICS",
    "FairPenalty",
    "GroupThresholds",
    "Knobs",
    "choose_thresholds",
    "describe_metric",
    "reweighing_weights",
    "unfairness",
]
