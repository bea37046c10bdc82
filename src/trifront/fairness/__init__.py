"""Fairness metrics (thin over Fairlearn)."""

from trifront.fairness.metrics import FAIRNESS_METRICS, describe_metric, unfairness

__all__ = ["FAIRNESS_METRICS", "describe_metric", "unfairness"]
