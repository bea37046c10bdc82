"""The bench loop: every sampler on the same problem, seeds and budget.

One *run* is one sampler with one seed: an in-memory Optuna study driven by
ask/tell, the sampler built by ``trifront.search.make_sampler`` exactly as
``trifront run`` builds it (the trifront sampler gets the problem's reference
point and known objectives; the baselines their defaults plus the seed and the
number of startup trials). Training seeds depend on the seed and the trial
number only, so every sampler meets the same noise.

Each finished run is written to ``OUT/runs/<sampler>-seed<k>.json`` at once, so
a long bench can be interrupted and resumed (finished runs with the same
budget are reused).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from trifront.errors import ConfigError, TrifrontError, unknown_name
from trifront.search import SAMPLERS

__all__ = ["BenchConfig", "run_bench", "run_one"]

RunRecord = dict[str, Any]


@dataclass(frozen=True)
class BenchConfig:
    """What ``trifront bench`` runs.

    Attributes:
        problem: One of ``trifront.search.benchmark.PROBLEMS``.
        samplers: Sampler names (``trifront.search.SAMPLERS``); the first is the
            one the others are compared against.
        trials: Trials per run (the common budget of the table).
        seeds: Runs per sampler, with seeds ``0 .. seeds - 1``.
        out: Output directory.
        jobs: Runs executed in parallel processes (one torch thread each).
        startup_trials: Space-filling trials before a model-based sampler uses
            its model (same for every sampler).
        trials_for: Larger budgets for some samplers, e.g. ``{"random": 120}``,
            to measure how many trials they need to reach the first sampler's
            hypervolume; the table still compares all at ``trials``.
    """

    problem: str
    samplers: tuple[str, ...]
    trials: int
    seeds: int
    out: Path
    jobs: int = 1
    startup_trials: int = 8
    trials_for: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from trifront.search.benchmark.problems import PROBLEMS

        if self.problem not in PROBLEMS:
            raise unknown_name("benchmark problem", self.problem, PROBLEMS)
        if not self.samplers:
            raise ConfigError("`samplers` must name at least one sampler, but got none.")
        for name in (*self.samplers, *self.trials_for):
            if name not in SAMPLERS:
                raise unknown_name("sampler", name, SAMPLERS)
        if len(set(self.samplers)) != len(self.samplers):
            raise ConfigError(f"samplers must be distinct, but got {list(self.samplers)}.")
        for key, value in (("trials", self.trials), ("seeds", self.seeds), ("jobs", self.jobs)):
            if value < 1:
                raise ConfigError(f"`{key} >= 1` must hold, but got {key}={value}.")
        if self.startup_trials < 0:
            raise ConfigError(f"`startup_trials >= 0` must hold, but got {self.startup_trials}.")
        for name, n in self.trials_for.items():
            if n < self.trials:
                raise ConfigError(
                    f"a sampler's own budget must be at least `trials` ({self.trials}), "
                    f"but got {name}={n}."
                )

    def budget(self, sampler: str) -> int:
        """The number of trials of ``sampler``'s runs."""
        return self.trials_for.get(sampler, self.trials)


