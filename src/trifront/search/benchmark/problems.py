"""Benchmark problems: a synthetic front with a known answer, and real DP training.

Every problem states its search space, one documented reference point and its
known objectives in trifront's natural units (accuracy, epsilon, unfairness),
so every sampler is scored with the same transforms (``log10`` epsilon) by
``trifront.analysis.hypervolume``.

* ``dtlz2``: BoTorch's DTLZ2 (``d = 6``, 3 objectives, minimised, front on the
  unit sphere) mapped affinely per objective onto trifront's units:
  ``accuracy = 0.95 - 0.2 f1``, ``log10 epsilon = f2 - 1``,
  ``unfairness = 0.5 f3``. The hypervolume is then ``0.2 * 1 * 0.5 = 0.1`` times
  DTLZ2's, so the known maximum is ``0.1 * DTLZ2._max_hv`` against BoTorch's
  reference ``f = 1.1`` (here (0.73, 10^0.1, 0.55)). No training, no noise; no
  objective is declared known (every sampler learns all three).
* ``adult-logreg`` / ``adult-mlp``: the default trifront study on UCI Adult
  (fast DP-SGD engine, PLD accountant, delta = 1e-5, demographic parity gap),
  the default search space, and the study's reference point (majority rate,
  epsilon_max = 10, gap 0.5). Target epsilon is the known objective, as in
  ``trifront run``.
* ``adult-logreg-2d``: DPareto's privacy-utility problem (arXiv 1905.10862):
  the same Adult logistic regression without the fairness knobs, scored by the
  2-D hypervolume of (accuracy, epsilon), as ``trifront run --objectives
  accuracy,epsilon`` searches it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from optuna.distributions import BaseDistribution, FloatDistribution

from trifront.errors import unknown_name
from trifront.objectives import OBJECTIVES
from trifront.search.sampler import KnownObjective

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", DeprecationWarning)
    from botorch.test_functions.multi_objective import DTLZ2

__all__ = ["PROBLEMS", "BenchProblem", "get_problem"]

PROBLEMS: tuple[str, ...] = ("dtlz2", "adult-logreg", "adult-mlp", "adult-logreg-2d")
"""Accepted benchmark problem names."""

Evaluate = Callable[[Mapping[str, Any], int, int], tuple[float, float, float]]
"""(params, study seed, trial number) -> (accuracy, epsilon, unfairness)."""

_DTLZ2_DIM = 6
_DTLZ2_SCALE = (0.2, 1.0, 0.5)  # d(accuracy)/d(f1), d(log10 eps)/d(f2), d(gap)/d(f3)


@dataclass(frozen=True)
class BenchProblem:
    """One benchmark problem in trifront's natural units.

    Attributes:
        name: One of ``PROBLEMS``.
        distributions: The searched space, Optuna distributions by name.
        reference_point: (accuracy, epsilon, unfairness) of the hypervolume.
        evaluate: ``(params, seed, trial_number) -> (accuracy, epsilon, unfairness)``.
        known_objectives: Objective index -> known function of the params
            (given to the trifront sampler only, as ``trifront run`` does).
        max_hv: The largest achievable hypervolume, when known.
        description: One line for tables and reports.
        objectives: The objectives the hypervolume (and the trifront sampler)
            is over; the others are measured but not scored.
    """

    name: str
    distributions: dict[str, BaseDistribution]
    reference_point: tuple[float, float, float]
    evaluate: Evaluate
    known_objectives: dict[int, KnownObjective] = field(default_factory=dict)
    max_hv: float | None = None
    description: str = ""
    objectives: tuple[str, ...] = OBJECTIVES


def _dtlz2_evaluate(
    params: Mapping[str, Any], seed: int, number: int
) -> tuple[float, float, float]:
    del seed, number  # deterministic
    x = torch.tensor([[float(params[f"x{i}"]) for i in range(_DTLZ2_DIM)]], dtype=torch.double)
    f = DTLZ2(dim=_DTLZ2_DIM, num_objectives=3).evaluate_true(x)[0].tolist()
    a, e, g = _DTLZ2_SCALE
    return (0.95 - a * f[0], 10.0 ** (e * f[1] - 1.0), g * f[2])


def _dtlz2() -> BenchProblem:
    func = DTLZ2(dim=_DTLZ2_DIM, num_objectives=3)
    ref_f = func._ref_val
    a, e, g = _DTLZ2_SCALE
    return BenchProblem(
        name="dtlz2",
        distributions={f"x{i}": FloatDistribution(0.0, 1.0) for i in range(_DTLZ2_DIM)},
        reference_point=(0.95 - a * ref_f, 10.0 ** (e * ref_f - 1.0), g * ref_f),
        evaluate=_dtlz2_evaluate,
        max_hv=a * e * g * float(func._max_hv),
        description=f"BoTorch DTLZ2 (d={_DTLZ2_DIM}, M=3) mapped affinely onto "
        "(accuracy, log10 epsilon, unfairness); no training",
    )


def _adult(model: str, *, two_d: bool = False) -> BenchProblem:
    from trifront.objectives import reference_point
    from trifront.problem import Problem
    from trifront.search.known import known_target_epsilon
    from trifront.space import SearchSpace
    from trifront.study import trial_seed
    from trifront.trial import evaluate as train_and_score

    # Seeded noise (research mode): every sampler meets the same trial outcomes for
    # the same configuration and seed, and no model of the benchmark is released.
    problem = Problem(dataset="adult", model=model, reproducible=True)
    space = SearchSpace.default(model, knobs=not two_d)
    ds = problem.validate()
    eps_max = space.epsilon_max
    assert eps_max is not None  # the epsilon parametrisation

    def evaluate(params: Mapping[str, Any], seed: int, number: int) -> tuple[float, float, float]:
        return train_and_score(problem, params, seed=trial_seed(seed, number)).values

    two_d_note = ("privacy-utility front only (DPareto), default space without fairness knobs"
                  if two_d else "demographic parity gap, default search space")
    return BenchProblem(
        name=f"adult-{model}" + ("-2d" if two_d else ""),
        distributions=space.distributions(),
        reference_point=reference_point(majority_rate=ds.majority_rate, epsilon_max=eps_max),
        evaluate=evaluate,
        known_objectives={1: known_target_epsilon},
        description=f"UCI Adult, {model}, DP-SGD (fast engine, PLD, delta=1e-5), {two_d_note}",
        objectives=("accuracy", "epsilon") if two_d else OBJECTIVES,
    )


@functools.cache
def get_problem(name: str) -> BenchProblem:
    """The benchmark problem called ``name`` (built once per process).

    Args:
        name: One of ``PROBLEMS``.

    Returns:
        The problem.

    Raises:
        ConfigError: If ``name`` is not one of ``PROBLEMS``.
    """
    if name == "dtlz2":
        return _dtlz2()
    if name in ("adult-logreg", "adult-mlp"):
        return _adult(name.removeprefix("adult-"))
    if name == "adult-logreg-2d":
        return _adult("logreg", two_d=True)
    raise unknown_name("benchmark problem", name, PROBLEMS)
