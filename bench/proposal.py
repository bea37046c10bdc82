"""Proposal time of the trifront sampler at a given number of completed trials.

Issue 4's target: median proposal time <= 2 s at 100 completed trials. Training
would only add noise to this measurement, so the history is synthetic: N
random-search trials on the default logreg search space (8 dims, the target
epsilon a known objective, as in ``trifront run``) with a smooth, noisy toy of
accuracy and gap that trades both off against epsilon. Then K proposals are
timed (``study.ask``, wall and process time, 1 torch thread); each one is told
a toy result so the history grows as in a study. The fit / build / optimise
split comes from the sampler's ``trifront:model_data`` attribute.

Run from the project root on a quiet machine:

    .venv/bin/python bench/proposal.py                 # both acquisitions, N=100, K=5
    .venv/bin/python bench/proposal.py --history 50 --proposals 3 --acquisition lognehvi

The first proposal of a fresh machine also compiles BoTorch's log-EI kernel
(about 30 s, cached afterwards); a warm-up proposal on a small study absorbs it.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings

import numpy as np
import optuna
import torch

from trifront.objectives import DIRECTIONS, reference_point
from trifront.search import ACQUISITIONS, TrifrontSampler
from trifront.search.known import known_target_epsilon
from trifront.search.sampler import MODEL_DATA
from trifront.space import SearchSpace


def toy(params: dict, rng: np.random.Generator) -> tuple[float, float, float]:
    """A noisy, smooth stand-in for (accuracy, epsilon, gap) of DP-SGD on Adult."""
    eps = float(params["target_epsilon"])
    lr, clip = math.log10(params["lr"]), math.log10(params["clip"])
    fair = math.log10(params["fair_weight"]) + 4.0  # 0 .. 5.5
    budget = 1.0 - math.exp(-eps * params["epochs"] / 4.0)
    acc = 0.76 + 0.085 * budget - 0.01 * (lr - 0.3) ** 2 - 0.005 * (clip - 0.3) ** 2
    acc -= 0.004 * fair + 0.01 * params["reweigh"]
    gap = 0.2 * budget * math.exp(-0.3 * fair) * (1.0 - 0.5 * params["reweigh"])
    gap *= min(1.0, params["group_thresholds"] * 8)
    return (
        float(np.clip(acc + rng.normal(0, 0.004), 0.5, 0.99)),
        eps,
        float(max(gap + abs(rng.normal(0, 0.01)), 0.0)),
    )


def run(acquisition: str, history: int, proposals: int, seed: int) -> dict:
    space = SearchSpace.default("logreg")
    dists = space.distributions()
    ref = reference_point(majority_rate=0.7612, epsilon_max=space.epsilon_max or 10.0)
    rng = np.random.default_rng(seed)
    study = optuna.create_study(
        directions=list(DIRECTIONS), sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    for _ in range(history):
        trial = study.ask(dists)
        study.tell(trial, list(toy(trial.params, rng)))
    sampler = TrifrontSampler(
        seed=seed,
        reference_point=ref,
        known_objectives={1: known_target_epsilon},
        acquisition=acquisition,
    )
    study.sampler = sampler
    rows = []
    for _ in range(proposals):
        wall, cpu = time.perf_counter(), time.process_time()
        trial = study.ask(dists)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        data = study._storage.get_trial(trial._trial_id).system_attrs.get(MODEL_DATA, {})
        rows.append({"wall": wall, "cpu": cpu, **data.get("seconds", {})})
        study.tell(trial, list(toy(trial.params, rng)))
    return {
        "acquisition": acquisition,
        "history": history,
        "median_wall": statistics.median(r["wall"] for r in rows),
        "median_cpu": statistics.median(r["cpu"] for r in rows),
        "proposals": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=100, help="completed trials (default 100)")
    parser.add_argument("--proposals", type=int, default=5, help="timed proposals (default 5)")
    parser.add_argument("--acquisition", choices=("both", *ACQUISITIONS), default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    run("lognehvi", 10, 1, args.seed)  # warm-up: imports, the log-EI kernel
    names = ACQUISITIONS if args.acquisition == "both" else (args.acquisition,)
    results = [run(name, args.history, args.proposals, args.seed) for name in names]
    print(f"{args.history} completed trials, {args.proposals} proposals, 1 torch thread")
    print("| acquisition | median wall s | median CPU s | fit / build / optimise (s, median) |")
    print("|---|---|---|---|")
    for res in results:
        parts = [
            statistics.median(r.get(k, math.nan) for r in res["proposals"])
            for k in ("fit", "build", "optimise")
        ]
        split = " / ".join(f"{p:.2f}" for p in parts)
        print(
            f"| {res['acquisition']} | {res['median_wall']:.2f} | {res['median_cpu']:.2f} "
            f"| {split} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
