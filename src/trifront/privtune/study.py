"""Run a private-tuning study: K random runs, keep the best by noisy validation scores.

The released output (the chosen run's model, hyperparameters and noisy test
metrics) is (E, δ)-DP for every row of the file, by Papernot & Steinke's
Theorem 2 (Theorem 6 for Poisson) on the mechanism of one run
(:mod:`trifront.privtune.budget`), with ``K`` secret. What makes the theorem
apply here, each tested in ``tests/privtune``:

1. **Split membership is per row** (:func:`resplit_independently`): adding
   or removing a row moves that row only, into one split; each run's event
   composes DP-SGD with the validation and the test counts, so a row is
   covered wherever it landed.
2. **Every run is the same mechanism**: one :class:`RunPlan` (q, T, σ and
   every Gaussian) for all; the hyperparameters, the initialisation and the
   noise of a run are drawn from the study's secret generator, independently of
   every earlier result (no adaptive sampler).
3. **K is drawn from the stated distribution** with the secret generator, and
   is written nowhere but the data owner's storage (one trial per run).
4. **Only the best run is released**, by :func:`selection_key` on that run's
   own noisy validation scores; its test metrics are its own noisy test
   counts. A run that fails ranks lowest.

``settings.reproducible`` (with ``acknowledge_seeded_noise``) seeds all of it
from the public seed, for research only; every output then says so.
"""

from __future__ import annotations

import json
import math
import secrets
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import FloatDistribution, IntDistribution

from trifront import __version__
from trifront.caveats import CAVEATS, private_tuning_caveats
from trifront.datasets import Dataset, Split
from trifront.datasets.private_split import resplit_independently
from trifront.errors import ConfigError, TrialFailedError
from trifront.privtune.budget import RunPlan, solve_run_plan
from trifront.privtune.count import RunCount
from trifront.privtune.prior import Prior, default_prior
from trifront.privtune.scoring import metrics_from_counts, noisy_counts, selection_key
from trifront.problem import Problem
from trifront.settings import Settings
from trifront.study import PRIVATE_TUNING_KEY as PRIVATE_KEY
from trifront.study import open_study
from trifront.trial import Fitted, PrivacyPlan, fit, predictions, trial_result

__all__ = ["PRIVATE_KEY", "Candidate", "PrivateStudy", "run_private_study", "study_privacy",
           "write_outputs"]



@dataclass(frozen=True)
class Candidate:
    """One run's outcome, as the data owner's storage keeps it.

    Attributes:
        params: Its hyperparameters.
        val_accuracy, val_unfairness: Noisy validation scores (what selects).
        test_accuracy, test_unfairness: Noisy test scores (released if chosen).
        failed: The reason it failed, or None.
    """

    params: dict[str, Any]
    val_accuracy: float = math.nan
    val_unfairness: float = math.nan
    test_accuracy: float = math.nan
    test_unfairness: float = math.nan
    failed: str | None = None

    def key(self, max_unfairness: float) -> tuple[int, float]:
        if self.failed is not None:
            return (-1, 0.0)
        return selection_key(self.val_accuracy, self.val_unfairness, max_unfairness)


@dataclass(frozen=True, eq=False)
class PrivateStudy:
    """The outcome of :func:`run_private_study`.

    Attributes:
        privacy: ``study_privacy.json`` (what may be published).
        fitted: The released run's model, or None when nothing was released.
        params: Its hyperparameters.
        problem: The study's problem.
        study_name: The name of the study in the data owner's storage.
        data: The study's privately re-split rows, for the data owner's own
            checks (bench/); never part of the release.
    """

    privacy: dict[str, Any]
    fitted: Fitted | None
    params: dict[str, Any] | None
    problem: Problem
    study_name: str
    data: Dataset


def _generator(settings: Settings) -> np.random.Generator:
    """The study's secret generator: OS entropy, or the public seed in research mode."""
    if settings.reproducible:
        return np.random.default_rng([int(settings.seed), 0x7072_6976])
    return np.random.default_rng(secrets.randbits(128))


def _distributions(prior: Prior) -> dict[str, Any]:
    out: dict[str, Any] = {k: IntDistribution(int(v), int(v)) for k, v in prior.fixed.items()}
    for d in prior.drawn:
        out[d.name] = (IntDistribution(int(d.low), int(d.high), log=d.log) if d.integer
                       else FloatDistribution(d.low, d.high, log=d.log))
    return out


def _score(fitted: Fitted, part: Split, *, problem: Problem, ds: Dataset, noise: float,
           rng: np.random.Generator) -> tuple[float, float]:
    """Noisy (accuracy, gap) of a run on one split: post-processing of noisy counts only."""
    y_pred = predictions(fitted.model, part, fitted.thresholds)
    counts = noisy_counts(y_pred, part.y, part.s, n_groups=ds.n_groups,
                          noise_multiplier=noise, rng=rng)
    return metrics_from_counts(counts, n_groups=ds.n_groups, metric=problem.fairness)


