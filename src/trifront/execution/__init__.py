"""Where trials train: in the driver, in a local process pool, or on a Dask cluster.

The runner (the driver) asks the sampler for a trial, submits a ``Task`` to an
executor and tells the study each ``Outcome`` as it arrives. Executors never
touch the study storage: a worker gets a picklable ``Problem`` and parameters,
and returns a picklable ``Outcome``.

* ``InlineExecutor``: one trial at a time in the driver (``--jobs 1``).
* ``ProcessPool``: ``jobs`` persistent worker processes (from a fork server, one torch
  thread each). Each worker has its own pipe, so a worker that dies or is killed
  on ``--trial-timeout`` fails only its own trial and is replaced alone (the
  standard library's ``ProcessPoolExecutor`` breaks as a whole when one worker
  dies, failing every trial in flight).
* ``DaskExecutor``: an existing cluster (``tcp://host:8786``) or a local one
  (``local:N``), through ``distributed.Client``; imported lazily, it needs the
  ``dask`` extra.

Modules: ``base`` (settings, ``Task``, ``Outcome``, ``run_task``, the
``Executor`` interface, ``InlineExecutor``), ``pool`` (``ProcessPool``) and
``dask_executor`` (``DaskExecutor``); ``make_executor`` below picks one.
"""

from __future__ import annotations

from collections.abc import Callable

from trifront.execution.base import (
    ExecutionConfig,
    ExecutionError,
    Executor,
    InlineExecutor,
    Outcome,
    Task,
    run_task,
)
from trifront.execution.dask_executor import DASK_HINT, DaskExecutor
from trifront.execution.pool import WORKER_START_SECONDS, ProcessPool

__all__ = [
    "DASK_HINT",
    "WORKER_START_SECONDS",
    "DaskExecutor",
    "ExecutionConfig",
    "ExecutionError",
    "Executor",
    "InlineExecutor",
    "Outcome",
    "ProcessPool",
    "Task",
    "make_executor",
    "run_task",
]


def make_executor(
    config: ExecutionConfig, *, initializer: Callable[[], object] | None = None
) -> Executor:
    """The executor ``config`` describes.

    Args:
        config: The execution settings.
        initializer: Run once in each worker process before its first task
            (unused when trials run in the calling process).

    Raises:
        ConfigError: If ``--dask`` is asked for without the dask extra.
    """
    if config.dask is not None:
        return DaskExecutor(
            config.dask, trial_timeout=config.trial_timeout, initializer=initializer
        )
    if config.n_jobs == 1 and config.trial_timeout is None:
        return InlineExecutor()
    return ProcessPool(
        config.n_jobs, trial_timeout=config.trial_timeout, initializer=initializer
    )
