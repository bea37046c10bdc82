"""Wall time of a study with --jobs 1 vs --jobs 2 (and the hypervolume of its front).

Runs ``trifront run`` on Adult / logistic regression with the default search
space, the same seed and ``--trials`` trials (24) once per ``--jobs`` value, each
in a fresh SQLite file, and reports the wall time of the whole command (pool
start-up included) and the hypervolume of the completed trials, measured with
the study's stored reference point. Target: jobs 2 <= 0.65 x the wall time of
jobs 1, with a comparable hypervolume.

Usage::

    python bench/parallel.py                 # 24 trials, --jobs 1 then --jobs 2
    python bench/parallel.py --jobs 1,2,4    # other pool sizes
    python bench/parallel.py --repeats 3     # interleaved 1,2,1,2,1,2; medians reported
    python bench/parallel.py --quick         # smoke run: 6 trials

Writes ``bench/results/parallel.json``. Not a test: numbers depend on the
machine and on what else runs on it (the ratio needs at least 2 idle cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from trifront.analysis.pareto import hypervolume
from trifront.study import ATTR_KEY

STUDY = "bench-parallel"


def run_once(jobs: int, *, trials: int, seed: int, workdir: Path) -> dict[str, object]:
    """Run one study through the CLI and measure it."""
    storage = f"sqlite:///{workdir}/jobs{jobs}.db"
    command = [
        sys.executable, "-m", "trifront.cli", "run", "--dataset", "adult", "--model", "logreg",
        "--trials", str(trials), "--seed", str(seed), "--jobs", str(jobs),
        "--storage", storage, "--study", STUDY, "--out", str(workdir / f"out{jobs}"),
        "--no-progress",
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"jobs={jobs} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    study = optuna.load_study(study_name=STUDY, storage=storage)
    ref = study.user_attrs[ATTR_KEY]["reference_point"]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    values = np.array([t.values for t in complete], dtype=float).reshape(-1, 3)
    seconds = [t.user_attrs.get("seconds", np.nan) for t in complete]
    proposals = [t.user_attrs.get("proposal_seconds") for t in study.trials]
    return {
        "jobs": jobs,
        "wall_seconds": wall,
        "hypervolume": hypervolume(values, reference_point=ref),
        "complete": len(complete),
        "failed": sum(t.state == TrialState.FAIL for t in study.trials),
        "median_trial_seconds": float(np.nanmedian(seconds)) if seconds else None,
        "total_proposal_seconds": float(sum(p for p in proposals if p is not None)),
        "workers": sorted({str(t.user_attrs.get("worker")) for t in complete}),
        "command": " ".join(command[1:]).replace(str(workdir), "$TMP"),
    }


def _wall(row: dict[str, object]) -> float:
    return float(row["wall_seconds"])  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--jobs", default="1,2", help="comma-separated pool sizes (1,2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per pool size, interleaved so load hits all alike")
    parser.add_argument("--quick", action="store_true", help="6 trials (smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "parallel.json"))
    args = parser.parse_args(argv)
    trials = 6 if args.quick else args.trials
    jobs = [int(j) for j in args.jobs.split(",")]
    runs: dict[int, list[dict[str, object]]] = {j: [] for j in jobs}
    for repeat in range(args.repeats):
        for j in jobs:
            with tempfile.TemporaryDirectory(prefix="trifront-bench-") as tmp:
                runs[j].append(run_once(j, trials=trials, seed=args.seed, workdir=Path(tmp)))
            print(f"repeat {repeat}: jobs={j} {runs[j][-1]['wall_seconds']:.1f} s "
                  f"(load average {os.getloadavg()[0]:.1f})", file=sys.stderr)
    rows = []
    for j in jobs:
        median = sorted(runs[j], key=_wall)[len(runs[j]) // 2]
        rows.append({**median, "all_wall_seconds": [r["wall_seconds"] for r in runs[j]]})
    base = rows[0]["wall_seconds"]
    print(f"Adult / logreg, {trials} trials, seed {args.seed}, {os.cpu_count()} cores")
    print(f"{'jobs':>4} {'wall s':>8} {'ratio':>6} {'hypervolume':>11} {'complete':>8} "
          f"{'failed':>6} {'median trial s':>14}")
    for r in rows:
        r["ratio_to_first"] = r["wall_seconds"] / base  # type: ignore[operator]
        print(f"{r['jobs']:>4} {r['wall_seconds']:>8.1f} {r['ratio_to_first']:>6.2f} "
              f"{r['hypervolume']:>11.4f} {r['complete']:>8} {r['failed']:>6} "
              f"{r['median_trial_seconds']:>14.2f}")
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "loadavg_at_end": list(os.getloadavg())},
        "trials": trials,
        "seed": args.seed,
        "repeats": args.repeats,
        "target": "wall(jobs=2) <= 0.65 x wall(jobs=1)",
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