def study_privacy(
    plan: RunPlan, prior: Prior, *, settings: Settings, max_unfairness: float,
    released: Candidate | None,
) -> dict[str, Any]:
    """``study_privacy.json``: the guarantee, the mechanism, the rule and the release.

    The number of runs drawn and the released run's index are not in it.
    """
    seeded = bool(settings.reproducible)
    out: dict[str, Any] = {
        "epsilon": plan.epsilon,
        "delta": plan.delta,
        "accountant": "rdp (dp-accounting RdpAccountant, RepeatAndSelectDpEvent)",
        "covers": "every row of the file: training, validation and test rows; the search, "
                  "the selection and the released test metrics",
        "theorem": "Papernot & Steinke, ICLR 2022 (arXiv 2110.03620), Theorem 2 "
                   "(Theorem 6 for Poisson)",
        "distribution": {"name": plan.count.name, "mean": plan.count.mean,
                         "shape": "inf" if math.isinf(plan.count.shape) else plan.count.shape},
        "per_run": plan.per_run(),
        "per_run_target_epsilon": plan.run_epsilon,
        "prior": prior.to_dict(),
        "selection": {
            "rule": "the run with the best noisy validation accuracy among runs whose noisy "
                    f"validation {settings.fairness} gap is <= {max_unfairness:g}; if none "
                    "is, the run with the smallest noisy validation gap",
            "max_unfairness": max_unfairness,
            "fairness_metric": settings.fairness,
        },
        "released": None,
        "noise_seeded": seeded,
        "caveats": ([CAVEATS["noise_seeded"]] if seeded else []) + private_tuning_caveats(),
        "version": __version__,
    }
    if released is not None:
        out["released"] = {
            "hyperparameters": released.params,
            "test_accuracy": released.test_accuracy,
            "test_unfairness": released.test_unfairness,
            "test_metrics_are": "noisy: computed from Gaussian-noised test counts that are "
                                "part of the guarantee",
            "meets_max_unfairness_on_noisy_validation": bool(
                released.val_unfairness <= max_unfairness),
        }
    return out


def _run_once(
    problem: Problem, ds: Dataset, params: dict[str, Any], plan: RunPlan, privacy: PrivacyPlan,
    rng: np.random.Generator, *, init_seed: int,
) -> tuple[Candidate, Fitted | None]:
    try:
        fitted = fit(problem, params, seed=init_seed, data=ds, plan=privacy)
        val = _score(fitted, ds.val, problem=problem, ds=ds, noise=plan.score_noise, rng=rng)
        test = _score(fitted, ds.test, problem=problem, ds=ds, noise=plan.score_noise, rng=rng)
    except TrialFailedError as exc:
        return Candidate(params=params, failed=str(exc)), None
    return Candidate(params=params, val_accuracy=val[0], val_unfairness=val[1],
                     test_accuracy=test[0], test_unfairness=test[1]), fitted


