"""Fairness knobs on Adult / logistic regression under DP-SGD: gap vs lambda, knobs, headline.

Parts (``--part``):

* ``lambda``: at epsilon = 1 (delta = 1e-5, composed with the knob's
  statistics), the test demographic-parity gap and accuracy vs the fair-loss
  weight lambda, each averaged over ``--seeds`` retraining seeds;
* ``knobs``: each knob alone (lambda, alpha, group thresholds) at a setting
  that reaches a small gap, averaged over the seeds;
* ``search``: a small targeted search over knob combinations on the
  *validation* split (2 seeds), ranked by validation accuracy among those with
  validation gap <= 0.015;
* ``headline``: the configuration(s) in ``--config`` (JSON list of parameter
  dicts; default: the built-in headline) retrained on ``--seeds`` seeds and
  scored on the *test* split;
* ``target`` (issue 16): without the sensitive attribute as an input, the
  fair target against reweighing and λ, each with the last iterate and with
  tail averaging, across DP-SGD settings (how wide each knob's good region
  is), for demographic parity and equalized odds.

Usage::

    python bench/fairness.py --part lambda
    python bench/fairness.py --part knobs
    python bench/fairness.py --part search
    python bench/fairness.py --part headline
    python bench/fairness.py --part target

Writes ``bench/results/fairness-<part>.json``. Not a test: numbers depend on the
seeds; training is single-threaded (``torch.set_num_threads(1)``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from trifront.problem import Problem
from trifront.trial import evaluate

BASE: dict[str, Any] = {"target_epsilon": 1.0, "clip": 2.0, "lr": 2.0, "batch_size": 512,
                        "epochs": 8}
LAMBDAS = (0.0, 0.1, 0.3, 0.6, 1.0, 2.0)
KNOBS: dict[str, dict[str, Any]] = {
    "plain DP-SGD": {},
    "fair_weight=1": {"fair_weight": 1.0},
    "reweigh=1": {"reweigh": 1.0},
    "reweigh=1, clip=5": {"reweigh": 1.0, "clip": 5.0, "lr": 1.0},
    "fair_weight=3, lr=1": {"fair_weight": 3.0, "lr": 1.0},
    "reweigh=2.5": {"reweigh": 2.5},
    "reweigh=2.75": {"reweigh": 2.75},
    "group_thresholds=0.01": {"group_thresholds": 0.01},
}
#: (metric, label, parameters) of the ``target`` part, all at epsilon 1.
SETTINGS: dict[str, dict[str, Any]] = {
    "base (clip 2, lr 2, batch 512, 8 epochs)": {},
    "clip 1": {"clip": 1.0}, "clip 0.5": {"clip": 0.5}, "lr 1": {"lr": 1.0},
    "batch 256": {"batch_size": 256}, "16 epochs": {"epochs": 16},
    "epsilon 0.5": {"target_epsilon": 0.5},
}
TARGET_KNOBS: list[tuple[str, dict[str, Any]]] = [
    ("demographic_parity", {"reweigh": 2.5}),
    ("demographic_parity", {"fair_target": 0.005}),
    ("equalized_odds", {"fair_weight": 1.2, "reweigh": 1.0}),
    ("equalized_odds", {"fair_target": 0.0}),
]
HEADLINE: list[dict[str, Any]] = [
    {**BASE, "fair_weight": 1.0, "group_thresholds": 0.01},
]


def _evaluate(problem: Problem, params: dict[str, Any], seeds: list[int], split: str
              ) -> dict[str, Any]:
    rows = [evaluate(problem, params, seed=s, split=split) for s in seeds]
    acc = [r.accuracy for r in rows]
    gap = [r.unfairness for r in rows]
    return {
        "params": params,
        "split": split,
        "seeds": seeds,
        "accuracy_mean": statistics.fmean(acc),
        "accuracy_std": statistics.pstdev(acc),
        "gap_mean": statistics.fmean(gap),
        "gap_std": statistics.pstdev(gap),
        "gap_max": max(gap),
        "epsilon": max(r.epsilon for r in rows),
        "epsilon_sgd": rows[0].epsilon_sgd,
        "epsilon_stats": rows[0].epsilon_stats,
        "epsilon_rdp": max(r.epsilon_rdp for r in rows),
        "uses_sensitive_at_prediction": rows[0].uses_sensitive_at_prediction,
        "accuracy": acc,
        "gap": gap,
    }


def _line(label: str, r: dict[str, Any]) -> str:
    return (f"{label:<34} acc {r['accuracy_mean']:.4f} ± {r['accuracy_std']:.4f}   "
            f"gap {r['gap_mean']:.4f} ± {r['gap_std']:.4f} (max {r['gap_max']:.4f})   "
            f"eps {r['epsilon']:.3f} = sgd {r['epsilon_sgd']:.3f} ⊕ stats "
            f"{r['epsilon_stats']:.3f}")


def main() -> None:
    """Run one part and write its JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("lambda", "knobs", "search", "headline", "target"),
                    required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--stats-share", type=float, default=0.5)
    ap.add_argument("--config", help="JSON file: a list of parameter dicts (headline)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    problem = Problem(stats_share=args.stats_share)
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    out: list[dict[str, Any]] = []
    if args.part == "lambda":
        for lam in LAMBDAS:
            r = _evaluate(problem, {**BASE, "fair_weight": lam}, seeds, "test")
            out.append(r)
            print(_line(f"lambda={lam:g}", r), flush=True)
    elif args.part == "knobs":
        for label, knob in KNOBS.items():
            r = _evaluate(problem, {**BASE, **knob}, seeds, "test")
            out.append({"label": label, **r})
            print(_line(label, r), flush=True)
    elif args.part == "search":
        grid = itertools.product((1.0, 2.0), (512, 1024), (8,), (0.0, 0.6, 1.0),
                                 (0.005, 0.01, 0.015))
        for lr, batch, epochs, lam, gap in grid:
            params = {**BASE, "lr": lr, "batch_size": batch, "epochs": epochs,
                      "fair_weight": lam, "group_thresholds": gap}
            r = _evaluate(problem, params, [100, 101], "val")
            out.append(r)
            print(_line(f"lr={lr} b={batch} e={epochs} lam={lam} t={gap}", r), flush=True)
        ok = [r for r in out if r["gap_mean"] <= 0.015]
        ok.sort(key=lambda r: -r["accuracy_mean"])
        print("\nbest on validation with gap <= 0.015:")
        for r in ok[:5]:
            print(_line(json.dumps({k: r["params"][k] for k in ("lr", "batch_size", "epochs",
                                   "fair_weight", "group_thresholds")}), r))
    elif args.part == "target":
        for metric, knob in TARGET_KNOBS:
            for average in (0.0, 0.5):
                p = Problem(stats_share=args.stats_share, fairness=metric,
                            sensitive_input=False, tail_average=average)
                for label, setting in SETTINGS.items():
                    r = _evaluate(p, {**BASE, **setting, **knob}, seeds, "test")
                    out.append({"metric": metric, "knob": knob, "tail_average": average,
                                "setting": label, **r})
                    print(_line(f"{metric[:6]} {json.dumps(knob)} avg={average} {label}", r),
                          flush=True)
    else:
        configs = json.loads(Path(args.config).read_text()) if args.config else HEADLINE
        for params in configs:
            r = _evaluate(problem, params, seeds, "test")
            out.append(r)
            print(_line("headline", r), flush=True)
            ok = r["accuracy_mean"] >= 0.825 and r["gap_mean"] <= 0.02 and r["epsilon"] <= 1
            print(f"  target (acc >= 0.825, gap <= 0.02, eps <= 1): {'MET' if ok else 'NOT met'}")
    result = {
        "part": args.part,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor()} ({platform.node()})",
        "stats_share": args.stats_share,
        "seconds": time.perf_counter() - start,
        "results": out,
    }
    path = Path(__file__).parent / "results" / f"fairness-{args.part}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
