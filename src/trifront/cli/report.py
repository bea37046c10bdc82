"""``trifront report``: the decision-maker's report of a study."""

from __future__ import annotations

import argparse
from typing import Any

from trifront.cli.common import (
    POSITIVE_INT,
    add_reproducible_flag,
    add_storage_flag,
    check_out_dir,
    number,
)
from trifront.settings import DEFAULT_STORAGE


def add_seed_flags(p: Any) -> None:
    """``--seeds`` and ``--no-progress`` of the commands that re-evaluate on test."""
    p.add_argument("--seeds", type=POSITIVE_INT, default=5,
                   help="training runs per configuration in the test re-evaluation "
                   "(default 5; public seeds are the trial's seed + 0..R-1; results are "
                   "cached in the study)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_parser(sub: Any) -> None:
    rep = sub.add_parser(
        "report", help="write the decision-maker's report of a study",
        description="Write DIR/index.html (self-contained, offline), front.csv, trials.csv, "
        "PNG figures, summary.md and report.json: the 3-D front, 2-D projections, "
        "hypervolume, test-set re-evaluation of the Pareto set (mean ± std over --seeds), "
        "trade-off curves, hyperparameter importances and what epsilon does not cover.",
    )
    rep.add_argument("study", nargs="?", help="study name (optional if the storage has one)")
    add_storage_flag(rep)
    add_seed_flags(rep)
    add_reproducible_flag(rep)
    rep.add_argument("--out", default="trifront-report", help="output directory")
    rep.add_argument("--no-reevaluate", action="store_true",
                     help="skip the test re-evaluation (validation values only, no training)")
    rep.add_argument("--tuning-privacy", action="store_true",
                     help="add a conservative estimate of the privacy cost of the whole search "
                     "(composition of every DP-SGD run and released statistic)")
    rep.add_argument("--no-png", action="store_true", help="do not write PNG figures")
    rep.add_argument("--audit", nargs="?", const="recommended", choices=("recommended", "all"),
                     help="also run the one-run privacy audit (`trifront audit`) of the "
                     "recommended configuration (the default) or of every front configuration "
                     "(`all`), and show the claimed epsilon beside the empirical lower bound")
    rep.add_argument("--audit-canaries", type=number(low=10, low_inclusive=True, integer=True),
                     default=1000, metavar="M", help="canaries per audit (default 1000)")


def main(args: argparse.Namespace) -> int:
    from trifront.report.build import write_report
    from trifront.study import load_study, private_tuning_release

    check_out_dir(args.out)
    study = load_study(args.storage or DEFAULT_STORAGE, args.study)
    release = private_tuning_release(study)
    if release is not None:
        from trifront.report.private import write_private_report

        paths = write_private_report(release, args.out, study_name=study.study_name)
        print(paths["summary.md"].read_text(encoding="utf-8"))
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
        return 0
    paths = write_report(
        study, args.out, n_seeds=args.seeds, reevaluate_test=not args.no_reevaluate,
        tuning_privacy=args.tuning_privacy, png=not args.no_png, progress=not args.no_progress,
        reproducible=bool(args.reproducible), storage_url=args.storage or DEFAULT_STORAGE,
        audit=args.audit, audit_canaries=args.audit_canaries,
    )
    print(paths["summary.md"].read_text(encoding="utf-8"))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0
