"""``trifront bench``: samplers side by side on the same problem, seeds and budget.

``BenchConfig`` -> ``run_bench`` (one Optuna study per sampler and seed) ->
``summarise`` -> ``write_outputs`` (results.json, table.md, hypervolume.png).
"""

from trifront.bench.loop import BenchConfig, run_bench, run_one
from trifront.bench.problems import PROBLEMS, BenchProblem, get_problem
from trifront.bench.summary import summarise, table, write_outputs

__all__ = [
    "PROBLEMS",
    "BenchConfig",
    "BenchProblem",
    "get_problem",
    "run_bench",
    "run_one",
    "summarise",
    "table",
    "write_outputs",
]
