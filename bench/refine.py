"""Refine against a longer study (issue 16, part 1): the same trials, aimed or not.

For each problem (Adult, logistic regression, group thresholds off, at
ε ≤ 1 and a gap limit of the issue's part 3) and each study seed, runs

* **refine**: a default 40-trial ``trifront run``, then ``trifront refine
  --max-epsilon 1 --max-unfairness G --trials 40`` on the same study;
* **plain**: one default 80-trial study;

then ``recommend --max-epsilon 1 --max-unfairness G`` on each: the choice is
made on validation (5 runs, each scored on its own held-out fold of the
non-test rows, the leaders confirmed by 5 more; the gap one run is expected
to have, from their held-out decisions) and scored on test (5 seeds). Prints the test
means, how many trials each study spent inside the region, and the times.

Usage::

    python bench/refine.py                       # both problems, seeds 0,1
    python bench/refine.py --problems dp --seeds 0 --jobs 2
    python bench/refine.py --arms refine --keep DIR --reuse   # recommend again on kept studies
    python bench/refine.py --arms refine --keep DIR --reuse --choose-at 0.02   # a margin

Writes ``bench/results/refine.json``. Not a test: every run's noise is secret,
so each study is a sample.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import tempfile
import time
from pathlib import Path

import trifront
from trifront.analysis.recommend import recommend
from trifront.execution import ExecutionConfig
from trifront.refine import refine
from trifront.study import load_study

#: name -> (fairness metric, gap limit, the issue's target test accuracy at ε ≤ 1).
PROBLEMS = {"dp": ("demographic_parity", 0.010, 0.820),
            "eo": ("equalized_odds", 0.030, 0.825)}
MAX_EPSILON = 1.0


def _in_region(study, gap: float) -> int:
    return sum(1 for t in study.trials if t.values is not None
               and t.values[1] <= MAX_EPSILON and t.values[2] <= gap)


def run_arm(arm: str, problem: str, *, seed: int, base: int, extra: int, jobs: int,
            workdir: Path, reweigh_high: float | None = None, delta: float = 1e-5,
            sensitive_input: bool = True, reuse: bool = False,
            choose_at: float | None = None) -> dict:
    metric, gap, target = PROBLEMS[problem]
    choose_at = gap if choose_at is None else choose_at
    storage = f"sqlite:///{workdir}/{problem}-{arm}-{seed}.db"
    name = f"{problem}-{arm}-{seed}"
    common = dict(dataset="adult", model="logreg", fairness=metric, no_group_thresholds=True,
                  seed=seed, storage=storage, study=name, progress=False, jobs=jobs,
                  delta=delta, **({} if sensitive_input else {"no_sensitive_input": True}),
                  space={"reweigh": {"high": reweigh_high}} if reweigh_high else {})
    start = time.perf_counter()
    if reuse:
        if not (workdir / f"{name}.db").exists():
            raise SystemExit(f"--reuse: no study {workdir / f'{name}.db'}")
    elif arm == "plain":
        trifront.run(trials=base + extra, **common)
    else:
        trifront.run(trials=base, **common)
        refine(storage=storage, study=name, trials=extra, max_epsilon=MAX_EPSILON,
               max_unfairness=gap, execution=ExecutionConfig(jobs=jobs), progress=False)
    study_seconds = None if reuse else time.perf_counter() - start
    study = load_study(storage, name)
    start = time.perf_counter()
    rec = recommend(study, max_epsilon=MAX_EPSILON, max_unfairness=choose_at, progress=False)
    o = rec.choice
    row = {
        "problem": problem, "metric": metric, "max_unfairness": gap, "choose_at": choose_at,
        "target": target,
        "arm": arm, "seed": seed, "trials": len(study.trials), "reweigh_high": reweigh_high,
        "delta": delta, "sensitive_input": sensitive_input,
        "in_region": _in_region(study, gap), "study_seconds": study_seconds,
        "recommend_seconds": time.perf_counter() - start,
        "trial": None if o is None else o.trial,
        "test_accuracy": rec.constant_test_accuracy if o is None else o.test_accuracy,
        "test_unfairness": 0.0 if o is None else o.test_unfairness,
        "val_accuracy": None if o is None else o.val_accuracy,
        "val_unfairness": None if o is None else o.val_unfairness,
        "epsilon": None if o is None else o.epsilon,
        "params": None if o is None else o.params,
        "constant": o is None,
    }
    took = "reused" if study_seconds is None else f"{study_seconds:.0f} s"
    print(f"{problem} {arm} seed {seed}: test acc {row['test_accuracy']:.4f} gap "
          f"{row['test_unfairness']:.4f} ({row['in_region']} of {row['trials']} trials in the "
          f"region; study {took}, recommend {row['recommend_seconds']:.0f} s)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default="dp,eo")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--base", type=int, default=40)
    parser.add_argument("--extra", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--arms", default="refine,plain")
    parser.add_argument("--reweigh-high", type=float, default=None,
                        help="widen the reweighing strength's range to [0, H] (default space: 1)")
    parser.add_argument("--delta", default="1e-5",
                        help="delta of every study; 'n2' for 1/n^2 (n: Adult's public count)")
    parser.add_argument("--no-sensitive-input", action="store_true",
                        help="the model does not read the sensitive attribute as an input")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the study databases in DIR (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: run only recommend, on the studies kept in DIR")
    parser.add_argument("--choose-at", type=float, default=None, metavar="G",
                        help="recommend at gap limit G instead of the problem's (a margin)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "refine.json"))
    args = parser.parse_args()
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep DIR (the folder of the kept studies)")
    if args.delta == "n2":
        from trifront.problem import Problem

        delta = 1.0 / Problem().validate().n_train_public ** 2
    else:
        delta = float(args.delta)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="trifront-refine-") as tmp_dir:
        tmp = args.keep or tmp_dir
        Path(tmp).mkdir(parents=True, exist_ok=True)
        for problem in args.problems.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                for arm in args.arms.split(","):
                    rows.append(run_arm(arm, problem, seed=seed, base=args.base,
                                        extra=args.extra, jobs=args.jobs, workdir=Path(tmp),
                                        reweigh_high=args.reweigh_high, delta=delta,
                                        sensitive_input=not args.no_sensitive_input,
                                        reuse=args.reuse, choose_at=args.choose_at))
    print("\n| problem | arm | test accuracy by seed | test gap by seed | trials in region |")
    print("|---|---|---|---|---|")
    for problem in args.problems.split(","):
        for arm in args.arms.split(","):
            got = [r for r in rows if (r["problem"], r["arm"]) == (problem, arm)]
            acc = ", ".join(f"{r['test_accuracy']:.4f}" for r in got)
            gap = ", ".join(f"{r['test_unfairness']:.4f}" for r in got)
            inside = ", ".join(str(r["in_region"]) for r in got)
            print(f"| {problem} | {arm} | {acc} | {gap} | {inside} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(), "args": vars(args), "rows": rows},
        indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
