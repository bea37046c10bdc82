"""Analysis of finished studies: Pareto set and hypervolume."""

from trifront.analysis.pareto import hypervolume, hypervolume_history, pareto_front, pareto_mask

__all__ = ["hypervolume", "hypervolume_history", "pareto_front", "pareto_mask"]
