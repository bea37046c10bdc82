"""What the atlas says about one study: its front, its prices, its fair end.

Read from a study's cached re-evaluations (``trifront.analysis.reevaluate``)
through ``trifront.analysis.recommend``, so every price is a choice made on
**validation** and scored on **test**: under each limit the configuration
with the best mean validation re-evaluation (the constant predictor when none
beats it), against the same choice without limits. The test split never
picks a winner. ``trifront.atlas`` runs the studies; ``trifront.report.atlas``
draws the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import optuna
import pandas as pd

from trifront.analysis.recommend import Recommendation, constant_test_accuracy, recommend
from trifront.analysis.reevaluate import reevaluate
from trifront.analysis.references import references
from trifront.analysis.tradeoffs import FAIRNESS_LEVELS, PRIVACY_LEVELS, Limits, best_under
from trifront.fairness.knobs import Knobs
from trifront.study import counted_trials, study_problem, study_settings

__all__ = [
    "FAIR_END_GAP",
    "KNOBS",
    "PRIVACY_CLASS_AT",
    "PRIVATE_AT",
    "fair_end",
    "front_frame",
    "knobs_on",
    "privacy_cost_class",
    "study_entry",
]

#: The fairness knobs, in the order the page lists them.
KNOBS: tuple[str, ...] = ("fair_weight", "reweigh", "fair_target", "group_thresholds")
#: The validation gap under which a configuration belongs to a study's fair end.
FAIR_END_GAP = FAIRNESS_LEVELS[0]
#: Price at epsilon <= PRIVACY_CLASS_AT, in accuracy points: below the first
#: bound "nearly free", up to the second "moderate", above it "expensive".
PRIVACY_CLASS_AT = 1.0
PRIVACY_CLASS_BOUNDS = (1.0, 3.0)
#: The epsilon limit under which the atlas prices fairness a second time: does a
#: gap limit cost more accuracy when the model must be private as well?
PRIVATE_AT = 1.0

def knobs_on(params: Mapping[str, Any]) -> list[str]:
    """The fairness knobs a configuration switches on (the off zones of ``Knobs``)."""
    k = Knobs.from_params(params)
    on = {"fair_weight": k.fair_weight > 0, "reweigh": k.reweigh > 0,
          "group_thresholds": k.group_thresholds is not None,
          "fair_target": k.fair_target is not None}
    return [name for name in KNOBS if on[name]]


# ---- one study's facts -------------------------------------------------------------


def study_entry(study: optuna.Study, *, n_seeds: int, report: str) -> dict[str, Any]:
    """What the atlas says about one study, from its cached re-evaluations.

    Args:
        study: A trifront study whose report was written with ``n_seeds``.
        n_seeds: Re-evaluation runs per front configuration.
        report: Path of the study's ``index.html``, relative to the atlas.

    Returns:
        ``study``, ``n_trials``, ``majority_rate`` (the constant predictor's test
        accuracy), ``majority_rate_validation``, ``report``, ``front``,
        ``price_of_privacy``, ``price_of_fairness``,
        ``price_of_fairness_private`` (the price of each gap limit when epsilon
        is at most ``PRIVATE_AT`` as well, against the choice at that epsilon
        alone), ``references`` (the report's non-private models: tuned for
        accuracy, and Fairlearn's fair ceilings; cached in the study),
        ``choices`` (the choice under every pair of an epsilon limit and a gap
        limit, with its knobs: the decision guide's table), ``fair_end``,
        ``privacy_cost_class``.
    """
    problem = study_problem(study)
    constant_test = constant_test_accuracy(problem)
    constant_val = float(study_settings(study).get("majority_rate", math.nan))

    def choose(lim: Limits) -> dict[str, Any]:
        rec = recommend(study, max_epsilon=lim.max_epsilon, max_unfairness=lim.max_unfairness,
                        n_seeds=n_seeds, progress=False)
        return _chosen(rec, constant_test)

    free = choose(Limits())
    privacy = _prices(free, {f"{e:g}": Limits(max_epsilon=e) for e in PRIVACY_LEVELS}, choose)
    fairness = _prices(free, {f"{u:g}": Limits(max_unfairness=u) for u in FAIRNESS_LEVELS},
                       choose)
    private = _prices(choose(Limits(max_epsilon=PRIVATE_AT)),
                      {f"{u:g}": Limits(max_epsilon=PRIVATE_AT, max_unfairness=u)
                       for u in FAIRNESS_LEVELS}, choose)
    front = front_frame(study, n_seeds=n_seeds)
    knobs = {int(t): list(k) for t, k in zip(front["trial"], front["knobs"], strict=True)}
    choices = []
    for e in PRIVACY_LEVELS:
        for u in FAIRNESS_LEVELS:
            c = choose(Limits(max_epsilon=e, max_unfairness=u))
            choices.append({"max_epsilon": e, "max_unfairness": u, **c,
                            "knobs": knobs.get(c["trial"], []) if c["trial"] is not None
                            else None})
    return {
        "study": study.study_name,
        "n_trials": counted_trials(study),
        "majority_rate": constant_test,
        "majority_rate_validation": constant_val,
        "delta": problem.delta,
        "report": report,
        "front": [_front_record(r) for _, r in front.iterrows()],
        "price_of_privacy": privacy,
        "price_of_fairness": fairness,
        "price_of_fairness_private": {"max_epsilon": PRIVATE_AT, **private},
        "references": [r.to_dict() for r in references(study, problem)],
        "choices": choices,
        "fair_end": fair_end(front, constant_validation=constant_val),
        "privacy_cost_class": privacy_cost_class(privacy["limits"][f"{PRIVACY_CLASS_AT:g}"]
                                                 ["price_points"]),
    }


def front_frame(study: optuna.Study, *, n_seeds: int) -> pd.DataFrame:
    """The report's front with its test and validation re-evaluation means (cached runs).

    Args:
        study: A trifront study.
        n_seeds: Re-evaluation runs per configuration (only missing ones are trained).

    Returns:
        One row per front configuration, sorted by epsilon: the columns of
        ``reevaluate`` on test, ``val_mean_accuracy``, ``val_mean_unfairness``,
        ``uses_sensitive_at_prediction`` and ``knobs`` (the knobs switched on).
    """
    test = reevaluate(study, n_seeds=n_seeds, progress=False)
    trials = [int(t) for t in test["trial"]]
    val = reevaluate(study, trials=trials, n_seeds=n_seeds, progress=False, split="val")
    frame = test.merge(val[["trial", "val_mean_accuracy", "val_mean_unfairness"]], on="trial",
                       how="left")
    attrs = {t.number: t.user_attrs for t in study.get_trials(deepcopy=False)}
    return frame.assign(
        uses_sensitive_at_prediction=[bool(attrs[t].get("uses_sensitive_at_prediction", False))
                                      for t in trials],
        knobs=[knobs_on(p) for p in frame["params"]],
    )


def _front_record(row: pd.Series) -> dict[str, Any]:
    keys = ("epsilon", "val_mean_accuracy", "val_mean_unfairness", "test_accuracy",
            "test_accuracy_std", "test_unfairness", "test_unfairness_std")
    return {"trial": int(row["trial"]), "params": dict(row["params"]),
            **{k: float(row[k]) for k in keys},
            "search_val_accuracy": float(row["val_accuracy"]),
            "search_val_unfairness": float(row["val_unfairness"]),
            "on_test_front": bool(row["on_test_front"]),
            "uses_sensitive_at_prediction": bool(row["uses_sensitive_at_prediction"]),
            "knobs": list(row["knobs"])}


def _chosen(rec: Recommendation, constant_test: float) -> dict[str, Any]:
    """The choice of a recommendation, or the constant predictor when nothing qualifies."""
    o = rec.choice
    if o is None:
        return {"constant": True, "trial": None, "epsilon": 0.0,
                "val_accuracy": rec.constant_accuracy, "val_unfairness": 0.0,
                "test_accuracy": constant_test, "test_accuracy_std": None,
                "test_unfairness": 0.0, "test_unfairness_std": None}
    return {"constant": False, "trial": o.trial, "epsilon": o.epsilon,
            "val_accuracy": o.val_accuracy, "val_unfairness": o.val_unfairness,
            "test_accuracy": o.test_accuracy, "test_accuracy_std": o.test_accuracy_std,
            "test_unfairness": o.test_unfairness, "test_unfairness_std": o.test_unfairness_std}


def _prices(free: dict[str, Any], limits: Mapping[str, Limits],
            choose: Callable[[Limits], dict[str, Any]]) -> dict[str, Any]:
    """The choice under each limit and its price against ``free``, in accuracy points."""
    out: dict[str, Any] = {}
    for key, lim in limits.items():
        c = choose(lim)
        out[key] = {"max_epsilon": _finite(lim.max_epsilon),
                    "max_unfairness": _finite(lim.max_unfairness), **c,
                    "price_points": 100.0 * (free["test_accuracy"] - c["test_accuracy"])}
    return {"selected_by": "validation", "scored_on": "test", "no_limit": free, "limits": out}


def fair_end(front: pd.DataFrame, *, constant_validation: float,
             max_unfairness: float = FAIR_END_GAP) -> dict[str, Any] | None:
    """Which knobs are on at the fair end of a front (validation means), or None.

    The fair end: front configurations whose mean validation gap is at most
    ``max_unfairness`` and whose mean validation accuracy beats the constant
    predictor's. Its most accurate one is the best validation mean (ties: smaller
    epsilon, then smaller gap): a description of the front, on the same means as the
    front's table. ``recommend``'s choice (the ``choices`` entries) also confirms
    its leaders with more runs and reads the pooled gap, so the two can differ.

    Args:
        front: :func:`front_frame` rows (``val_mean_*``, ``test_*``, ``knobs``).
        constant_validation: The constant predictor's validation accuracy.
        max_unfairness: The gap limit of the fair end.

    Returns:
        ``n_configurations``, ``knob_counts`` (per knob, and ``none`` for plain
        DP-SGD) and the ``most_accurate`` one with its knobs; None if none qualifies.
    """
    acc, gap = "val_mean_accuracy", "val_mean_unfairness"
    fair = front[(front[gap] <= max_unfairness) & (front[acc] > constant_validation)]
    if fair.empty:
        return None
    best = best_under(fair, Limits(max_unfairness=max_unfairness), accuracy=acc,
                      unfairness=gap)
    if best is None:  # every row of ``fair`` meets the limit: not reached
        return None
    counts = {k: int(sum(k in ks for ks in fair["knobs"])) for k in KNOBS}
    counts["none"] = int(sum(not ks for ks in fair["knobs"]))
    return {"max_unfairness": max_unfairness, "n_configurations": len(fair),
            "knob_counts": counts,
            "most_accurate": {"trial": int(best["trial"]), "knobs": list(best["knobs"]),
                              "epsilon": float(best["epsilon"]),
                              "val_accuracy": float(best[acc]), "val_unfairness": float(best[gap]),
                              "test_accuracy": float(best["test_accuracy"]),
                              "test_unfairness": float(best["test_unfairness"])}}


def privacy_cost_class(price_points: float | None) -> str:
    """The class of a price of privacy in accuracy points.

    Returns:
        ``"nearly free"`` below 1 point, ``"moderate"`` from 1 to 3, ``"expensive"``
        above 3 (:data:`PRIVACY_CLASS_BOUNDS`), ``"unknown"`` for a missing price.
    """
    low, high = PRIVACY_CLASS_BOUNDS
    if price_points is None or not math.isfinite(price_points):
        return "unknown"
    return "nearly free" if price_points < low else "moderate" if price_points <= high \
        else "expensive"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
