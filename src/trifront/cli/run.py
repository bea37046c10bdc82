"""``trifront run``: run or resume a study and write its front."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any

from trifront import forkserver
from trifront.cli.common import (
    FRACTION,
    POSITIVE,
    POSITIVE_INT,
    add_data_flags,
    add_knob_flags,
    add_problem_flags,
    add_storage_flag,
    check_out_dir,
    number,
    settings_from,
)


def add_parser(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run or resume a study and write its front",
        description="Run (or resume) a study: train DP-SGD candidates chosen by "
        "multi-objective Bayesian optimisation, then write trials.csv, front.csv and "
        "front.html to --out. --trials is the study's total; run the same command "
        "again to continue a stopped study.",
    )
    g = run.add_argument_group("what to optimise")
    add_data_flags(g)
    add_problem_flags(g)
    g.add_argument("--parametrisation", help="epsilon (search target epsilon, default) or noise")
    g.add_argument("--max-epsilon", type=POSITIVE, metavar="EPS",
                   help="never spend more: the largest target epsilon searched (default 10); "
                   "with --objectives accuracy,unfairness, every trial's epsilon (default 1)")
    g.add_argument("--objectives", metavar="LIST",
                   help="what the front is over: accuracy,epsilon,unfairness (default, 3-D), "
                   "accuracy,epsilon (DPareto's privacy-utility front; fairness knobs not "
                   "searched) or accuracy,unfairness (at one epsilon); the third is still "
                   "measured and shown")
    g.add_argument("--focus-unfairness", type=FRACTION, metavar="GAP",
                   help="concentrate the search on configurations fairer than GAP, e.g. 0.03 "
                   "(the reference point's unfairness; default 0.5 = the whole front)")
    add_knob_flags(run.add_argument_group(
        "fairness knobs (searched by default: fair_weight, reweigh, fair_target, "
        "group_thresholds)"))
    g = run.add_argument_group("how")
    g.add_argument("--trials", type=POSITIVE_INT, help="total trials in the study (default 24)")
    g.add_argument("--sampler", help="trifront (default), trifront-ehvi, botorch, gp, nsga2, "
                   "tpe, random, qmc")
    g.add_argument("--startup-trials", type=POSITIVE_INT,
                   help="quasi-random trials first (default 8)")
    g.add_argument("--no-anchors", action="store_true", default=None,
                   help="do not train the documented default configurations (clip 1, lr 0.5, "
                   "knobs off, at target epsilon 0.5, 1 and 3) first in a new study")
    g = run.add_argument_group("where")
    add_storage_flag(g)
    g.add_argument("--study", help="study name (default <dataset>-<model>)")
    g.add_argument("--out", help="output directory (default trifront-out)")
    g.add_argument("--config", help="TOML file with the same settings (flags override it)")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g = run.add_argument_group("execution")
    g.add_argument("--jobs", type=POSITIVE_INT, help="trials in flight in a local process pool, "
                   "one torch thread each (default: the number of cores; 1 trains in this "
                   "process)")
    g.add_argument("--dask", metavar="ADDRESS", help="run trials on a Dask cluster: a scheduler "
                   "address (tcp://host:8786) or local:N for N local workers; needs "
                   "pip install 'trifront[dask]'")
    g.add_argument("--trial-timeout", type=POSITIVE, metavar="SECONDS",
                   help="stop a trial after this many seconds and record it FAIL (default: none)")
    g = run.add_argument_group(
        "private tuning (one guarantee for the released model: search, choice and scores)")
    g.add_argument("--private-tuning", action="store_true", default=None,
                   help="run a private-tuning study: a secret, random number of runs drawn "
                   "from a fixed prior, each scored on noisy counts, the best one released with "
                   "one (E, delta) guarantee for every row of the file; writes "
                   "study_privacy.json and model/ to --out")
    g.add_argument("--study-epsilon", type=POSITIVE, metavar="E",
                   help="epsilon of the whole private-tuning study (required with it)")
    g.add_argument("--mean-trials", type=number(low=1, low_inclusive=True), metavar="K",
                   help="mean of the secret number of runs (default 10)")
    g.add_argument("--shape", help="its distribution: poisson (default), geometric, "
                   "logarithmic, or a truncated negative binomial's shape >= 0")
    g.add_argument("--max-unfairness", type=number(low=0, high=1, inf=False), metavar="GAP",
                   help="release the most accurate run whose noisy validation gap is <= GAP "
                   "(default: any gap)")
    g.add_argument("--batch-size", type=POSITIVE_INT,
                   help="every run's expected batch size (default: from the public row count)")
    g.add_argument("--epochs", type=POSITIVE_INT,
                   help="every run's epochs (default: from the public row count)")
    g.add_argument("--acknowledge-seeded-noise", action="store_true", default=None,
                   help="accept --reproducible with --private-tuning (voids the guarantee; "
                   "research only)")


def main(args: argparse.Namespace) -> int:
    if args.config is None and not args.private_tuning and uses_local_pool(args):
        # Before the settings are built: validating them imports the accountants (1.6 s
        # here), which the fork server's own imports then overlap. A config file may set
        # the pool, so with one the server starts once the settings are read.
        forkserver.start()
    settings = settings_from(args, config=args.config)
    check_out_dir(settings.out)
    if not settings.private_tuning and uses_local_pool(settings):
        forkserver.start()  # (a no-op when already started) overlaps the imports below

    from trifront.report.front import write_run_outputs
    from trifront.runner import RunConfig, run_study

    if settings.private_tuning:
        return _private(settings, args)
    problem = settings.problem()
    if problem.data_file is not None and problem.schema_file is None:
        from trifront.datasets import describe_inferred

        print(describe_inferred(problem.data().card), file=sys.stderr)
    config = RunConfig.from_settings(settings)
    try:
        study = run_study(config, progress=not args.no_progress)
    except KeyboardInterrupt:
        again = " ".join(shlex.quote(a) for a in sys.argv)
        print(
            f"\ninterrupted: finished trials are kept in {settings.storage} (study "
            f"{settings.study_name!r}); resume with: {again}",
            file=sys.stderr,
        )
        return 130
    paths = write_run_outputs(study, settings.out)
    print_front(paths["front.csv"], paths["trials.csv"])
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0


def uses_local_pool(settings: Any) -> bool:
    """Whether the trials will run in the local process pool (``execution.make_executor``)."""
    jobs = settings.jobs or os.cpu_count() or 1
    return settings.dask is None and (jobs > 1 or settings.trial_timeout is not None)


def _private(settings: Any, args: argparse.Namespace) -> int:
    import json

    from trifront.errors import ConfigError
    from trifront.privtune.study import run_private_study, write_outputs
    from trifront.settings import PRIVATE_TUNING_SAMPLERS

    if args.sampler is not None and args.sampler not in PRIVATE_TUNING_SAMPLERS:
        raise ConfigError(
            f"--private-tuning draws every candidate independently from a fixed prior; the "
            f"adaptive sampler {args.sampler!r} is not covered by its theorem (accepted: "
            "random, or no --sampler)."
        )
    result = run_private_study(settings, progress=not args.no_progress)
    command = "trifront " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    paths = write_outputs(result, settings.out, command=command)
    info = result.privacy
    print(f"private-tuning study {result.study_name!r}: epsilon {info['epsilon']:.4g} at "
          f"delta {info['delta']:g} for the released model, covering the search, the choice "
          "and the scores, for every row of the file.")
    released = info["released"]
    if released is None:
        print("nothing was released: no run was drawn or every run failed (the budget is "
              "spent all the same).")
    else:
        print("released (noisy test metrics):")
        print(json.dumps({k: released[k] for k in ("hyperparameters", "test_accuracy",
                                                    "test_unfairness")}, indent=2))
    for text in info["caveats"]:
        print(f"NOTE: {text}")
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0


def print_front(front_csv: Any, trials_csv: Any) -> None:
    """Print the front (with the constant predictor) and every caveat of the trials."""
    import pandas as pd

    from trifront.caveats import active_caveats, caveat_flags

    front = pd.read_csv(front_csv)
    trained = front[front["trial"].notna()] if "trial" in front else front
    if trained.empty:
        print("no configuration beats the constant predictor yet (accuracy "
              f"{front['accuracy'].iloc[0]:.4g} at epsilon 0, gap 0): the front is that "
              "predictor alone." if len(front) else "no completed trial yet: the front is empty.")
    else:
        cols = [c for c in ("configuration", "trial", "accuracy", "epsilon", "unfairness",
                            "noise_multiplier", "clip", "lr", "batch_size", "epochs", "hidden",
                            "depth", "fair_weight", "reweigh", "fair_target", "group_thresholds")
                            if c in front]
        print(f"Pareto front ({len(trained)} trials and the constant predictor; epsilon at "
              f"delta={trained['delta'].iloc[0]:g}, accuracy and unfairness on the validation "
              "split):")
        print(front[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    # Every trial's caveats, whether or not it made the front.
    for text in active_caveats(caveat_flags(pd.read_csv(trials_csv).to_dict("records"))):
        print(f"WARNING: {text}")
