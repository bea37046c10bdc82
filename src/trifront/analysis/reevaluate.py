"""Test-set re-evaluation: retrain chosen configurations with several seeds, score on test.

The search only ever sees the validation split. The report and ``recommend``
retrain each chosen configuration with ``R`` seeds and score it on the
untouched test split. Public seeds are deterministic and documented: the
``r``-th re-evaluation of trial ``n`` uses seed ``base + r`` where ``base`` is
the trial's own public seed (``user_attrs["seed"]``, which the runner sets to
``trial_seed(study_seed, n)``). The seed fixes the initialisation; the DP noise
and sampling are fresh secret draws for every run, so a re-evaluation is a new
draw of the same randomised algorithm (only a ``reproducible`` study replays
the search's own model at ``r = 0``).

A **validation** re-evaluation (``recommend`` chooses on it) scores each run on
rows it did not train on, and on different rows for every run: run ``r``
trains on the non-test rows without fold ``r mod k`` and scores that fold
(:mod:`trifront.datasets.folds`, ``k = 5``, each fold as large as the
validation split and its complement as large as the training split, so the
public schedule is the same). Over the default five runs every non-test row
is scored once, so the split's own sampling noise averages out instead of
being shared by all the runs: on Adult the equalized-odds gap of one
validation split has a standard error of about 0.03, which the mean over five
runs on that split keeps and the mean over five folds cuts to about 0.013
(bench/RESULTS.md). A study that already cross-validates its trials scores
every run on all ``k`` folds, as its trials were.

Results are cached in the study itself, as study user attributes named
``test_eval:<trial number>`` (``test_eval:nonprivate`` for the non-private
reference), so a second report or ``recommend`` does not retrain. Each holds
the configuration and one record per seed; asking for more seeds only trains
the missing ones.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState
from tqdm.auto import tqdm

from trifront.analysis.pareto import front_mask, study_majority_rate
from trifront.datasets.folds import folds_for
from trifront.errors import ConfigError, TrialFailedError
from trifront.fairness.metrics import gap_sampling_se, run_gap
from trifront.problem import VAL_FRACTION, Problem
from trifront.study import study_objectives, study_problem, study_settings, trial_seed
from trifront.trial import evaluate

__all__ = [
    "CACHE_PREFIX",
    "RUN_CACHE_PREFIXES",
    "VAL_CACHE_PREFIX",
    "VAL_SCORING",
    "DEFAULT_SEEDS",
    "NONPRIVATE_KEY",
    "cached_run_records",
    "cached_runs",
    "front_trials",
    "reevaluate",
    "reevaluation_seeds",
    "run_problem",
]

DEFAULT_SEEDS = 5
CACHE_PREFIX = "test_eval:"
#: Validation re-evaluations (``recommend`` chooses on them), cached the same way.
VAL_CACHE_PREFIX = "val_eval:"
#: How a validation re-evaluation's runs are scored (stored with them; a cache made
#: another way, on the one validation split or without the confusion cells the run
#: gap needs, is retrained rather than mixed in).
VAL_SCORING = "folds-pooled"
#: Every cache of retraining runs: each one is a DP-SGD run on the training rows.
RUN_CACHE_PREFIXES = (CACHE_PREFIX, VAL_CACHE_PREFIX)
NONPRIVATE_KEY = f"{CACHE_PREFIX}nonprivate"
#: Column prefix of the re-evaluation means, by split.
SPLIT_COLUMNS = {"test": "test", "val": "val_mean"}


def front_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Completed trials on the validation Pareto front, in trial order."""
    trials = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None and all(math.isfinite(v) for v in t.values)
    ]
    if not trials:
        return []
    mask = front_mask(np.array([t.values for t in trials], dtype=float),
                      majority_rate=study_majority_rate(study),
                      objectives=study_objectives(study))
    return [t for t, keep in zip(trials, mask, strict=True) if keep]


def reevaluation_seeds(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, n_seeds: int
) -> list[int]:
    """The seeds of a trial's test re-evaluation: ``base + r`` for ``r < n_seeds``.

    ``base`` is the trial's training seed (``user_attrs["seed"]``), or
    ``trial_seed(study seed, trial number)`` when the attribute is missing.
    """
    base = trial.user_attrs.get("seed")
    if base is None:
        base = trial_seed(int(study_settings(study).get("seed", 0)), trial.number)
    return [int(base) + r for r in range(n_seeds)]


def cached_runs(
    study: optuna.Study, key: str, params: Mapping[str, Any], scoring: str | None = None
) -> dict[int, dict]:
    """Cached per-seed runs under ``key`` if they were made with ``params`` (and ``scoring``)."""
    entry = study.user_attrs.get(key)
    if (not isinstance(entry, Mapping) or dict(entry.get("params", {})) != dict(params)
            or entry.get("scoring") != scoring):
        return {}
    return {int(r["seed"]): dict(r) for r in entry.get("runs", [])}


