"""What every executor shares: the settings, a task, its outcome, and the inline executor.

The runner (the driver) asks the sampler for a trial, submits a ``Task`` to an
executor and tells the study each ``Outcome`` as it arrives. Executors never
touch the study storage: a worker gets a picklable ``Problem`` and parameters,
and returns a picklable ``Outcome``. ``run_task`` is what a worker runs, wherever
it is; ``InlineExecutor`` runs it in the driver (``--jobs 1``).
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trifront.errors import ConfigError, TrifrontError
from trifront.problem import Problem, TrialResult


class ExecutionError(TrifrontError, RuntimeError):
    """Workers cannot be started or reached (not the failure of one trial)."""


@dataclass(frozen=True)
class ExecutionConfig:
    """How trials are executed.

    Attributes:
        jobs: Trials in flight in a local process pool; ``1`` trains in the
            driver process; ``None`` means one per core (``os.cpu_count()``).
            Ignored when ``dask`` is given (the cluster's threads decide).
        dask: A Dask scheduler address (``tcp://host:8786``) or ``local:N`` for
            a local cluster of N single-threaded worker processes.
        trial_timeout: Seconds a trial may train before its worker is stopped
            and the trial recorded FAIL (``None``: no limit). With ``jobs=1`` a
            timeout moves training into one worker process so it can be killed.
    """

    jobs: int | None = None
    dask: str | None = None
    trial_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.jobs is not None and (not isinstance(self.jobs, int) or self.jobs < 1):
            raise ConfigError(f"`jobs >= 1` must hold, but got jobs={self.jobs!r}.")
        if self.trial_timeout is not None and not (
            isinstance(self.trial_timeout, float | int)
            and self.trial_timeout > 0
            and math.isfinite(self.trial_timeout)
        ):
            raise ConfigError(
                "`trial_timeout > 0` (seconds) must hold, but got "
                f"trial_timeout={self.trial_timeout!r}."
            )
        if self.dask is not None:
            _parse_dask_address(self.dask)

    @property
    def n_jobs(self) -> int:
        """The resolved number of local jobs."""
        return self.jobs if self.jobs is not None else max(1, os.cpu_count() or 1)


def _parse_dask_address(address: str) -> int | None:
    """Workers of a ``local:N`` address, or None for a scheduler address."""
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(
                f"`--dask local:N` needs N >= 1 workers, but got {address!r}; "
                "or pass a scheduler address such as tcp://host:8786."
            )
        return int(count)
    if "://" not in address and ":" not in address:
        raise ConfigError(
            f"{address!r} is not a Dask scheduler address; expected tcp://host:8786 "
            "or local:N."
        )
    return None


@dataclass(frozen=True)
class Task:
    """One trial to train.

    Attributes:
        key: The trial number (unique within a study).
        problem: What to train and measure.
        params: The trial's parameters.
        seed: The trial's public seed.
        submitted: Wall-clock time (``time.time()``) of submission.
        evaluate: What trains it: ``evaluate(problem, params, *, seed)`` returning
            a ``TrialResult``; None is :func:`trifront.trial.evaluate`. Must be
            picklable (a module-level function or a frozen dataclass).
    """

    key: int
    problem: Problem
    params: Mapping[str, Any]
    seed: int
    submitted: float = field(default_factory=time.time)
    evaluate: Callable[..., TrialResult] | None = None


@dataclass(frozen=True)
class Outcome:
    """What came back for one task: a result, or the reason there is none.

    Attributes:
        key: The trial number.
        result: The trial's result (None when it failed).
        error: Why it failed ("ZeroDivisionError: ...", "worker died ...",
            "timeout after 5 s", "interrupted"); None on success.
        worker: Where it ran: ``host:pid`` or the Dask worker address.
        queue_seconds: From submission to the start of training.
        seconds: Training and evaluation wall time on the worker.
        traceback: The formatted traceback of an exception raised by the trial.
    """

    key: int
    result: TrialResult | None
    error: str | None
    worker: str
    queue_seconds: float
    seconds: float
    traceback: str | None = None


def _trial_pipeline() -> Callable[..., TrialResult]:
    from trifront.trial import evaluate

    return evaluate


def run_task(task: Task, *, worker: str | None = None) -> Outcome:
    """Train one task where this function runs, catching every trial failure.

    Any exception the trial raises becomes a failed ``Outcome`` (a study goes on
    past a bad configuration); only ``KeyboardInterrupt``/``SystemExit`` escape.

    Args:
        task: The trial to train.
        worker: Name of where it runs (default ``host:pid``).

    Returns:
        The outcome.
    """
    start = time.time()
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    try:
        evaluate = task.evaluate or _trial_pipeline()
        result = evaluate(task.problem, task.params, seed=task.seed)
    except Exception as exc:  # one trial's failure is data, not a crash
        return Outcome(
            key=task.key, result=None, error=f"{exc.__class__.__name__}: {exc}",
            worker=worker, queue_seconds=max(0.0, start - task.submitted),
            seconds=time.time() - start, traceback=traceback.format_exc(limit=-8),
        )
    return Outcome(
        key=task.key, result=result, error=None, worker=worker,
        queue_seconds=max(0.0, start - task.submitted), seconds=time.time() - start,
    )


class Executor(ABC):
    """Runs tasks somewhere and hands back their outcomes as they finish."""

    #: How many tasks the runner should keep in flight.
    capacity: int

    @abstractmethod
    def submit(self, task: Task) -> None:
        """Start (or queue) a task."""

    @abstractmethod
    def wait(self) -> list[Outcome]:
        """Block until at least one submitted task finished; return all finished ones."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker; tasks still running are abandoned."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineExecutor(Executor):
    """Trains each task in the calling process, one at a time (``--jobs 1``)."""

    capacity = 1

    def __init__(self) -> None:
        self._queue: deque[Task] = deque()

    def submit(self, task: Task) -> None:
        self._queue.append(task)

    def wait(self) -> list[Outcome]:
        return [run_task(self._queue.popleft())] if self._queue else []

    def close(self) -> None:
        self._queue.clear()
