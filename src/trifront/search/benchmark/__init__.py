"""``trifront bench``: samplers side by side on the same problem, seeds and budget.

``BenchConfig`` -> ``run_bench`` (one Optuna study per sampler and seed) ->
``summarise`` -> ``write_outputs`` (results.json, table.md, hypervolume.png).

Its real problems train models, so ``trifront.search`` does not import this
package; import it explicitly (the ``bench`` command does, when it runs).
"""

from trifront.search.benchmark.loop import BenchConfig, run_bench, run_one
from trifront.search.benchmark.problems import PROBLEMS, BenchProblem, get_problem
from trifront.search.benchmark.summary import summarise, table, write_outputs

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
