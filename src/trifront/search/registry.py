"""Samplers by name: the trifront sampler and the baselines it must beat."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import optuna

from trifront.errors import ConfigError, unknown_name
from trifront.objectives import OBJECTIVES
from trifront.search.sampler import KnownObjective, TrifrontSampler

__all__ = ["SAMPLERS", "make_sampler"]

SAMPLERS: tuple[str, ...] = (
    "trifront", "trifront-ehvi", "botorch", "random", "qmc", "nsga2", "tpe", "gp"
)
"""Accepted sampler names; ``trifront`` is the default. ``trifront-ehvi`` is the
trifront sampler with its cheaper acquisition (qLogEHVI on the posterior-mean
front instead of qLogNEHVI)."""


def make_sampler(
    name: str,
    *,
    seed: int | None,
    reference_point: Sequence[float],
    known_objectives: Mapping[int, KnownObjective] | None = None,
    n_startup_trials: int = 8,
    objectives: Sequence[str] = OBJECTIVES,
    fixed: Mapping[str, float] | None = None,
) -> optuna.samplers.BaseSampler:
    """Build the sampler called ``name`` for a 3-objective trifront study.

    Only ``trifront`` uses ``reference_point`` and ``known_objectives``; the
    baselines get Optuna's defaults plus the seed (and ``n_startup_trials``
    where they have one), so comparisons are against them as users run them.

    Args:
        name: One of ``SAMPLERS``.
        seed: Seed of the sampler; None draws one from the OS.
        reference_point: (accuracy, epsilon, unfairness) in natural units.
        known_objectives: Objective index -> known function of the params.
        n_startup_trials: Space-filling trials before a model-based sampler
            uses its model (trifront, botorch, gp, tpe).
        objectives: The searched objectives (trifront only; the baselines see
            the study's three values).
        fixed: Parameters every proposal holds at a value (trifront only).

    Returns:
        A fresh sampler.

    Raises:
        ConfigError: If ``name`` is not one of ``SAMPLERS``, or on a bad setting.
    """
    if n_startup_trials < 0:
        raise ConfigError(f"`n_startup_trials >= 0` must hold, but got {n_startup_trials}.")
    if name in ("trifront", "trifront-ehvi"):
        return TrifrontSampler(
            seed=seed,
            n_startup_trials=n_startup_trials,
            reference_point=reference_point,
            known_objectives=known_objectives,
            acquisition="logehvi" if name == "trifront-ehvi" else "lognehvi",
            objectives=objectives,
            fixed=fixed,
        )
    if name == "botorch":
        try:
            from optuna_integration import BoTorchSampler
        except ImportError as err:  # pragma: no cover - installed with trifront's deps
            raise ConfigError(
                "the 'botorch' sampler needs optuna-integration: pip install optuna-integration"
            ) from err
        return BoTorchSampler(seed=seed, n_startup_trials=n_startup_trials)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(scramble=True, seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=n_startup_trials
        )
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials)
    raise unknown_name("sampler", name, SAMPLERS)