def cached_run_records(study: optuna.Study) -> list[dict]:
    """Every cached re-evaluation run of the study (for their caveat flags)."""
    out: list[dict] = []
    for key, entry in study.user_attrs.items():
        if key.startswith(RUN_CACHE_PREFIXES) and isinstance(entry, Mapping):
            out.extend(dict(r) for r in entry.get("runs", []) if "failed" not in r)
    return out


def _store_runs(
    study: optuna.Study, key: str, params: Mapping[str, Any], runs: Mapping[int, dict],
    extra: Mapping[str, Any] | None = None,
) -> None:
    entry = {"params": dict(params), "runs": [runs[s] for s in sorted(runs)], **(extra or {})}
    study.set_user_attr(key, entry)


def run_problem(problem: Problem, split: str, run: int) -> tuple[Problem, int | None]:
    """The problem the ``run``-th re-evaluation run trains and scores, and its held-out fold.

    On test: the problem itself (train on the training split). On validation, for a
    study with one validation split: fold ``run mod k`` held out (None for a study
    that cross-validates every run over all its folds, as its trials did).
    """
    if split != "val" or problem.cv_folds > 1:
        return problem, None
    folds = folds_for(VAL_FRACTION)
    fold = run % folds
    return dataclasses.replace(problem, cv_folds=folds, fold=fold), fold