def _quiet() -> None:
    """Silence the per-trial logs and third-party warnings of a bench worker."""
    import optuna
    from optuna.exceptions import ExperimentalWarning

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", ExperimentalWarning)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from botorch.exceptions.warnings import BotorchWarning
        from linear_operator.utils.warnings import NumericalWarning
    # BoTorch / GPyTorch warn on ill-conditioned fits and early L-BFGS stops in the
    # baselines; the proposals are still made. Not ours to fix.
    warnings.simplefilter("ignore", BotorchWarning)
    warnings.simplefilter("ignore", NumericalWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(botorch|gpytorch|optuna)")


def run_one(
    problem_name: str, sampler_name: str, seed: int, trials: int, startup_trials: int
) -> RunRecord:
    """One run: ``sampler_name`` with ``seed`` on the problem for ``trials`` trials.

    Args:
        problem_name: One of ``trifront.search.benchmark.PROBLEMS``.
        sampler_name: One of ``trifront.search.SAMPLERS``.
        seed: Seed of the sampler; the training seed of trial ``i`` is
            ``trifront.runner.trial_seed(seed, i)``.
        trials: Number of trials.
        startup_trials: Startup trials of model-based samplers.

    Returns:
        A JSON-ready record: ``values`` (``trials x 3`` natural units, None for a
        failed trial), ``hv`` (hypervolume after each trial),
        ``proposal_seconds`` (wall time of each ``study.ask``), ``proposal_kind``
        (the trifront sampler's, else None), ``eval_seconds`` and totals.
    """
    import numpy as np
    import optuna
    import torch
    from optuna.trial import TrialState

    from trifront.analysis.pareto import hypervolume_history
    from trifront.objectives import DIRECTIONS
    from trifront.search import PROPOSAL_KIND, make_sampler
    from trifront.search.benchmark.problems import get_problem

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        _quiet()
        problem = get_problem(problem_name)
        known = problem.known_objectives if sampler_name.startswith("trifront") else None
        sampler = make_sampler(
            sampler_name,
            seed=seed,
            reference_point=problem.reference_point,
            known_objectives=known,
            n_startup_trials=startup_trials,
            objectives=problem.objectives,
        )
        study = optuna.create_study(directions=list(DIRECTIONS), sampler=sampler)
        values: list[list[float] | None] = []
        proposal, evaluation, kinds, errors = [], [], [], []
        start = time.perf_counter()
        for _ in range(trials):
            t0 = time.perf_counter()
            trial = study.ask(problem.distributions)
            t1 = time.perf_counter()
            try:
                result = problem.evaluate(trial.params, seed, trial.number)
                ok = all(math.isfinite(v) for v in result)
            except (TrifrontError, ArithmeticError, RuntimeError, ValueError) as err:
                result, ok = None, False
                errors.append(f"trial {trial.number}: {type(err).__name__}: {err}")
            t2 = time.perf_counter()
            if ok and result is not None:
                study.tell(trial, list(result))
                values.append([float(v) for v in result])
            else:
                study.tell(trial, state=TrialState.FAIL)
                values.append(None)
            frozen = study._storage.get_trial(trial._trial_id)
            kinds.append(frozen.system_attrs.get(PROPOSAL_KIND))
            proposal.append(t1 - t0)
            evaluation.append(t2 - t1)
    array = np.array([v if v is not None else [np.nan] * 3 for v in values], dtype=float)
    hv = hypervolume_history(array, reference_point=problem.reference_point,
                             objectives=problem.objectives)
    return {
        "problem": problem_name,
        "sampler": sampler_name,
        "seed": seed,
        "trials": trials,
        "startup_trials": startup_trials,
        "space": _space_key(problem_name),
        "values": values,
        "hv": [float(h) for h in hv],
        "proposal_seconds": proposal,
        "proposal_kind": kinds,
        "eval_seconds": evaluation,
        "errors": errors,
        "wall_seconds": time.perf_counter() - start,
    }


def _space_key(problem_name: str) -> list[str]:
    """The searched space of a problem as strings (stored runs must match it)."""
    from trifront.search.benchmark.problems import get_problem

    dists = get_problem(problem_name).distributions
    return [f"{name}: {dists[name]!r}" for name in sorted(dists)]


def _run_path(out: Path, sampler: str, seed: int) -> Path:
    return out / "runs" / f"{sampler}-seed{seed}.json"


def _reusable(path: Path, config: BenchConfig, sampler: str) -> RunRecord | None:
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    same = (
        record.get("problem") == config.problem
        and record.get("trials") == config.budget(sampler)
        and record.get("startup_trials") == config.startup_trials
        and record.get("space") == _space_key(config.problem)
    )
    return record if same else None


def _worker(args: tuple[str, str, int, int, int]) -> RunRecord:
    return run_one(*args)


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_bench(
    config: BenchConfig,
    *,
    rerun: Sequence[str] = (),
    on_run: Callable[[RunRecord], None] | None = None,
    stored_only: bool = False,
) -> list[RunRecord]:
    """Run (or reuse) every run of the bench and return their records.

    Args:
        config: The bench.
        rerun: Samplers whose stored runs are discarded and run again (e.g.
            after changing the trifront sampler).
        on_run: Called with each record as it becomes available (progress).
        stored_only: Run nothing; return the stored runs that match (a partial
            bench, e.g. while other runs are still going).

    Returns:
        The records, ordered by sampler (as in ``config.samplers``) then seed;
        with ``stored_only``, the missing ones are left out.
    """
    runs_dir = config.out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    records: dict[tuple[str, int], RunRecord] = {}
    todo: list[tuple[str, str, int, int, int]] = []
    for seed in range(config.seeds):
        for sampler in config.samplers:
            path = _run_path(config.out, sampler, seed)
            record = None if sampler in rerun else _reusable(path, config, sampler)
            if record is not None:
                records[(sampler, seed)] = record
                if on_run is not None:
                    on_run(record)
            else:
                todo.append(
                    (config.problem, sampler, seed, config.budget(sampler), config.startup_trials)
                )

    def store(record: RunRecord) -> None:
        path = _run_path(config.out, record["sampler"], record["seed"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        tmp.replace(path)
        records[(record["sampler"], record["seed"])] = record
        if on_run is not None:
            on_run(record)

    if stored_only:
        todo = []
    if config.jobs == 1 or len(todo) <= 1:
        for task in todo:
            store(run_one(*task))
    else:
        # spawn: no forked torch / BLAS thread state; each worker sets one torch thread.
        context = get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=min(config.jobs, len(todo)), mp_context=context,
            initializer=_init_worker,
        ) as pool:
            futures = [pool.submit(_worker, task) for task in todo]
            for future in as_completed(futures):
                store(future.result())
    return [
        records[(s, k)] for s in config.samplers for k in range(config.seeds) if (s, k) in records
    ]


def config_dict(config: BenchConfig) -> dict[str, Any]:
    """JSON-ready settings of the bench (for results.json)."""
    d = asdict(config)
    d["out"] = str(config.out)
    d["samplers"] = list(config.samplers)
    d["python"] = sys.version.split()[0]
    return d
