"""The written part of the report: trade-offs in numbers, and what epsilon does not cover.

Functions here turn analysis tables into short sentences (plain strings with
light Markdown: ``**bold**`` only), used both in ``summary.md`` and in
``index.html``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from trifront.analysis.references import Reference
from trifront.analysis.tradeoffs import FAIRNESS_LEVELS, PRIVACY_LEVELS, Limits, best_under
from trifront.analysis.tuning import TuningPrivacy
from trifront.caveats import active_caveats, single_epsilon_caveats
from trifront.study import SEARCHED_KEY

__all__ = [
    "ReportFacts",
    "epsilon_caveats",
    "refinement_lines",
    "summary_lines",
    "summary_markdown",
]

COMBINED = Limits(1.0, 0.05)


@dataclass(frozen=True)
class ReportFacts:
    """What the summary talks about.

    Attributes:
        study_name: The study.
        settings: ``study.user_attrs["trifront"]``.
        n_complete: Completed trials.
        n_failed: Failed trials.
        front_size: Configurations on the validation Pareto front.
        points: The front with ``accuracy_col``/``unfairness_col`` and ``epsilon``
            (test re-evaluation, or validation values when not re-evaluated).
        tested: Whether ``points`` hold test re-evaluations.
        n_seeds: Seeds per re-evaluated configuration.
        references: The tuned non-private references
            (:func:`trifront.analysis.references.references`); empty when the
            report was made without test re-evaluation.
        constant_accuracy: Accuracy of the constant majority-class predictor.
    """

    study_name: str
    settings: Mapping[str, Any]
    n_complete: int
    n_failed: int
    front_size: int
    points: pd.DataFrame
    tested: bool
    n_seeds: int
    references: Sequence[Reference]
    constant_accuracy: float

    @property
    def accuracy_col(self) -> str:
        """Accuracy column of ``points``."""
        return "test_accuracy" if self.tested else "accuracy"

    @property
    def unfairness_col(self) -> str:
        """Unfairness column of ``points``."""
        return "test_unfairness" if self.tested else "unfairness"

    @property
    def split(self) -> str:
        """"test" or "validation"."""
        return "test" if self.tested else "validation"


def _pm(row: pd.Series, col: str) -> str:
    std = row.get(f"{col}_std")
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{row[col]:.3f}"
    return f"{row[col]:.3f} ± {std:.3f}"


def _points(diff: float) -> str:
    """``diff`` (accuracy) as "x.y points below" / "x.y points above"."""
    return f"{100 * abs(diff):.1f} points {'below' if diff >= 0 else 'above'}"


def _best(f: ReportFacts, limits: Limits) -> pd.Series | None:
    return best_under(f.points, limits, accuracy=f.accuracy_col, unfairness=f.unfairness_col)


def refinement_lines(refinements: Sequence[Mapping[str, Any]], n_trials: int) -> list[str]:
    """One sentence per ``trifront refine`` of the study: which trials aimed where."""
    lines = []
    for k, r in enumerate(refinements):
        first = int(r["first_trial"])
        last = (int(refinements[k + 1]["first_trial"]) if k + 1 < len(refinements)
                else n_trials) - 1
        span = f"trials {first}–{last}" if last > first else f"trial {first}"
        lines.append(f"Refined: {span} (asked for {r['trials']}) aimed at ε ≤ "
                     f"{r['max_epsilon']:g} and gap ≤ {r['max_unfairness']:g} "
                     "(`trifront refine`); the front and every number here use all trials.")
    return lines


def summary_lines(f: ReportFacts) -> list[str]:
    """The trade-offs in numbers, one sentence per line."""
    p = f.settings.get("problem", {})
    metric = p.get("fairness", "demographic_parity").replace("_", " ")
    lines = [
        f"Study **{f.study_name}**: {p.get('model')} on {p.get('dataset')}, fairness gap = "
        f"{metric} difference, epsilon at delta = {p.get('delta', 1e-5):g} "
        f"({p.get('accountant', 'pld')} accountant). {f.n_complete} completed trials"
        f"{f', {f.n_failed} failed' if f.n_failed else ''}; {f.front_size} on the Pareto front.",
    ]
    searched = f.settings.get(SEARCHED_KEY)
    if searched == ["accuracy", "epsilon"]:
        lines.append("This study searched the **2-D privacy-utility front** (accuracy, epsilon; "
                     "DPareto's front): the fairness knobs were not searched, and the gap is "
                     "measured and shown but takes no part in the front.")
    elif searched == ["accuracy", "unfairness"]:
        lines.append("This study searched the **2-D fairness-utility front** (accuracy, gap) "
                     "with every trial at one target epsilon: epsilon takes no part in the "
                     "front.")
    if f.tested:
        lines.append(f"Numbers below are on the untouched **test** split, mean ± std over "
                     f"{f.n_seeds} training seeds per configuration.")
    else:
        lines.append("Numbers below are **validation** values of one training each (the "
                     "report was made without test re-evaluation).")
    acc, gap = f.accuracy_col, f.unfairness_col
    top = _best(f, Limits())
    if top is None:
        lines.append("No configuration has usable results yet.")
        return lines
    lines.append(f"Best accuracy on the front: **{_pm(top, acc)}** (trial {int(top['trial'])}, "
                 f"epsilon {top['epsilon']:.3g}, gap {_pm(top, gap)}).")
    ref_acc = None
    for r in f.references:
        if r.limit is None:
            ref_acc = r.test_accuracy
            lines.append(f"Non-private reference, tuned for itself ({r.method}): accuracy "
                         f"{r.test_accuracy:.3f}, gap {r.test_unfairness:.3f}.")
        else:
            lines.append(f"Non-private fair ceiling at gap ≤ {r.limit:g} ({r.method}): "
                         f"accuracy {r.test_accuracy:.3f}, test gap {r.test_unfairness:.3f}.")
    lines.append(f"Constant predictor (always the majority class of the training rows): accuracy "
                 f"{f.constant_accuracy:.3f}, gap 0 — the floor any model must beat.")
    base = ref_acc if ref_acc is not None else float(top[acc])
    base_name = ("the tuned non-private model" if ref_acc is not None
                 else "the best on the front")
    def price(limits: dict[str, Limits], against: float, name: str) -> str:
        parts = []
        for label, lim in limits.items():
            row = _best(f, lim)
            parts.append(f"{label}: " + ("none" if row is None else
                         f"{row[acc]:.3f} ({_points(against - row[acc])} {name})"))
        return "; ".join(parts)

    privacy = {f"ε ≤ {e:g}": Limits(max_epsilon=e) for e in PRIVACY_LEVELS}
    fairness = {f"gap ≤ {u:g}": Limits(max_unfairness=u) for u in FAIRNESS_LEVELS}
    lines.append("**Price of privacy** (best accuracy, any gap): "
                 + price(privacy, base, base_name) + ".")
    lines.append("**Price of fairness** (best accuracy, any epsilon): "
                 + price(fairness, float(top[acc]), "the best") + ".")
    row = _best(f, COMBINED)
    if row is None:
        lines.append(f"At {COMBINED.label()}: no configuration of this study qualifies.")
    else:
        trivial = row[acc] <= f.constant_accuracy + 0.005
        lines.append(
            f"At {COMBINED.label()}: best accuracy {_pm(row, acc)} (trial {int(row['trial'])}"
            f", gap {_pm(row, gap)})"
            + (" — **no better than the constant predictor**." if trivial else ".")
        )
    if f.tested and "on_test_front" in f.points:
        off = f.points[~f.points["on_test_front"].astype(bool)]
        drop = (f.points["val_accuracy"] - f.points["test_accuracy"]).max()
        lines.append(
            f"{len(off)} of {len(f.points)} front configurations fall off the front on test"
            + (f" (trials {', '.join(str(int(t)) for t in off['trial'])})" if len(off) else "")
            + f"; the largest validation-to-test accuracy drop is {drop:+.3f}."
        )
    return lines


def epsilon_caveats(
    *, delta: float, n_trials: int, tuning: TuningPrivacy | None, tuning_asked: bool,
    flags: Mapping[str, bool] | None = None, cv_folds: int = 1,
) -> list[str]:
    """Plain-language box: what a single epsilon does not cover.

    The caveats of the study's flags (seeded noise, a schema taken from the
    data, public statistics) come first: they weaken every epsilon shown.
    """
    lines = [f"**Warning:** {text}" for text in active_caveats(flags or {})]
    lines += single_epsilon_caveats(delta=delta, n_trials=n_trials, cv_folds=cv_folds)
    lines += [
        "The non-private references (tuned, and fair with Fairlearn) and the constant "
        "predictor are comparisons, not candidates: the references have no privacy "
        "guarantee at all.",
    ]
    if tuning is not None:
        lines.append(
            f"**Conservative estimate of the whole study** ({tuning.n_runs} DP-SGD runs: "
            f"{tuning.n_search_runs} search trials, {tuning.n_reevaluation_runs} test "
            f"re-evaluation runs): basic composition ε = {tuning.basic_epsilon:.3g} at δ = "
            f"{tuning.delta_total:.2g} (sound even for an adaptive search); RDP composition "
            f"ε ≈ {tuning.rdp_epsilon:.3g} at the same δ (tighter, but assumes the runs' "
            "settings were fixed in advance). Largest single run: ε = "
            f"{tuning.largest_single_epsilon:.3g}."
        )
        shown = ("Basic", "Validation", "The non")  # already said above
        lines.extend(n for n in tuning.notes if not n.startswith(shown))
    elif not tuning_asked:
        lines.append("Run `trifront report ... --tuning-privacy` for a conservative estimate of "
                     "the privacy cost of the whole search.")
    return lines


def summary_markdown(title: str, lines: list[str], caveats: list[str]) -> str:
    """``summary.md``: the summary and the caveats as Markdown bullet lists."""
    out = [f"# {title}", "", "## Trade-offs in numbers", ""]
    out += [f"- {line}" for line in lines]
    out += ["", "## What epsilon does not cover", ""]
    out += [f"- {line}" for line in caveats]
    return "\n".join(out) + "\n"