def _train_runs(
    problem: Problem, params: Mapping[str, Any], seeds: Iterable[tuple[int, int]], bar: tqdm,
    split: str,
) -> dict[int, dict]:
    runs: dict[int, dict] = {}
    for run, seed in seeds:
        scored, fold = run_problem(problem, split, run)
        try:
            r = evaluate(scored, params, seed=seed, split=split)
            runs[seed] = {
                "seed": seed, **({} if fold is None else {"fold": fold}),
                **({} if r.confusion is None else {"cells": r.confusion}),
                "accuracy": r.accuracy, "unfairness": r.unfairness,
                "epsilon": r.epsilon, "train_seconds": r.train_seconds,
                "noise_seeded": r.noise_seeded, "schema_from_data": r.schema_from_data,
                "public_statistics": r.public_statistics,
            }
        except (TrialFailedError, ArithmeticError, RuntimeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            runs[seed] = {"seed": seed, "failed": f"{exc.__class__.__name__}: {exc}"}
        bar.update(1)
    return runs


@dataclass(frozen=True)
class _Job:
    key: str
    params: dict[str, Any]
    seeds: list[int]
    have: dict[int, dict]
    split: str = "test"

    @property
    def missing(self) -> list[tuple[int, int]]:
        """(run index, seed) of the runs still to train."""
        return [(r, s) for r, s in enumerate(self.seeds) if s not in self.have]


def _scoring(split: str) -> str | None:
    """How a split's runs are scored, stored with them (validation: on folds)."""
    return VAL_SCORING if split == "val" else None


def _run_jobs(
    study: optuna.Study, problem: Problem, jobs: Sequence[_Job], *, progress: bool
) -> None:
    todo = sum(len(j.missing) for j in jobs)
    splits = "/".join(sorted({j.split for j in jobs})) or "test"
    with tqdm(
        total=todo, desc=f"{splits} re-evaluation of {study.study_name}", unit="run",
        file=sys.stderr, disable=not progress or todo == 0, dynamic_ncols=True,
    ) as bar:
        for job in jobs:
            if not job.missing:
                continue
            new = _train_runs(problem, job.params, job.missing, bar, job.split)
            job.have.update(new)
            # Written after each configuration, so an interrupted report keeps its work.
            scoring = _scoring(job.split)
            _store_runs(study, job.key, job.params, job.have,
                        None if scoring is None else {"scoring": scoring})


def _summarise(runs: Sequence[dict], prefix: str = "test", metric: str | None = None
               ) -> dict[str, Any]:
    ok = [r for r in runs if "failed" not in r]
    acc = np.array([r["accuracy"] for r in ok], dtype=float)
    gap = np.array([r["unfairness"] for r in ok], dtype=float)

    def std(a: np.ndarray) -> float:
        return float(a.std(ddof=1)) if len(a) >= 2 else math.nan

    out = {
        f"{prefix}_accuracy": float(acc.mean()) if len(acc) else math.nan,
        f"{prefix}_accuracy_std": std(acc),
        f"{prefix}_unfairness": float(gap.mean()) if len(gap) else math.nan,
        f"{prefix}_unfairness_std": std(gap),
        "seeds": [int(r["seed"]) for r in runs],
        "n_failed": len(runs) - len(ok),
    }
    cells = [r["cells"] for r in ok] if ok and all("cells" in r for r in ok) else None
    if prefix == "test" and metric is not None:
        # Every run scores the same test rows: what those rows alone put on a gap.
        out["test_unfairness_sampling_se"] = (
            float(np.mean([gap_sampling_se(c, metric=metric) for c in cells]))
            if cells else math.nan)
    elif metric is not None:
        # Runs scored on disjoint held-out folds: a run's expected gap without their noise.
        out["val_run_gap"] = run_gap(cells, metric=metric) if cells else math.nan
    return out


def reevaluate(
    study: optuna.Study,
    *,
    trials: Sequence[int] | None = None,
    n_seeds: int = DEFAULT_SEEDS,
    progress: bool = True,
    problem: Problem | None = None,
    split: str = "test",
) -> pd.DataFrame:
    """Retrain configurations with ``n_seeds`` seeds and score them on the test split.

    Cached runs are reused; only missing seeds are trained, and new runs are
    written back to the study (``test_eval:<trial>`` study user attributes).
    With ``split="val"`` each run is scored on held-out rows instead: run ``r``
    on fold ``r mod 5`` of the non-test rows (:func:`run_problem`; cached as
    ``val_eval:<trial>``; ``recommend`` chooses on them) and the mean columns
    are named ``val_mean_*``, with ``val_run_gap``: the gap one run is expected
    to have, from the runs' held-out decisions without each fold's sampling noise
    (:func:`~trifront.fairness.metrics.run_gap`; NaN for a cross-validated study,
    whose runs are scored on every fold); ``on_test_front`` is then absent.

    Args:
        study: A trifront study.
        trials: Trial numbers to re-evaluate (default: the validation Pareto front).
        n_seeds: Seeds per configuration (``R``); see ``reevaluation_seeds``.
        progress: Show a progress bar on stderr.
        problem: The problem to train (default: rebuilt from the study settings).

    Returns:
        One row per configuration, sorted by epsilon: ``trial``, ``epsilon``
        (of the training run, at the study's delta; the same for every seed),
        ``val_accuracy``, ``val_unfairness``, ``test_accuracy``,
        ``test_accuracy_std``, ``test_unfairness``, ``test_unfairness_std``
        (mean and sample std over the seeds; std is NaN for one seed),
        ``seeds``, ``n_failed``, ``on_test_front`` (still Pareto-optimal among
        these configurations with test means), ``params`` (dict) and one column
        per searched parameter.

    Raises:
        ConfigError: If ``n_seeds < 1`` or a trial number is not a completed trial.
    """
    if not isinstance(n_seeds, int) or n_seeds < 1:
        raise ConfigError(f"`seeds >= 1` must hold, but got seeds={n_seeds}.")
    if split not in SPLIT_COLUMNS:
        raise ConfigError(f"unknown split {split!r}; accepted: {', '.join(SPLIT_COLUMNS)}.")
    problem = problem or study_problem(study)
    prefix = SPLIT_COLUMNS[split]
    cache = CACHE_PREFIX if split == "test" else VAL_CACHE_PREFIX
    if trials is None:
        chosen = front_trials(study)
    else:
        by_number = {
            t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        }
        bad = [n for n in trials if n not in by_number]
        if bad:
            raise ConfigError(
                f"trials {bad} are not completed trials of study {study.study_name!r}."
            )
        chosen = [by_number[n] for n in trials]
    jobs = []
    for t in chosen:
        key = f"{cache}{t.number}"
        jobs.append(_Job(key, dict(t.params), reevaluation_seeds(study, t, n_seeds),
                         cached_runs(study, key, t.params, _scoring(split)), split))
    _run_jobs(study, problem, jobs, progress=progress)

    rows = []
    for t, job in zip(chosen, jobs, strict=True):
        row: dict[str, Any] = {
            "trial": t.number,
            "epsilon": float(t.values[1]),
            "val_accuracy": float(t.values[0]),
            "val_unfairness": float(t.values[2]),
            # Standard errors across cross-validation folds (NaN for one split).
            "val_accuracy_se": float(t.user_attrs.get("accuracy_se", math.nan)),
            "val_unfairness_se": float(t.user_attrs.get("unfairness_se", math.nan)),
        }
        row.update(_summarise([job.have[s] for s in job.seeds], prefix, problem.fairness))
        row["params"] = dict(t.params)
        row.update(t.params)
        rows.append(row)
    columns = ["trial", "epsilon", "val_accuracy", "val_unfairness", f"{prefix}_accuracy",
               f"{prefix}_accuracy_std", f"{prefix}_unfairness", f"{prefix}_unfairness_std",
               "seeds", "n_failed", *(["on_test_front"] if split == "test" else []), "params"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    if split == "test":
        values = frame[["test_accuracy", "epsilon", "test_unfairness"]].to_numpy(dtype=float)
        frame["on_test_front"] = front_mask(values, majority_rate=None,
                                            objectives=study_objectives(study))
    rest = [c for c in frame.columns if c not in columns]
    return frame[columns + rest].sort_values(["epsilon", "trial"]).reset_index(drop=True)
