"""``trifront refine``: more trials for a study, aimed at the region a user reads."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from trifront.cli.common import POSITIVE, POSITIVE_INT, add_storage_flag, check_out_dir, number
from trifront.settings import DEFAULT_STORAGE


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "refine", help="add trials to a study, aimed at epsilon <= E and gap <= G",
        description="Continue a study with --trials more trials of the trifront sampler aimed "
        "at the region epsilon <= --max-epsilon and gap <= --max-unfairness: only "
        "configurations inside it count in the hypervolume the sampler maximises, and the "
        "study's earlier trials stay in its model. The trials join the same study, so "
        "`recommend`, `report` and `compare` of its name see them; the report says which "
        "trials aimed where. Writes the study's trials.csv, front.csv and front.html to --out.",
    )
    p.add_argument("study", nargs="?", help="study name (optional if the storage has one)")
    add_storage_flag(p)
    p.add_argument("--max-epsilon", type=POSITIVE, metavar="E",
                   help="the region's epsilon limit (default: the study's reference epsilon)")
    p.add_argument("--max-unfairness", type=number(low=0, high=1, inf=False), metavar="G",
                   help="the region's gap limit (default: the study's reference gap)")
    p.add_argument("--trials", type=POSITIVE_INT, required=True,
                   help="how many trials to add (each call adds this many)")
    p.add_argument("--jobs", type=POSITIVE_INT, help="trials in flight in a local process pool "
                   "(default: the number of cores; 1 trains in this process)")
    p.add_argument("--dask", metavar="ADDRESS", help="run trials on a Dask cluster "
                   "(tcp://host:8786, or local:N)")
    p.add_argument("--trial-timeout", type=POSITIVE, metavar="SECONDS",
                   help="stop a trial after this many seconds and record it FAIL")
    p.add_argument("--out", default="trifront-out", help="output directory of the front files")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def main(args: argparse.Namespace) -> int:
    from trifront.cli.run import print_front
    from trifront.execution import ExecutionConfig
    from trifront.refine import refine
    from trifront.report.front import write_run_outputs

    check_out_dir(args.out)
    storage = args.storage or DEFAULT_STORAGE
    try:
        study = refine(storage=storage, study=args.study, trials=args.trials,
                       max_epsilon=args.max_epsilon, max_unfairness=args.max_unfairness,
                       execution=ExecutionConfig(jobs=args.jobs, dask=args.dask,
                                                 trial_timeout=args.trial_timeout),
                       progress=not args.no_progress)
    except KeyboardInterrupt:
        again = " ".join(shlex.quote(a) for a in sys.argv)
        print(f"\ninterrupted: finished trials are kept in {storage}; `{again}` adds "
              f"--trials more again (lower it by the trials already added).", file=sys.stderr)
        return 130
    paths = write_run_outputs(study, args.out)
    print_front(paths["front.csv"], paths["trials.csv"])
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0
