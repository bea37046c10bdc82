"""The ``report``, ``recommend`` and ``compare`` subcommands of ``trifront``.

``add_report_commands(subparsers)`` adds their parsers; ``REPORT_COMMANDS``
maps each name to its ``(args) -> exit code`` function. Heavy imports happen
inside the functions, so ``trifront --help`` stays fast.

Exit codes: 0 success (``recommend`` also exits 0 when no configuration meets
the limits: it says so, lists the nearest options and, with ``--json``,
prints ``"recommendation": null``); 2 bad input (one line); 1 internal failure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

from trifront.errors import ConfigError, StorageError, unknown_name

__all__ = ["REPORT_COMMANDS", "add_report_commands"]

_DEFAULT_STORAGE = "sqlite:///trifront.db"


def _number(text: str) -> float:
    """A float, accepting 'inf'; range checks happen in the library (one-line errors)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'inf', got {text!r}") from None


def _seeds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"`--seeds >= 1` must hold, but got {value}")
    return value


def _common(p: argparse.ArgumentParser, *, seeds: bool) -> None:
    p.add_argument("--storage", default=_DEFAULT_STORAGE,
                   help=f"Optuna storage URL (default {_DEFAULT_STORAGE})")
    if seeds:
        p.add_argument("--seeds", type=_seeds, default=5,
                       help="training seeds per configuration in the test re-evaluation "
                       "(default 5; seeds are the trial's seed + 0..R-1; results are cached "
                       "in the study)")
        p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_report_commands(subparsers: Any) -> None:
    """Add the ``report``, ``recommend`` and ``compare`` parsers.

    Args:
        subparsers: The object returned by ``ArgumentParser.add_subparsers``
            (its ``parser_class`` is used for the new parsers).
    """
    rep = subparsers.add_parser(
        "report", help="write the decision-maker's report of a study",
        description="Write DIR/index.html (self-contained, offline), front.csv, trials.csv, "
        "PNG figures, summary.md and report.json: the 3-D front, 2-D projections, "
        "hypervolume, test-set re-evaluation of the Pareto set (mean ± std over --seeds), "
        "trade-off curves, hyperparameter importances and what epsilon does not cover.",
    )
    rep.add_argument("study", nargs="?", help="study name (optional if the storage has one)")
    _common(rep, seeds=True)
    rep.add_argument("--out", default="trifront-report", help="output directory")
    rep.add_argument("--no-reevaluate", action="store_true",
                     help="skip the test re-evaluation (validation values only, no training)")
    rep.add_argument("--tuning-privacy", action="store_true",
                     help="add a conservative estimate of the privacy cost of the whole search "
                     "(composition of every DP-SGD run on the training rows)")
    rep.add_argument("--no-png", action="store_true", help="do not write PNG figures")

    rec = subparsers.add_parser(
        "recommend", help="the configuration to deploy under epsilon and fairness limits",
        description="Print the Pareto configuration whose test re-evaluation (mean over the "
        "seeds) has the best accuracy with epsilon <= --max-epsilon and mean test gap <= "
        "--max-unfairness, with a command that retrains it. When none qualifies it says so, "
        "lists the nearest options and exits 0 (JSON: \"recommendation\": null).",
    )
    rec.add_argument("study", nargs="?", help="study name (optional if the storage has one)")
    rec.add_argument("--max-epsilon", type=_number, required=True,
                     help="largest acceptable epsilon at the study's delta ('inf': no limit)")
    rec.add_argument("--max-unfairness", type=_number, required=True,
                     help="largest acceptable mean test fairness gap ('inf': no limit)")
    _common(rec, seeds=True)
    rec.add_argument("--json", action="store_true", help="print JSON")

    cmp_ = subparsers.add_parser(
        "compare", help="overlay the fronts of several studies",
        description="Write DIR/index.html and compare.csv overlaying the Pareto fronts "
        "(validation values) of several studies of one storage, with hypervolumes against "
        "a common reference point.",
    )
    cmp_.add_argument("studies", nargs="+", help="study names")
    _common(cmp_, seeds=False)
    cmp_.add_argument("--out", default="trifront-compare", help="output directory")


