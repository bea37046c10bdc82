"""What a trifront study stores in Optuna, and how to read it back.

A study is an Optuna study with three directions (maximise accuracy, minimise
epsilon, minimise unfairness). trifront writes:

* one study user attribute, ``user_attrs["trifront"]`` (:data:`ATTR_KEY`): the
  settings that define the study (problem, search space, focus), the reference
  point, the majority rate, the sampler and its seed, the version;
* per trial: the searched params, the three values, and the bookkeeping of its
  :class:`~trifront.problem.TrialResult` as user attributes (sigma, q, steps,
  delta, accountant, seeds, timings, caveat flags).

This module owns those keys and the rules of a study's life: opening (and
refusing to resume with other settings), failing a trial, and putting back the
trials a crash interrupted. It imports no optimiser and no executor, so the
analysis and the report read studies through it without loading BoTorch.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from dataclasses import asdict
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from trifront.errors import ConfigError, StorageError, unknown_name
from trifront.objectives import DIRECTIONS, OBJECTIVES
from trifront.storage import open_storage

if TYPE_CHECKING:
    from trifront.problem import Problem, TrialResult

__all__ = [
    "ATTR_KEY",
    "INTERRUPTED",
    "PRIVATE_TUNING_KEY",
    "REFINEMENTS_KEY",
    "REFINE_START",
    "SEARCHED_KEY",
    "counted_trials",
    "fail_trial",
    "load_study",
    "open_study",
    "private_tuning_release",
    "refuse_private_tuning",
    "record_refinement",
    "requeue_interrupted",
    "store_result",
    "study_objectives",
    "study_refinements",
    "study_problem",
    "study_settings",
    "trial_seed",
]

ATTR_KEY = "trifront"
#: The study attribute of a private-tuning study (``trifront.privtune``): its
#: guarantee and its release. Such a study's trials are for the data owner only.
PRIVATE_TUNING_KEY = "private_tuning"
#: The key of the study settings that names the objectives a 2-D study searched
#: (``--objectives``); absent: all three. (``"objectives"`` names the three stored values.)
SEARCHED_KEY = "searched_objectives"
#: The study attribute listing its refinements (``trifront refine``): the region
#: each aimed at, how many trials it added, and the first trial number it asked.
REFINEMENTS_KEY = "trifront_refinements"
#: Trial user attributes of one of ``trifront refine``'s starting configurations
#: (``{"anchor": "region"}``; the run's own defaults carry ``{"anchor": True}``).
REFINE_START: Mapping[str, str] = MappingProxyType({"anchor": "region"})
#: Trial user attributes a re-run of an interrupted trial keeps (what the trial was for).
_KEPT_BY_RERUN = ("anchor",)
#: Trial user attribute set on a trial that a crash or Ctrl-C stopped: it does
#: not count against the study's budget, and its parameters are run again.
INTERRUPTED = "interrupted"
_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


def trial_seed(study_seed: int, trial_number: int) -> int:
    """The public seed of a trial (model initialisation): distinct per trial.

    It seeds nothing secret: the DP noise and the Poisson sampling draw fresh
    entropy from the operating system unless the study is ``reproducible``.
    """
    return (study_seed * 1_000_003 + trial_number * 7919) % (2**31 - 1)


def study_settings(study: optuna.Study) -> dict[str, Any]:
    """The trifront settings stored in a study (``user_attrs["trifront"]``).

    Raises:
        StorageError: If the study was not made by trifront.
    """
    stored = study.user_attrs.get(ATTR_KEY)
    if not isinstance(stored, Mapping) or "problem" not in stored:
        raise StorageError(
            f"study {study.study_name!r} was not made by trifront (no {ATTR_KEY!r} settings); "
            "pass a study written by `trifront run`."
        )
    return dict(stored)


def study_objectives(study: optuna.Study) -> tuple[str, ...]:
    """The objectives a study searched: all three, unless it ran with ``--objectives``.

    A 2-D study still stores all three values per trial; the one it did not
    search is measured and shown, but not part of its front or hypervolume.
    """
    stored = study.user_attrs.get(ATTR_KEY)
    names = stored.get(SEARCHED_KEY) if isinstance(stored, Mapping) else None
    return tuple(names) if names else OBJECTIVES


def study_refinements(study: optuna.Study) -> list[dict[str, Any]]:
    """The refinements of a study, oldest first (``[]`` if it was never refined)."""
    stored = study.user_attrs.get(REFINEMENTS_KEY)
    return [dict(r) for r in stored] if isinstance(stored, list) else []


def record_refinement(study: optuna.Study, *, max_epsilon: float, max_unfairness: float,
                      trials: int) -> dict[str, Any]:
    """Append a refinement to the study's list before its trials are asked.

    Returns:
        The record: ``max_epsilon``, ``max_unfairness``, ``trials`` (asked for)
        and ``first_trial`` (the number the next trial gets).
    """
    entry = {"max_epsilon": float(max_epsilon), "max_unfairness": float(max_unfairness),
             "trials": int(trials), "first_trial": len(study.get_trials(deepcopy=False))}
    study.set_user_attr(REFINEMENTS_KEY, [*study_refinements(study), entry])
    return entry


LEGACY_PROBLEM: dict[str, Any] = {"tail_average": 0.0}
"""Problem settings whose default changed after studies were stored: what a study
stored without the key ran with (its trials are re-trained the same way)."""


def study_problem(study: optuna.Study) -> Problem:
    """The ``Problem`` a trifront study optimised, rebuilt from its settings."""
    from trifront.problem import Problem

    return Problem(**{**LEGACY_PROBLEM, **study_settings(study)["problem"]})


def load_study(storage_url: str, name: str | None = None) -> optuna.Study:
    """Open a finished or running trifront study to read it.

    Args:
        storage_url: Optuna storage URL.
        name: Study name; None when the storage holds exactly one study.

    Raises:
        ConfigError: If ``name`` is None and the storage holds another number
            of studies than one.
        StorageError: If the storage cannot be opened, the study is missing,
            or it was not made by trifront.
    """
    storage = open_storage(storage_url)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if name is None:
        if len(names) != 1:
            listed = f" ({', '.join(names)})" if names else ""
            raise ConfigError(f"name the study: {storage_url} holds {len(names)} studies{listed}.")
        name = names[0]
    if name not in names:
        if not names:
            raise StorageError(f"no study named {name!r}: {storage_url} holds no study.")
        raise StorageError(f"{unknown_name('study', name, names)} (in {storage_url})")
    study = optuna.load_study(study_name=name, storage=storage)
    study_settings(study)  # refuse foreign studies early
    return study


def open_study(
    *,
    storage_url: str,
    study_name: str,
    record: Mapping[str, Any],
    sampler: optuna.samplers.BaseSampler | None = None,
    create: bool = True,
) -> optuna.Study:
    """Create a study, or load it for resumption after checking its settings.

    Args:
        storage_url: Optuna storage URL.
        study_name: The study's name.
        record: What the study stores under :data:`ATTR_KEY`; its ``problem``,
            ``space`` and ``focus_unfairness`` entries define the study and
            must match a stored study's.
        sampler: The sampler to attach.
        create: Create the study when it is missing.

    Raises:
        StorageError: If the storage cannot be used, or the study is missing
            and ``create`` is False.
        ConfigError: If an existing study was made with other settings or by
            another tool.
    """
    storage = open_storage(storage_url)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if study_name in names:
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
        stored = study.user_attrs.get(ATTR_KEY)
        if stored is None:
            raise ConfigError(
                f"study {study_name!r} in {storage_url} was not made by trifront; "
                "pass another --study name."
            )
        _check_same_settings(study_name, stored, record)
        if [d.name for d in study.directions] != [d.name for d in DIRECTIONS]:
            raise ConfigError(f"study {study_name!r} does not have trifront's directions.")
        if study.metric_names != list(OBJECTIVES):  # a study made before they were named
            _name_objectives(study)
        return study
    if not create:
        raise StorageError(
            f"no study named {study_name!r} in {storage_url}; "
            f"studies there: {', '.join(names) or 'none'}."
        )
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=list(DIRECTIONS), sampler=sampler
    )
    study.set_user_attr(ATTR_KEY, {**record, "objectives": list(OBJECTIVES)})
    _name_objectives(study)
    return study


def _name_objectives(study: optuna.Study) -> None:
    """Name the three values, so optuna-dashboard shows accuracy, epsilon, unfairness."""
    with warnings.catch_warnings():  # experimental in Optuna, stable enough to name values
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(OBJECTIVES))


def _problem_defaults() -> dict[str, Any]:
    from trifront.problem import Problem

    return asdict(Problem())


def _check_same_settings(
    name: str, stored: Mapping[str, Any], wanted: Mapping[str, Any]
) -> None:
    have_obj = list(stored.get(SEARCHED_KEY) or OBJECTIVES)
    want_obj = list(wanted.get(SEARCHED_KEY) or OBJECTIVES)
    if have_obj != want_obj:
        raise ConfigError(
            f"study {name!r} searched the objectives {','.join(have_obj)}, but got "
            f"{','.join(want_obj)}; resume it with the original --objectives or pass a new "
            "--study name."
        )
    for section in ("problem", "space"):
        have, want = dict(stored.get(section) or {}), dict(wanted[section])
        if section == "problem":
            # A setting added after the study was made counts as what the study ran with.
            defaults = {**_problem_defaults(), **LEGACY_PROBLEM}
            have = {**{k: defaults[k] for k in want if k in defaults}, **have}
        if have != want:
            keys = sorted(set(have) | set(want))
            diffs = "; ".join(f"{k}: stored {have.get(k)!r}, given {want.get(k)!r}"
                              for k in keys if have.get(k) != want.get(k))
            raise ConfigError(
                f"study {name!r} was created with other {section} settings "
                f"({diffs}); resume it with the original settings or pass a new --study name."
            )
    have_focus, want_focus = stored.get("focus_unfairness"), wanted.get("focus_unfairness")
    if have_focus != want_focus:
        raise ConfigError(
            f"study {name!r} was created with focus_unfairness={have_focus!r}, "
            f"but got {want_focus!r}; resume it with the original setting or pass a new "
            "--study name."
        )


def fail_trial(study: optuna.Study, trial: FrozenTrial, reason: str, *,
               interrupted: bool = False, names: Collection[str] = ()) -> None:
    """Mark a RUNNING trial FAIL with its reason, straight through the storage.

    ``study.tell`` needs the live ``Trial`` object, which a recovering driver
    no longer has; the storage call works from the frozen trial.

    Args:
        study: The study.
        trial: The trial to fail.
        reason: Stored as the ``fail_reason`` user attribute.
        interrupted: The trial was stopped from outside (Ctrl-C, a killed
            driver), not by its own fault: it is not counted against the
            budget, and its parameters are queued to run again.
        names: The search space's parameter names. Optuna stores a trial's
            parameters one at a time, so a driver stopped while it drew them
            leaves a trial holding only some; such a trial never reached a
            worker and is not queued again (the sampler proposes a whole one).
    """
    storage = study._storage
    storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
    if interrupted:
        storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    if interrupted and trial.params and set(names) <= trial.params.keys():
        kept = {k: trial.user_attrs[k] for k in _KEPT_BY_RERUN if k in trial.user_attrs}
        study.enqueue_trial(dict(trial.params), user_attrs={**kept, "rerun_of": trial.number},
                            skip_if_exists=False)


def requeue_interrupted(study: optuna.Study, names: Collection[str] = ()) -> int:
    """Fail the trials a dead driver left RUNNING and queue their parameters again.

    Args:
        study: The study.
        names: The search space's parameter names: a trial holding only some of
            them was stopped while they were drawn and is not queued again.

    Returns:
        How many trials were interrupted.
    """
    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for t in stale:
        fail_trial(study, t, "left RUNNING by an interrupted run", interrupted=True,
                   names=names)
    return len(stale)


def counted_trials(study: optuna.Study) -> int:
    """Trials that count against the study's budget: finished, and not interrupted.

    A trial that failed on its own (raised, diverged, timed out) counts; one
    that a crash or Ctrl-C stopped does not (its parameters run again).
    """
    return sum(
        t.state in _FINISHED and not t.user_attrs.get(INTERRUPTED)
        for t in study.get_trials(deepcopy=False)
    )


def store_result(trial: optuna.Trial, result: TrialResult) -> None:
    """Write a trial result's bookkeeping into the trial's user attributes.

    The three objectives are the trial's values, not attributes.
    """
    for key, value in result.to_dict().items():
        if key not in OBJECTIVES:
            trial.set_user_attr(key, value)


def private_tuning_release(study: optuna.Study) -> dict[str, Any] | None:
    """A private-tuning study's ``study_privacy.json`` content, or None for an ordinary study."""
    value = study.user_attrs.get(PRIVATE_TUNING_KEY)
    return dict(value) if isinstance(value, Mapping) else None


def refuse_private_tuning(study: optuna.Study, command: str) -> None:
    """Refuse a command that would publish more of a private-tuning study than its release.

    Raises:
        ConfigError: If ``study`` is a private-tuning study.
    """
    if private_tuning_release(study) is not None:
        raise ConfigError(
            f"study {study.study_name!r} is a private-tuning study: only its released model is "
            f"covered by its epsilon, and `{command}` would publish other runs or un-noised "
            "scores; use `trifront report` (the release alone) or the model written by `run`."
        )
