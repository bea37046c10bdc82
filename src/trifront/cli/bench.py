"""``trifront bench``: compare samplers on one problem (hypervolume table and plot)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from trifront.cli.common import NON_NEGATIVE_INT, POSITIVE_INT

_DEFAULT_SAMPLERS = "trifront,botorch,gp,nsga2,tpe,random,qmc"


def _budget(text: str) -> tuple[str, int]:
    name, sep, n = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected SAMPLER=TRIALS (e.g. random=120), got {text!r}")
    return name.strip(), POSITIVE_INT(n)


def add_parser(sub: Any) -> None:
    b = sub.add_parser(
        "bench", help="compare samplers on one problem: hypervolume table and plot",
        description="Run each sampler on the same problem with the same seeds and budget "
        "and write DIR/results.json (every number), DIR/table.md (median and IQR over "
        "seeds of the final hypervolume, of the trials needed to reach 90%% of the best "
        "hypervolume seen by any run, and of the proposal time) and DIR/hypervolume.png. "
        "Finished runs are kept in DIR/runs/ and reused when the bench is run again.",
    )
    b.add_argument("--problem", default="dtlz2",
                   help="dtlz2 (synthetic, known max HV), adult-logreg or adult-mlp "
                   "(real DP-SGD training); default dtlz2")
    b.add_argument("--samplers", default=_DEFAULT_SAMPLERS,
                   help=f"comma-separated sampler names, the first is the reference "
                   f"(default {_DEFAULT_SAMPLERS})")
    b.add_argument("--trials", type=POSITIVE_INT, default=40, help="trials per run (default 40)")
    b.add_argument("--seeds", type=POSITIVE_INT, default=5,
                   help="runs per sampler, seeds 0..K-1 (default 5)")
    b.add_argument("--jobs", type=POSITIVE_INT, default=1,
                   help="runs in parallel processes, one torch thread each (default 1)")
    b.add_argument("--startup-trials", type=NON_NEGATIVE_INT, default=8,
                   help="space-filling trials before model-based samplers use their model "
                   "(default 8, same for every sampler)")
    b.add_argument("--trials-for", type=_budget, action="append", default=[],
                   metavar="SAMPLER=N",
                   help="a larger budget for one sampler (repeatable), e.g. random=120, to "
                   "count the trials it needs to reach the first sampler's hypervolume")
    b.add_argument("--rerun", default="",
                   help="comma-separated samplers whose stored runs in DIR/runs are run again")
    b.add_argument("--stored-only", action="store_true",
                   help="run nothing: summarise the finished runs stored in DIR/runs "
                   "(missing sampler/seed runs are left out and the table says so)")
    b.add_argument("--out", default="trifront-bench", help="output directory")
    b.add_argument("--no-png", action="store_true", help="do not write the PNG plot")
    b.add_argument("--no-progress", action="store_true", help="hide the progress lines")


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _command_line(args: argparse.Namespace) -> str:
    """The canonical ``trifront bench`` command line that reproduces ``args``."""
    words = [
        "trifront", "bench", "--problem", args.problem, "--samplers", args.samplers,
        "--trials", str(args.trials), "--seeds", str(args.seeds), "--jobs", str(args.jobs),
        "--startup-trials", str(args.startup_trials), "--out", args.out,
    ]
    for name, n in args.trials_for:
        words += ["--trials-for", f"{name}={n}"]
    return shlex.join(words)


def main(args: argparse.Namespace) -> int:
    from trifront.errors import unknown_name
    from trifront.search import SAMPLERS
    from trifront.search.benchmark import BenchConfig, run_bench, summarise, write_outputs

    rerun = _names(args.rerun)
    for name in rerun:
        if name not in SAMPLERS:
            raise unknown_name("sampler", name, SAMPLERS)
    config = BenchConfig(
        problem=args.problem,
        samplers=_names(args.samplers),
        trials=args.trials,
        seeds=args.seeds,
        out=Path(args.out),
        jobs=args.jobs,
        startup_trials=args.startup_trials,
        trials_for=dict(args.trials_for),
    )
    total = len(config.samplers) * config.seeds
    done = [0]

    def progress(record: dict[str, Any]) -> None:
        done[0] += 1
        if not args.no_progress:
            print(
                f"[{done[0]}/{total}] {record['sampler']} seed {record['seed']}: "
                f"HV {record['hv'][config.trials - 1]:.4g} in {record['wall_seconds']:.0f} s",
                file=sys.stderr, flush=True,
            )

    records = run_bench(config, rerun=rerun, on_run=progress, stored_only=args.stored_only)
    results = summarise(config, records)
    results["command"] = _command_line(args)
    paths = write_outputs(results, config.out, png=not args.no_png)
    print(paths["table.md"].read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
