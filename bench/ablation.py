"""Ablation of the trifront sampler's trust region on a bench problem.

`trifront bench` compares samplers by name; this script compares settings of
the trifront sampler itself (``TrifrontSampler`` keyword arguments) on the same
problems, seeds, training seeds and hypervolume as the bench. It prints the
final hypervolume per seed and the median.

Run from the project root:

    .venv/bin/python bench/ablation.py --problem dtlz2 --seeds 5 \
        --variant 'global={"local_width": null}' --variant 'width 0.1={"local_width": 0.1}' \
        --variant 'default={}' --variant 'width 0.3={"local_width": 0.3}'
"""

from __future__ import annotations

import argparse
import json
import statistics
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def run(problem_name: str, seed: int, trials: int, options: dict[str, Any]) -> float:
    """Final hypervolume of one run of the trifront sampler with ``options``."""
    import numpy as np
    import optuna
    import torch

    from trifront.analysis.pareto import hypervolume_history
    from trifront.objectives import DIRECTIONS
    from trifront.search import TrifrontSampler
    from trifront.search.benchmark.problems import get_problem

    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    problem = get_problem(problem_name)
    sampler = TrifrontSampler(
        seed=seed,
        n_startup_trials=8,
        reference_point=problem.reference_point,
        known_objectives=problem.known_objectives,
        **options,
    )
    study = optuna.create_study(directions=list(DIRECTIONS), sampler=sampler)
    values = []
    for _ in range(trials):
        trial = study.ask(problem.distributions)
        result = problem.evaluate(trial.params, seed, trial.number)
        study.tell(trial, list(result))
        values.append(result)
    hv = hypervolume_history(np.array(values), reference_point=problem.reference_point)
    return float(hv[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", default="dtlz2")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        help="NAME=JSON keyword arguments of TrifrontSampler (repeatable)",
    )
    args = parser.parse_args()
    print(f"{args.problem}, {args.trials} trials, seeds 0-{args.seeds - 1}")
    print("| variant | final HV per seed | median |")
    print("|---|---|---|")
    with ProcessPoolExecutor(args.jobs) as pool:
        for spec in args.variant:
            name, _, options = spec.partition("=")
            kwargs = json.loads(options or "{}")
            finals = list(
                pool.map(
                    run,
                    [args.problem] * args.seeds,
                    range(args.seeds),
                    [args.trials] * args.seeds,
                    [kwargs] * args.seeds,
                )
            )
            per_seed = ", ".join(f"{h:.4f}" for h in finals)
            print(
                f"| {name} `{options}` | {per_seed} | {statistics.median(finals):.4f} |", flush=True
            )


if __name__ == "__main__":
    main()