def run_private_study(settings: Settings, *, progress: bool = True) -> PrivateStudy:
    """Run a private-tuning study and return what may be released.

    Args:
        settings: With ``private_tuning``, ``study_epsilon``, ``mean_trials``,
            ``shape`` and optionally ``max_unfairness``, ``batch_size``, ``epochs``.
        progress: Say on stderr that the study runs (without a count of runs).

    Raises:
        ConfigError: On settings that void the guarantee (``Settings.check_private_tuning``),
            or an existing study of the same name (a private study is never resumed).
        PrivacyError: If E is too small for the mean number of runs.
    """
    settings.check_private_tuning()
    assert settings.study_epsilon is not None  # the check refuses a missing one
    t0 = time.perf_counter()
    problem = replace(settings.replace(cv_folds=1).problem(), cv_folds=1)
    base = problem.validate()
    count = RunCount.parse(settings.mean_trials, settings.shape)
    max_unfairness = 1.0 if settings.max_unfairness is None else float(settings.max_unfairness)
    overrides = {k: v for k, v in settings.space.items()}
    prior = default_prior(problem.model, n_train=base.n_train_public,
                          group_thresholds=problem.allow_group_thresholds,
                          batch_size=settings.batch_size, epochs=settings.epochs,
                          overrides=overrides)
    from trifront.privacy import sampling_schedule

    q, steps = sampling_schedule(n_train=base.n_train_public,
                                 batch_size=prior.fixed["batch_size"],
                                 epochs=prior.fixed["epochs"])
    knobs = prior.knob_names
    plan = solve_run_plan(
        study_epsilon_target=float(settings.study_epsilon), delta=problem.delta, count=count,
        sample_rate=q, steps=steps, counts="reweigh" in knobs or "fair_weight" in knobs,
        fair_weight="fair_weight" in knobs, histograms="group_thresholds" in knobs,
        stats_share=problem.stats_share, accountant=problem.accountant,
    )
    privacy = PrivacyPlan(sample_rate=plan.sample_rate, steps=plan.steps,
                          noise_multiplier=plan.noise_multiplier, stats=plan.stats,
                          target_epsilon=None)
    record = {
        "problem": asdict(problem),
        "space": {"private_tuning_prior": prior.to_dict()},
        "focus_unfairness": None,
        "seed": int(settings.seed),
        "sampler": "private-tuning (independent draws from a fixed prior)",
        "version": __version__,
    }
    name = settings.study_name
    _refuse_existing(settings.storage, name)
    study = open_study(storage_url=settings.storage, study_name=name, record=record)
    study.set_user_attr(PRIVATE_KEY, study_privacy(plan, prior, settings=settings,
                                                   max_unfairness=max_unfairness,
                                                   released=None))
    if progress:
        print(f"private tuning: study epsilon {plan.epsilon:.4g} at delta {plan.delta:g}; "
              f"each run sigma={plan.noise_multiplier:.4g}, q={q:.4g}, T={steps}. "
              "The number of runs is secret; this takes a while...", file=sys.stderr)
    rng = _generator(settings)
    ds = resplit_independently(base, rng)
    k = count.draw(rng)
    dists = _distributions(prior)
    best: tuple[Candidate, Fitted] | None = None
    for _ in range(k):
        params = prior.draw(rng)
        init_seed = int(rng.integers(0, 2**31 - 1))
        cand, fitted = _run_once(problem, ds, params, plan, privacy, rng, init_seed=init_seed)
        _store(study, cand, dists, epsilon=plan.epsilon)
        if fitted is not None and (best is None
                                   or cand.key(max_unfairness) > best[0].key(max_unfairness)):
            best = (cand, fitted)
    released = None if best is None else best[0]
    info = study_privacy(plan, prior, settings=settings, max_unfairness=max_unfairness,
                         released=released)
    study.set_user_attr(PRIVATE_KEY, info)
    # The wall time grows with the number of runs: the data owner's, never released.
    study.set_user_attr("private_tuning_seconds", time.perf_counter() - t0)
    return PrivateStudy(privacy=info, fitted=None if best is None else best[1],
                        params=None if released is None else released.params,
                        problem=problem, study_name=name, data=ds)


def _refuse_existing(storage_url: str, name: str) -> None:
    from trifront.storage import open_storage

    names = [s.study_name for s in optuna.get_all_study_summaries(open_storage(storage_url))]
    if name in names:
        raise ConfigError(
            f"study {name!r} already exists in {storage_url}; a private-tuning study is never "
            "resumed or extended (its number of runs is drawn once): pass a new --study name."
        )


def _store(study: optuna.Study, cand: Candidate, dists: dict[str, Any], *,
           epsilon: float) -> None:
    """One run as a trial of the data owner's storage (never part of the release)."""
    params = {k: cand.params[k] for k in dists}
    attrs = {"private_tuning_run": True, "noisy_test_accuracy": cand.test_accuracy,
             "noisy_test_unfairness": cand.test_unfairness}
    if cand.failed is not None:
        trial = optuna.trial.create_trial(params=params, distributions=dists,
                                          state=optuna.trial.TrialState.FAIL,
                                          user_attrs={**attrs, "fail_reason": cand.failed})
    else:
        trial = optuna.trial.create_trial(
            params=params, distributions=dists,
            values=[cand.val_accuracy, epsilon, cand.val_unfairness], user_attrs=attrs)
    study.add_trial(trial)


def write_outputs(result: PrivateStudy, out: str | Path, *, command: str) -> dict[str, Path]:
    """Write ``study_privacy.json`` and the released model (``model/``) into ``out``."""
    from trifront.deploy.export import TestScore, write_model

    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    paths = {"study_privacy.json": target / "study_privacy.json"}
    paths["study_privacy.json"].write_text(json.dumps(result.privacy, indent=2, default=str),
                                           encoding="utf-8")
    rel = result.privacy.get("released")
    if result.fitted is None or rel is None or result.params is None:
        return paths
    problem, fitted = result.problem, result.fitted
    record = trial_result(problem, fitted, seed=0, split="test",
                          accuracy=float(rel["test_accuracy"]),
                          unfairness=float(rel["test_unfairness"]))
    record = replace(record, epsilon=float(result.privacy["epsilon"]),
                     epsilon_rdp=float(result.privacy["epsilon"]),
                     accountant="rdp-repeat-and-select")
    n_test = len(problem.data().test)
    write_model(target / "model", problem=problem, params=result.params, fitted=fitted,
                record=record,
                test=TestScore(float(rel["test_accuracy"]), float(rel["test_unfairness"]),
                               n_test, how="noisy test counts (Gaussian), part of the study's "
                               "guarantee"),
                command=command,
                provenance={"study": result.study_name, "trial": None, "n_trials": None,
                            "private_tuning": True},
                overwrite=True)
    paths["model"] = target / "model"
    return paths

