"""The report's privacy audit: claimed epsilon beside an empirical lower bound.

``trifront report --audit`` audits the recommended configuration (the best
test accuracy of the front, :func:`trifront.analysis.recommend.recommend` with
no limits) or, with ``--audit all``, every front configuration, with the
one-run audit of :mod:`trifront.audit`.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
import pandas as pd

from trifront.analysis.recommend import recommend
from trifront.analysis.reevaluate import front_trials, reevaluation_seeds
from trifront.audit import MEANING, audit
from trifront.errors import ConfigError, unknown_name
from trifront.problem import Problem
from trifront.report.html import Section, table_html

__all__ = ["AUDIT_CHOICES", "audit_lines", "audit_section", "audit_study"]

AUDIT_CHOICES = ("recommended", "all")
_COLS = ["trial", "epsilon", "epsilon_lower_bound", "ratio", "canaries", "confidence",
         "guesses", "correct", "violated", "engine", "seconds"]


def audit_study(
    study: optuna.Study,
    problem: Problem,
    *,
    which: str = "recommended",
    canaries: int = 1000,
    confidence: float = 0.95,
    n_seeds: int = 5,
    progress: bool = False,
) -> pd.DataFrame:
    """Audit the recommended configuration, or every front configuration, once each.

    Args:
        study: A trifront study.
        problem: Its problem (the report's, research mode included).
        which: ``"recommended"`` or ``"all"``.
        canaries: Canaries per audit.
        confidence: Confidence of each bound.
        n_seeds: Seeds of the re-evaluation that picks the recommended configuration.
        progress: Show the re-evaluation's progress bar.

    Returns:
        One row per audited trial (:data:`_COLS` and the method).

    Raises:
        ConfigError: If ``which`` is unknown.
    """
    if which not in AUDIT_CHOICES:
        raise unknown_name("audit", which, AUDIT_CHOICES)
    front = {t.number: t for t in front_trials(study)}
    if which == "all":
        numbers = sorted(front)
    else:
        rec = recommend(study, max_epsilon=math.inf, max_unfairness=math.inf,
                        n_seeds=n_seeds, progress=progress)
        if rec.choice is None:
            raise ConfigError("no configuration to audit: recommend chose none (no front "
                              "configuration beats the constant predictor on validation); "
                              "use --audit all.")
        numbers = [rec.choice.trial]
    rows: list[dict[str, Any]] = []
    for number in numbers:
        trial = front[number]
        seed = reevaluation_seeds(study, trial, 1)[0]
        result = audit(problem, dict(trial.params), seed=seed, canaries=canaries,
                       confidence=confidence)
        rows.append({"trial": number, **result.to_dict()})
    return pd.DataFrame(rows)


def audit_lines(audits: pd.DataFrame) -> list[str]:
    """One summary sentence per audit, then what a lower bound means."""
    lines = []
    for _, r in audits.iterrows():
        verdict = ("ABOVE the claim: the training or its accounting is broken"
                   if r["violated"] else "at or below the claim, as it must be")
        lines.append(
            f"Privacy audit of trial {int(r['trial'])}: claimed ε = {r['epsilon']:.3g}, "
            f"empirical lower bound {r['epsilon_lower_bound']:.3g} at "
            f"{r['confidence']:.0%} confidence ({int(r['canaries'])} canaries, "
            f"{int(r['correct'])} of {int(r['guesses'])} guesses right): {verdict}.")
    if lines:
        lines.append(MEANING)
    return lines


def audit_section(audits: pd.DataFrame) -> Section:
    """The report page's audit section: claim and lower bound side by side."""
    shown = audits[[c for c in _COLS if c in audits]]
    method = str(audits["method"].iloc[0]) if len(audits) else ""
    return Section("audit", "Claimed ε and an empirical lower bound",
                   intro=[MEANING, f"Method: {method}."], tables=[table_html(shown)])
