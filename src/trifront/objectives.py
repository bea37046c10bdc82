"""The three objectives: names, directions, units and the shared transforms.

One place defines what a point on the front is, so the runner, the sampler,
the analysis and the report agree. Values are always stored in natural units
(accuracy in [0, 1], epsilon at the study's delta, unfairness gap in [0, 1]);
hypervolume and the optimiser work in *maximisation form*:
``(accuracy, -log10(epsilon), -unfairness)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from optuna.study import StudyDirection

from trifront.errors import ConfigError

OBJECTIVES: tuple[str, str, str] = ("accuracy", "epsilon", "unfairness")
DIRECTIONS: tuple[StudyDirection, StudyDirection, StudyDirection] = (
    StudyDirection.MAXIMIZE,
    StudyDirection.MINIMIZE,
    StudyDirection.MINIMIZE,
)
UNITS: dict[str, str] = {
    "accuracy": "validation accuracy (fraction correct)",
    "epsilon": "epsilon of the whole training run at the study's delta",
    "unfairness": "fairness gap (0 = parity)",
}

#: The objective sets a study can search (``--objectives``): the 3-D front, or
#: one of the 2-D fronts. ``accuracy,epsilon`` is DPareto's privacy-utility
#: front (arXiv 1905.10862); ``accuracy,unfairness`` the fairness-utility front
#: at one fixed epsilon. Every trial still measures all three objectives; the
#: ones not searched are recorded, shown, and left out of the front and the
#: hypervolume.
OBJECTIVE_SETS: tuple[tuple[str, ...], ...] = (
    OBJECTIVES,
    ("accuracy", "epsilon"),
    ("accuracy", "unfairness"),
)


def parse_objectives(value: str | Sequence[str]) -> tuple[str, ...]:
    """The searched objectives named by ``value``, in ``OBJECTIVES`` order.

    Args:
        value: Comma-separated names (``"accuracy,epsilon"``) or a sequence.

    Raises:
        ConfigError: On an unknown name, or a set that is not one of ``OBJECTIVE_SETS``.
    """
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else list(value)
    accepted = " | ".join(",".join(s) for s in OBJECTIVE_SETS)
    unknown = [n for n in names if n not in OBJECTIVES]
    chosen = tuple(n for n in OBJECTIVES if n in names)
    if unknown or len(set(names)) != len(names) or chosen not in OBJECTIVE_SETS:
        raise ConfigError(f"objectives={value!r} is not accepted; accepted: {accepted}.")
    return chosen


#: How far above the reference point an objective that is not searched sits, in
#: maximisation form: constant, so it scales the hypervolume by 1.
UNSEARCHED_MARGIN = 1.0


def ignore_unsearched(y_max: np.ndarray, ref_max: np.ndarray,
                      objectives: Sequence[str] = OBJECTIVES) -> np.ndarray:
    """Maximisation-form values with every objective not searched at ``ref + UNSEARCHED_MARGIN``.

    A constant coordinate above the reference point scales the hypervolume by
    1 and leaves the Pareto order of the searched objectives alone, so a 2-D
    front and its hypervolume come out of the 3-D code unchanged.

    Args:
        y_max: ``n x 3`` maximisation-form values.
        ref_max: The reference point in maximisation form (``3``).
        objectives: The searched objectives.
    """
    out = np.array(y_max, dtype=float, copy=True).reshape(-1, len(OBJECTIVES))
    for i, name in enumerate(OBJECTIVES):
        if name not in objectives:
            out[:, i] = float(ref_max[i]) + UNSEARCHED_MARGIN
    return out


# The reference point's unfairness coordinate: a gap of 0.5 means one group gets
# the positive decision at least 50 points more often than another; nothing a
# practitioner would ship, so anything past it adds no hypervolume.
REFERENCE_UNFAIRNESS = 0.5


def to_maximisation(values: np.ndarray) -> np.ndarray:
    """Map natural-unit values to maximisation form.

    Args:
        values: ``n x 3`` array of (accuracy, epsilon, unfairness).

    Returns:
        ``n x 3`` array of (accuracy, -log10 epsilon, -unfairness).
    """
    v = np.asarray(values, dtype=float).reshape(-1, 3)
    out = np.empty_like(v)
    out[:, 0] = v[:, 0]
    out[:, 1] = -np.log10(v[:, 1])
    out[:, 2] = -v[:, 2]
    return out


def reference_point(*, majority_rate: float, epsilon_max: float) -> tuple[float, float, float]:
    """The fixed reference point of a study, in natural units.

    Utility is the majority-class rate (the accuracy of a constant predictor,
    which is also perfectly private and fair); epsilon is the upper bound of
    the searched epsilon range; unfairness is ``REFERENCE_UNFAIRNESS``.

    Args:
        majority_rate: Accuracy of the constant majority-class predictor.
        epsilon_max: Largest epsilon the search may spend.

    Returns:
        (accuracy, epsilon, unfairness) of the reference point.
    """
    if not 0.0 < majority_rate < 1.0:
        raise ValueError(f"`0 < majority_rate < 1` must hold, but got {majority_rate}.")
    if not (epsilon_max > 0 and math.isfinite(epsilon_max)):
        raise ValueError(f"`epsilon_max` must be positive and finite, but got {epsilon_max}.")
    return (float(majority_rate), float(epsilon_max), REFERENCE_UNFAIRNESS)


def reference_point_max(ref: Sequence[float]) -> np.ndarray:
    """A natural-unit reference point in maximisation form (shape ``3``)."""
    return to_maximisation(np.asarray(ref, dtype=float))[0]
