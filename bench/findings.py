"""The tables of docs/FINDINGS.md, printed from an atlas's ``atlas.json`` (issue 20).

Every number printed here is read from ``atlas.json`` (written by ``trifront
atlas``), which itself holds each study's report numbers: the re-evaluated
fronts, the choices made on validation and scored on test, and the report's
non-private references. Nothing is trained.

Usage::

    python bench/findings.py atlas-run/atlas.json > /tmp/tables.md
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from typing import Any

GAPS = ("0.02", "0.05", "0.1")
EPSILONS = ("0.5", "1", "3")


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _pts(c: Mapping[str, Any]) -> str:
    text = _f(c["price_points"], 1)
    return f"{text}ᶜ" if c["constant"] else text


def _short(s: Mapping[str, Any]) -> str:
    metric = "DP" if s["fairness_metric"] == "demographic_parity" else "EO"
    return f"{s['dataset']} {s['model']} {metric}"


def _reference(s: Mapping[str, Any], limit: float | None) -> Mapping[str, Any] | None:
    for r in s["references"]:
        if r.get("limit") == limit:
            return r
    return None


def prices(studies: list[dict]) -> None:
    print("### Prices (accuracy points; chosen on validation, scored on test; ᶜ = the constant "
          "predictor was the choice)\n")
    head = ["study", "majority", "best acc (ε, gap)", *[f"ε≤{e}" for e in EPSILONS],
            *[f"gap≤{g}" for g in GAPS], *[f"gap≤{g} at ε≤1" for g in GAPS], "class",
            "fair end (gap≤0.02)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for s in studies:
        free = s["price_of_privacy"]["no_limit"]
        end = s["fair_end"]
        knob = ("–" if end is None else
                " + ".join(end["most_accurate"]["knobs"]) or "plain DP-SGD")
        row = [_short(s), _f(s["majority_rate"]),
               f"{_f(free['test_accuracy'])} ({_f(free['epsilon'], 2)}, "
               f"{_f(free['test_unfairness'])})",
               *[_pts(s["price_of_privacy"]["limits"][e]) for e in EPSILONS],
               *[_pts(s["price_of_fairness"]["limits"][g]) for g in GAPS],
               *[_pts(s["price_of_fairness_private"]["limits"][g]) for g in GAPS],
               s["privacy_cost_class"], knob]
        print("| " + " | ".join(row) + " |")
    print()


def disparate_impact(studies: list[dict]) -> None:
    print("### Claim 1: does DP-SGD make the model less fair? (test gaps of the most accurate "
          "choice, no gap limit)\n")
    head = ["study", "non-private tuned: acc / gap", "no ε limit: acc / gap",
            "ε≤3: acc / gap", "ε≤1: acc / gap", "ε≤0.5: acc / gap"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for s in studies:
        ref = _reference(s, None)
        cells = [_short(s), "–" if ref is None else
                 f"{_f(ref['test_accuracy'])} / {_f(ref['test_unfairness'])}"]
        free = s["price_of_privacy"]["no_limit"]
        cells.append(f"{_f(free['test_accuracy'])} / {_f(free['test_unfairness'])}")
        for e in ("3", "1", "0.5"):
            c = s["price_of_privacy"]["limits"][e]
            cells.append(f"{_f(c['test_accuracy'])} / {_f(c['test_unfairness'])}"
                         + ("ᶜ" if c["constant"] else ""))
        print("| " + " | ".join(cells) + " |")
    print()


def fairness_under_dp(studies: list[dict]) -> None:
    print("### Claim 3: does a gap limit cost more under DP? (accuracy points)\n")
    head = ["study", *[f"non-private, gap≤{g}" for g in GAPS[:2]],
            *[f"no ε limit, gap≤{g}" for g in GAPS[:2]],
            *[f"ε≤1, gap≤{g}" for g in GAPS[:2]]]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for s in studies:
        tuned = _reference(s, None)
        cells = [_short(s)]
        for g in GAPS[:2]:
            fair = _reference(s, float(g))
            cells.append("–" if tuned is None or fair is None else
                         _f(100 * (tuned["test_accuracy"] - fair["test_accuracy"]), 1))
        cells += [_pts(s["price_of_fairness"]["limits"][g]) for g in GAPS[:2]]
        cells += [_pts(s["price_of_fairness_private"]["limits"][g]) for g in GAPS[:2]]
        print("| " + " | ".join(cells) + " |")
    print()


def decision_guide(studies: list[dict]) -> None:
    print("### Decision guide: the validation choice over both models, per data set and metric "
          "(test accuracy, model + knobs)\n")
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in studies:
        groups.setdefault((s["dataset"], s["fairness_metric"]), []).append(s)
    for (dataset, metric), group in groups.items():
        majority = _f(group[0]["majority_rate"])
        print(f"**{dataset}, {metric.replace('_', ' ')}** (majority {majority})\n")
        print("| ε ≤ | " + " | ".join(f"gap ≤ {g}" for g in GAPS) + " |")
        print("|---|" + "---|" * len(GAPS))
        for e in EPSILONS:
            cells = []
            for g in GAPS:
                options = []
                for s in group:
                    c = next(c for c in s["choices"]
                             if f"{c['max_epsilon']:g}" == e and f"{c['max_unfairness']:g}" == g)
                    options.append((c["val_accuracy"] or -1, s["model"], c))
                _, model, best = max(options, key=lambda o: o[0])
                if best["constant"]:
                    cells.append(f"{_f(best['test_accuracy'])} (constant)")
                else:
                    knobs = " + ".join(best["knobs"] or []) or "no knob"
                    cells.append(f"{_f(best['test_accuracy'])} ({model}, {knobs}; gap "
                                 f"{_f(best['test_unfairness'])})")
            print(f"| {e} | " + " | ".join(cells) + " |")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("atlas_json")
    args = parser.parse_args()
    with open(args.atlas_json, encoding="utf-8") as fh:
        data = json.load(fh)
    studies = data["studies"]
    print(f"atlas: {len(studies)} studies, {data['settings']['trials']} trials each, "
          f"{data['settings']['seeds']} seeds, {data['seconds']:.0f} s\n")
    prices(studies)
    disparate_impact(studies)
    fairness_under_dp(studies)
    decision_guide(studies)


if __name__ == "__main__":
    main()
