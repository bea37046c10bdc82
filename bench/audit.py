"""The one-run audit on Adult: lower bound / claim, and what an audit costs.

For each model (logreg, MLP width 64), engine (fast, opacus) and claimed
epsilon (0.5, 1, 2, 4, 8 and inf) it runs ``trifront.audit.audit`` with
``--canaries`` canaries at 95% confidence on the configuration
``clip=1, lr=0.5, batch_size=256, epochs=3`` and prints the claim, the lower
bound, their ratio, the guesses, and the audit's seconds beside those of one
plain training of the same configuration (``trifront.trial.fit``, no canaries).

Usage::

    python bench/audit.py                         # the full grid, 1000 canaries
    python bench/audit.py --models logreg --engines fast --epsilons 1 4
    python bench/audit.py --quick                 # logreg, fast, eps 1 and inf, 200 canaries

Writes ``bench/results/audit.json``. Not a test: times depend on the machine
and on what else runs on it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import time
from pathlib import Path

import torch

from trifront.audit import audit
from trifront.problem import Problem
from trifront.trial import fit

CONFIG = {"clip": 1.0, "lr": 0.5, "batch_size": 256, "epochs": 3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["logreg", "mlp"])
    ap.add_argument("--engines", nargs="+", default=["fast", "opacus"])
    ap.add_argument("--epsilons", nargs="+", type=float, default=[0.5, 1, 2, 4, 8, math.inf])
    ap.add_argument("--canaries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "audit.json"))
    args = ap.parse_args()
    if args.quick:
        args.models, args.engines, args.epsilons, args.canaries = (
            ["logreg"], ["fast"], [1.0, math.inf], 200)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    head = (f"{'model':<7}{'engine':<8}{'claim':>8}{'lower':>8}{'ratio':>7}{'guesses':>9}"
            f"{'right':>7}{'audit s':>9}{'train s':>9}")
    print(head, flush=True)
    for model in args.models:
        for engine in args.engines:
            problem = Problem(dataset="adult", model=model, engine=engine)
            for eps in args.epsilons:
                params = {"target_epsilon": eps, **CONFIG}
                if model == "mlp":
                    params["hidden"] = 64
                t0 = time.perf_counter()
                fit(problem, params, seed=args.seed)
                plain = time.perf_counter() - t0
                r = audit(problem, params, seed=args.seed, canaries=args.canaries)
                row = {**r.to_dict(), "plain_training_seconds": plain}
                rows.append(row)
                print(f"{model:<7}{engine:<8}{r.epsilon:>8.3g}{r.epsilon_lower_bound:>8.3f}"
                      f"{r.ratio:>7.3f}{r.guesses:>9}{r.correct:>7}{r.seconds:>9.1f}"
                      f"{plain:>9.1f}", flush=True)
    meta = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {platform.processor() or ''} "
                       f"{os.cpu_count()} cpus, {platform.python_version()}",
            "load": os.getloadavg(), "canaries": args.canaries, "config": CONFIG,
            "threads": args.threads}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1,
                                         default=str))
    print(f"wrote {args.out}; {meta['date']}; load {meta['load']}")


if __name__ == "__main__":
    main()