def _load(storage_url: str, name: str | None) -> Any:
    import optuna

    from trifront.analysis.reevaluate import study_settings
    from trifront.storage import open_storage

    storage = open_storage(storage_url)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if name is None:
        if len(names) != 1:
            raise ConfigError(
                f"name the study: {storage_url} holds {len(names)} studies"
                f"{' (' + ', '.join(names) + ')' if names else ''}."
            )
        name = names[0]
    if name not in names:
        if not names:
            raise StorageError(f"no study named {name!r}: {storage_url} holds no study.")
        err = unknown_name("study", name, names)
        raise StorageError(f"{err} (in {storage_url})")
    study = optuna.load_study(study_name=name, storage=storage)
    study_settings(study)  # refuse foreign studies early
    return study


def _cmd_report(args: argparse.Namespace) -> int:
    from trifront.report.build import write_report

    study = _load(args.storage, args.study)
    paths = write_report(
        study, args.out, n_seeds=args.seeds, reevaluate_test=not args.no_reevaluate,
        tuning_privacy=args.tuning_privacy, png=not args.no_png, progress=not args.no_progress,
    )
    print(paths["summary.md"].read_text(encoding="utf-8"))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _fmt_pm(mean: float, std: float | None) -> str:
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {std:.4f}"


def _print_option(o: Any, metric: str) -> None:
    print(f"  trial {o.trial}: test accuracy {_fmt_pm(o.test_accuracy, o.test_accuracy_std)}, "
          f"{metric} gap {_fmt_pm(o.test_unfairness, o.test_unfairness_std)}, "
          f"epsilon {o.epsilon:.4g} (delta {o.delta:g})")


def _cmd_recommend(args: argparse.Namespace) -> int:
    from trifront.analysis.recommend import check_limits, recommend

    check_limits(max_epsilon=args.max_epsilon, max_unfairness=args.max_unfairness)
    study = _load(args.storage, args.study)
    result = recommend(study, max_epsilon=args.max_epsilon, max_unfairness=args.max_unfairness,
                       n_seeds=args.seeds, progress=not args.no_progress)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        return 0
    metric = result.fairness_metric.replace("_", " ")
    limits = result.limits.label()
    o = result.choice
    if o is None:
        print(f"No configuration of study {study.study_name!r} meets {limits} on the test "
              f"split ({result.n_candidates} front configurations re-evaluated).")
        if result.nearest:
            print("Nearest options:")
            for near in result.nearest:
                _print_option(near, metric)
                print(f"    retrain: {near.command}")
        return 0
    seeds = f"{len(o.seeds)} seeds ({o.seeds[0]}..{o.seeds[-1]})"
    print(f"Recommended under {limits}: trial {o.trial} of study {study.study_name!r}")
    print(f"  test accuracy   {_fmt_pm(o.test_accuracy, o.test_accuracy_std)}  "
          f"(mean ± std over {seeds}; validation {o.val_accuracy:.4f})")
    print(f"  test {metric} gap  {_fmt_pm(o.test_unfairness, o.test_unfairness_std)}  "
          f"(validation {o.val_unfairness:.4f})")
    print(f"  epsilon         {o.epsilon:.4g} at delta {o.delta:g} (one training run)")
    print("  params          " + ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in o.params.items()))
    if result.trivial:
        print(f"  warning: no better than the constant predictor (accuracy "
              f"{result.constant_accuracy:.4f}); the limits may be too tight for this study.")
    print(f"Retrain it (first seed, scored on test):\n  {o.command}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from trifront.report.compare import write_comparison

    studies = [_load(args.storage, name) for name in args.studies]
    paths = write_comparison(studies, args.out)
    import pandas as pd

    table = pd.read_csv(paths["compare.csv"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0


REPORT_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "report": _cmd_report,
    "recommend": _cmd_recommend,
    "compare": _cmd_compare,
}

if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `trifront` command")
