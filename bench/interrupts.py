"""Ctrl-C at many points of a running study: is every trial in flight marked?

A study (Adult, logistic regression, a tiny space, ``--jobs 2`` or ``--jobs 1``, quasi-random
proposals only) runs in this process. After its first trial finishes, a profile
hook counts the driver's Python calls and sends SIGINT at call N, so the
interrupt lands wherever the driver is at that moment: a storage read or write,
the sampler, the pool's wait, a tell. For N = start, start + step, ... < stop it
records whether the run stopped with ``KeyboardInterrupt`` and how many trials
it left RUNNING (the answer must be none: a trial left RUNNING is only marked by
the next resume). This is how the race behind a CI failure (an interrupt inside
a SQLite read, whose open statement then locked out the marking) was found.

Usage::

    python bench/interrupts.py                      # N = 1, 18, 35, ... < 4000
    python bench/interrupts.py --start 288 --stop 289 --step 1   # one point
    python bench/interrupts.py --jobs 1             # trials train in the driver

Writes ``bench/results/interrupts.json``. Each point starts a pool (a few seconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from trifront.execution import ExecutionConfig
from trifront.problem import Problem
from trifront.runner import RunConfig, run_study
from trifront.space import SearchSpace

TINY = {"epochs": {"low": 1, "high": 1}, "batch_size": {"low": 1024, "high": 2048}}


def interrupt_at(n: int, workdir: Path, jobs: int = 2) -> dict[str, Any]:
    """Run a study, send SIGINT at the n-th Python call after its first result."""
    storage = f"sqlite:///{workdir}/n{n}.db"
    config = RunConfig(
        problem=Problem(),
        space=SearchSpace.default("logreg", "epsilon").with_bounds(TINY),
        n_trials=30, storage=storage, study_name="interrupts", n_startup_trials=30,
        execution=ExecutionConfig(jobs=jobs),
    )
    calls = 0
    armed = False

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1
            if calls == n:
                sys.setprofile(None)
                os.kill(os.getpid(), signal.SIGINT)

    def first_result(trial: optuna.trial.FrozenTrial) -> None:
        nonlocal armed
        if not armed:
            armed = True
            sys.setprofile(count)

    stopped_by = "finished"
    try:
        run_study(config, progress=False, on_trial=first_result)
    except BaseException as exc:  # noqa: BLE001 - what stopped it is the measurement
        stopped_by = type(exc).__name__
    finally:
        sys.setprofile(None)
    trials = optuna.load_study(study_name="interrupts", storage=storage).get_trials()
    return {
        "call": n,
        "stopped_by": stopped_by,
        "left_running": [t.number for t in trials if t.state == TrialState.RUNNING],
        "marked_interrupted": sum(t.user_attrs.get("fail_reason") == "interrupted"
                                  for t in trials),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=1)
    parser.add_argument("--stop", type=int, default=4000)
    parser.add_argument("--step", type=int, default=17)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "interrupts.json"))
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.start, args.stop, args.step):
            row = interrupt_at(n, Path(tmp), args.jobs)
            rows.append(row)
            print(f"call {n}: {row['stopped_by']}, left RUNNING {row['left_running']}, "
                  f"marked {row['marked_interrupted']}", flush=True)
    bad = [r for r in rows if r["left_running"] or r["stopped_by"] != "KeyboardInterrupt"]
    summary = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python bench/interrupts.py " + " ".join(argv or sys.argv[1:]),
        "points": len(rows),
        "bad_points": len(bad),
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{len(rows)} interrupt points, {len(bad)} left a trial RUNNING or did not stop "
          f"({summary['seconds']} s); wrote {args.out}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
