"""Export one configuration: train it once, score it once on test, write the model directory.

The model released is the one training run whose epsilon the card states:
with secret noise, training the same configuration again gives another model,
so nothing here retrains after scoring. :func:`write_model` writes a fitted
run (also for callers with their own scoring, such as a private-tuning
release), reloads what it wrote and checks it predicts the test split with
bit-identical probabilities before the directory appears under its name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from trifront.datasets import Dataset
from trifront.deploy.card import build_card, card_markdown, dataset_entry
from trifront.deploy.command import export_command
from trifront.deploy.encoder import Encoder
from trifront.deploy.layout import (
    CARD_JSON,
    CARD_MD,
    DECISION,
    ENCODER,
    FORMAT,
    HASHED_FILES,
    WEIGHTS,
    sha256_of,
    write_json,
)
from trifront.deploy.model import ExportedModel, load_model, module_spec
from trifront.deploy.rule import DecisionRule
from trifront.errors import ConfigError
from trifront.fairness import unfairness
from trifront.problem import Problem, TrialResult
from trifront.study import study_problem
from trifront.trial import Fitted, fit, trial_result

__all__ = ["TEST_ONCE", "TestScore", "check_target", "completed_trial", "export_model",
           "export_trial", "write_model"]

#: How an export measures its test metrics.
TEST_ONCE = ("Measured on the untouched test split, once, for this exact model (the one "
             "training run whose epsilon is stated above); no retraining, no averaging.")


@dataclass(frozen=True)
class TestScore:
    """The test metrics a card states, and how they were measured.

    Attributes:
        accuracy: Test accuracy.
        unfairness: Test fairness gap (the problem's metric).
        n_rows: Test rows.
        how: One sentence on how they were measured.
    """

    __test__ = False  # not a pytest test class

    accuracy: float
    unfairness: float
    n_rows: int
    how: str = TEST_ONCE


def check_target(out: str | PathLike[str], *, overwrite: bool) -> Path:
    """Refuse an output directory that holds anything but (with ``overwrite``) a model.

    Raises:
        ConfigError: If ``out`` is a file, or a non-empty directory that is not
            a model directory, or a model directory without ``overwrite``.
    """
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"--out {str(p)!r} is a file; give a directory to write the model to.")
    if p.is_dir() and any(p.iterdir()):
        is_model = (p / CARD_JSON).is_file() and f'"{FORMAT}"' in (p / CARD_JSON).read_text(
            encoding="utf-8", errors="replace")
        if not is_model:
            raise ConfigError(f"--out {str(p)!r} exists and holds other files; give a new or "
                              "empty directory (only a model directory can be overwritten).")
        if not overwrite:
            raise ConfigError(f"--out {str(p)!r} already holds a model; give a new directory "
                              "or pass --overwrite.")
    return p


def _score_test(live: ExportedModel, ds: Dataset, metric: str) -> tuple[float, float]:
    _, decisions = live.score_encoded(ds.test.X, ds.test.s)
    accuracy = float(np.mean(decisions == ds.test.y))
    return accuracy, unfairness(ds.test.y, decisions, sensitive_features=ds.test.s,
                                metric=metric)


def export_model(
    problem: Problem,
    params: Mapping[str, Any],
    out: str | PathLike[str],
    *,
    seed: int,
    command: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    include_data_sha256: bool = False,
    overwrite: bool = False,
) -> ExportedModel:
    """Train a configuration once, score it once on test, and write its model directory.

    Args:
        problem: The problem (data, model, privacy settings).
        params: The configuration (as :func:`trifront.trial.fit` takes it).
        out: The model directory to write (new, empty, or with ``overwrite`` a
            model directory).
        seed: The public seed (initialisation; the noise is secret unless
            ``problem.reproducible``).
        command: The command recorded on the card (default: this call).
        provenance: ``study``, ``trial``, ``n_trials`` and anything else the card's
            ``source`` should say (default: not from a study).
        include_data_sha256: Put a user file's sha256 on the card (it identifies
            the private file; see :data:`~trifront.deploy.card.DATA_SHA256_NOTE`).
        overwrite: Replace an existing model directory.

    Returns:
        The exported model, loaded back from ``out``.

    Raises:
        ConfigError: On a bad configuration or output directory.
        DataError: If the data cannot be loaded.
        TrialFailedError: If training diverges.
    """
    target = check_target(out, overwrite=overwrite)
    fitted = fit(problem, params, seed=seed)
    ds = problem.data()
    encoder = Encoder.of(ds)
    rule = DecisionRule(fitted.thresholds, ds.sensitive, ds.group_names)
    live = ExportedModel(card={}, encoder=encoder, rule=rule, module=fitted.model)
    accuracy, gap = _score_test(live, ds, problem.fairness)
    record = trial_result(problem, fitted, seed=seed, split="test", accuracy=accuracy,
                          unfairness=gap)
    if command is None:
        command = (f"python: trifront.deploy.export_model(problem, {dict(params)!r}, "
                   f"{str(out)!r}, seed={int(seed)})")
    return write_model(
        target, problem=problem, params=params, fitted=fitted, record=record,
        test=TestScore(accuracy, gap, len(ds.test)), command=command,
        provenance=provenance or {"study": None, "trial": None, "n_trials": None},
        include_data_sha256=include_data_sha256, overwrite=overwrite,
    )


def write_model(
    out: str | PathLike[str],
    *,
    problem: Problem,
    params: Mapping[str, Any],
    fitted: Fitted,
    record: TrialResult,
    test: TestScore,
    command: str,
    provenance: Mapping[str, Any],
    include_data_sha256: bool = False,
    overwrite: bool = False,
) -> ExportedModel:
    """Write the model directory of a fitted run and return it loaded back.

    The files are written to a temporary directory next to ``out``, loaded
    back, checked to give bit-identical test probabilities, and only then
    moved to ``out``: an interrupted export leaves no half-written model.

    Args:
        out: The model directory.
        problem: The problem the run was fitted on.
        params: Its configuration.
        fitted: The run.
        record: Its record (the card states its privacy, flags and test metrics).
        test: The test metrics the card states (``record``'s accuracy and gap
            are replaced by them) and how they were measured.
        command: The command recorded on the card.
        provenance: The card's ``source``.
        include_data_sha256: Put a user file's sha256 on the card.
        overwrite: Replace an existing model directory.

    Raises:
        ConfigError: If ``out`` cannot be written to (see :func:`check_target`).
        RuntimeError: If the reloaded model does not reproduce the fitted one.
    """
    target = check_target(out, overwrite=overwrite)
    ds = problem.data()
    encoder = Encoder.of(ds)
    rule = DecisionRule(fitted.thresholds, ds.sensitive, ds.group_names)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.export-"))
    try:
        state = {k: v.detach().clone().contiguous() for k, v in fitted.model.state_dict().items()}
        torch.save(state, tmp / WEIGHTS)
        write_json(tmp / ENCODER, encoder.to_dict())
        write_json(tmp / DECISION, rule.to_dict())
        files = {name: sha256_of(tmp / name) for name in HASHED_FILES}
        card = build_card(
            record=_with_test(record, test), problem=problem, params=params, encoder=encoder,
            rule=rule, model=module_spec(fitted.model, name=problem.model),
            dataset=dataset_entry(problem, ds, include_data_sha256=include_data_sha256),
            n_test=test.n_rows, test_how=test.how, command=command, provenance=provenance,
            files=files,
        )
        write_json(tmp / CARD_JSON, card)
        (tmp / CARD_MD).write_text(card_markdown(card, encoder), encoding="utf-8")
        _check_round_trip(tmp, fitted.model, encoder, rule, ds)
        _move_into_place(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return load_model(target)


def _with_test(record: TrialResult, test: TestScore) -> TrialResult:
    return replace(record, accuracy=float(test.accuracy), unfairness=float(test.unfairness),
                   split="test")


def _check_round_trip(
    directory: Path, module: torch.nn.Module, encoder: Encoder, rule: DecisionRule, ds: Dataset
) -> None:
    live = ExportedModel(card={}, encoder=encoder, rule=rule, module=module)
    loaded = load_model(directory)
    want, _ = live.score_encoded(ds.test.X, ds.test.s)
    have, _ = loaded.score_encoded(ds.test.X, ds.test.s)
    if not np.array_equal(want, have):
        raise RuntimeError("the exported model, loaded back, does not give the trained "
                           "model's test probabilities bit for bit; nothing was written.")


def _move_into_place(tmp: Path, target: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp made it private; the model gets the usual mode
    if target.exists():
        old = target.parent / f".{target.name}.replaced-{tmp.name.rsplit('-', 1)[-1]}"
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old)
    else:
        tmp.rename(target)


def completed_trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """Trial ``number`` of the study, which must be completed.

    Raises:
        ConfigError: Listing the completed trials, if it is not one of them.
    """
    done = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    if number not in done:
        shown = ", ".join(map(str, sorted(done))) or "none"
        raise ConfigError(f"trial {number} is not a completed trial of study "
                          f"{study.study_name!r}; completed trials: {shown}.")
    return done[number]


def export_trial(
    study: optuna.Study,
    trial: int,
    out: str | PathLike[str],
    *,
    seed: int | None = None,
    storage_url: str | None = None,
    include_data_sha256: bool = False,
    overwrite: bool = False,
) -> ExportedModel:
    """Export a completed trial of a trifront study (train once, score once on test).

    Args:
        study: A trifront study.
        trial: The trial number (a completed trial).
        out: The model directory to write.
        seed: The public seed (None: the trial's own, the first seed of its
            test re-evaluation; a ``reproducible`` study then replays the
            search's model).
        storage_url: The study's storage URL, for the command on the card.
        include_data_sha256: Put a user file's sha256 on the card.
        overwrite: Replace an existing model directory.

    Raises:
        ConfigError: If ``trial`` is not a completed trial of the study.
    """
    from trifront.analysis.reevaluate import reevaluation_seeds

    t = completed_trial(study, trial)
    public_seed = reevaluation_seeds(study, t, 1)[0] if seed is None else int(seed)
    values = t.values or [None, None, None]
    provenance = {
        "study": study.study_name, "trial": trial,
        "n_trials": len(study.get_trials(deepcopy=False)),
        "validation_accuracy": values[0], "validation_unfairness": values[2],
    }
    command = export_command(study.study_name, trial=trial, out=out, storage_url=storage_url,
                             seed=seed)
    return export_model(study_problem(study), dict(t.params), out, seed=public_seed,
                        command=command, provenance=provenance,
                        include_data_sha256=include_data_sha256, overwrite=overwrite)
