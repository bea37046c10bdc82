"""``trifront recommend``: the configuration to deploy under limits on epsilon and gap.

Exit codes: 0 also when no configuration meets the limits (it says so, lists
the nearest options and, with ``--json``, prints ``"recommendation": null``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from trifront.cli.common import add_storage_flag, number
from trifront.cli.evaluate import evaluate_command
from trifront.cli.export import add_export_flags, export_and_print
from trifront.cli.report import add_seed_flags
from trifront.settings import DEFAULT_STORAGE

_LIMIT = number(low=0, low_inclusive=True, inf=True)


def add_parser(sub: Any) -> None:
    rec = sub.add_parser(
        "recommend", help="the configuration to deploy under epsilon and fairness limits",
        description="Retrain the front configurations within --max-epsilon over --seeds runs, "
        "each trained without one fifth of the non-test rows and scored on it (5-fold "
        "cross-validation), retrain the best few that qualify as many runs again, choose the one "
        "with the best mean validation accuracy whose validation gap (the gap one run is expected "
        "to have, from its runs' held-out decisions without each fold's sampling noise) is <= "
        "--max-unfairness, then score that one configuration on the "
        "test split and print its test numbers (unbiased by the choice) with a command that "
        "retrains it. When none qualifies it says so, lists the nearest options and exits 0 (JSON: "
        "\"recommendation\": null).",
    )
    rec.add_argument("study", nargs="?", help="study name (optional if the storage has one)")
    rec.add_argument("--max-epsilon", type=_LIMIT, required=True,
                     help="largest acceptable epsilon at the study's delta ('inf': no limit)")
    rec.add_argument("--max-unfairness", type=_LIMIT, required=True,
                     help="largest acceptable validation fairness gap: the gap one run is expected "
                     "to have, from the runs' held-out decisions ('inf': no limit)")
    add_storage_flag(rec)
    add_seed_flags(rec)
    rec.add_argument("--json", action="store_true", help="print JSON")
    rec.add_argument("--export", metavar="DIR",
                     help="also export the recommended configuration to DIR: train it once, "
                     "score it once on test, write the model and its card (as `trifront "
                     "export`); nothing is exported when no configuration qualifies")
    add_export_flags(rec)


def _fmt_pm(mean: float, std: float | None) -> str:
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {std:.4f}"


def _print_option(o: Any, metric: str) -> None:
    print(f"  trial {o.trial}: test accuracy {_fmt_pm(o.test_accuracy, o.test_accuracy_std)}, "
          f"{metric} gap {_fmt_pm(o.test_unfairness, o.test_unfairness_std)}, "
          f"epsilon {o.epsilon:.4g} (delta {o.delta:g})")


def main(args: argparse.Namespace) -> int:
    from trifront.analysis.recommend import check_limits, recommend
    from trifront.deploy.command import export_command
    from trifront.study import load_study, refuse_private_tuning, study_problem

    check_limits(max_epsilon=args.max_epsilon, max_unfairness=args.max_unfairness)
    if args.export:
        from trifront.deploy.export import check_target

        check_target(args.export, overwrite=args.overwrite)  # refuse before re-evaluating
    study = load_study(args.storage or DEFAULT_STORAGE, args.study)
    refuse_private_tuning(study, "recommend")
    problem = study_problem(study)
    result = recommend(study, max_epsilon=args.max_epsilon, max_unfairness=args.max_unfairness,
                       n_seeds=args.seeds, progress=not args.no_progress)

    def command(o: Any) -> str:
        return evaluate_command(problem, o.params, seed=o.seeds[0])

    storage = args.storage or DEFAULT_STORAGE
    exported = None
    if args.export and result.choice is not None:
        model = export_and_print(study, result.choice.trial, args.export, storage_url=storage,
                                 overwrite=args.overwrite, data_sha256=args.data_sha256,
                                 stream=sys.stderr if args.json else sys.stdout)
        exported = {"directory": str(args.export), "epsilon": model.card["epsilon"],
                    "test_accuracy": model.card["test_accuracy"],
                    "test_unfairness": model.card["test_unfairness"],
                    "uses_sensitive_at_prediction": model.card["uses_sensitive_at_prediction"]}
    elif args.export:
        print(f"no configuration meets the limits: nothing exported to {args.export}.",
              file=sys.stderr)
    if args.json:
        out = result.to_dict()
        out["export"] = exported
        if result.choice is not None:
            out["command"] = out["recommendation"]["command"] = command(result.choice)
            out["export_command"] = export_command(
                study.study_name, trial=result.choice.trial, out=args.export or
                f"model-trial-{result.choice.trial}", storage_url=storage)
        for near, entry in zip(result.nearest, out["nearest"], strict=True):
            entry["command"] = command(near)
        print(json.dumps(out, indent=2, allow_nan=False))
        return 0
    metric = result.fairness_metric.replace("_", " ")
    limits = result.limits.label()
    o = result.choice
    if o is None:
        print(f"No configuration of study {study.study_name!r} meets {limits} and beats the "
              f"constant predictor on the validation rows ({result.n_candidates} front "
              "configurations re-evaluated).")
        if math.isfinite(result.constant_accuracy):
            test = (f", {result.constant_test_accuracy:.4f} on test"
                    if math.isfinite(result.constant_test_accuracy) else "")
            print(f"The constant predictor (always the majority class: accuracy "
                  f"{result.constant_accuracy:.4f} on validation{test}, epsilon 0, gap 0) is "
                  "the honest choice under these limits.")
        if result.nearest:
            print("Nearest options:")
            for near in result.nearest:
                _print_option(near, metric)
                print(f"    retrain: {command(near)}")
        _print_caveats(result)
        return 0
    vs = o.val_seeds or o.seeds
    print(f"Recommended under {limits}: trial {o.trial} of study {study.study_name!r}")
    print(f"  chosen on validation: mean accuracy {o.val_accuracy:.4f}, {metric} gap "
          f"{o.val_unfairness:.4f}")
    how = ("each scored on all the study's folds; the gap is the mean of theirs"
           if problem.cv_folds > 1 else "each scored on non-test rows it did not train on; the "
           "gap is one run's, estimated from all their held-out decisions without each fold's "
           "sampling noise")
    print(f"    ({len(vs)} runs, public seeds {vs[0]}..{vs[-1]}, {how}; the leaders were "
          "retrained twice as often before the choice)")
    print("  then scored once on test:")
    print(f"  test accuracy   {_fmt_pm(o.test_accuracy, o.test_accuracy_std)}   "
          f"({len(o.seeds)} runs, public seeds {o.seeds[0]}..{o.seeds[-1]})")
    print(f"  test {metric} gap  {_fmt_pm(o.test_unfairness, o.test_unfairness_std)}")
    if math.isfinite(o.test_unfairness_sampling_se):
        print(f"    the test rows alone put a standard error of about "
              f"{o.test_unfairness_sampling_se:.3f} on a gap: a model at the limit can measure "
              "above it on test")
    if o.uses_sensitive_at_prediction:
        print("  note: its group thresholds need the sensitive attribute at prediction time.")
    if o.sensitive_is_model_input:
        print("  note: the model reads the sensitive attribute as an input, so predicting needs "
              "it too (a study run with --no-sensitive-input trains without it).")
    print(f"  epsilon         {o.epsilon:.4g} at delta {o.delta:g} (one training run)")
    print("  params          " + ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in o.params.items()))
    if result.trivial:
        print(f"  warning: no better than the constant predictor (accuracy "
              f"{result.constant_accuracy:.4f}); the limits may be too tight for this study.")
    _print_caveats(result)
    print(f"Retrain it (first public seed, scored on test):\n  {command(o)}")
    if exported is None:
        print("Export it (train once, score once on test, write the model and its card):\n  "
              + export_command(study.study_name, trial=o.trial,
                               out=f"model-trial-{o.trial}", storage_url=storage))
    return 0


def _print_caveats(result: Any) -> None:
    for text in result.caveats:
        print(f"  WARNING: {text}")
