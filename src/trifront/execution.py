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
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import socket
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from trifront.errors import ConfigError, TrifrontError
from trifront.problem import Problem, TrialResult

DASK_HINT = "install the extra with: pip install 'trifront[dask]'"
# Set in each local worker process: "host:pid".
_WORKER_NAME: str | None = None
# Seconds a fresh worker may take to import torch and trifront before it counts as broken.
WORKER_START_SECONDS = 120.0


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
        seed: The trial's training seed.
        submitted: Wall-clock time (``time.time()``) of submission.
    """

    key: int
    problem: Problem
    params: Mapping[str, Any]
    seed: int
    submitted: float = field(default_factory=time.time)


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
    worker = worker or _WORKER_NAME or f"{socket.gethostname()}:{os.getpid()}"
    try:
        result = task.problem.evaluate(task.params, seed=task.seed)
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


def _run_dask_task(task: Task) -> Outcome:
    """``run_task`` with one torch thread, named by its Dask worker (the Dask entry point)."""
    import torch
    from distributed import get_worker

    torch.set_num_threads(1)
    try:
        worker = str(get_worker().address)
    except ValueError:  # not on a worker (e.g. a client-side test)
        worker = None
    return run_task(task, worker=worker)


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


@dataclass
class _Worker:
    process: Any  # multiprocessing.process.BaseProcess
    conn: Connection
    ready: bool = False
    task: Task | None = None
    started: float = 0.0  # time.monotonic() when the task was sent


def _worker_main(conn: Connection, initializer: Callable[[], object] | None) -> None:
    """Worker process loop: one torch thread, receive tasks, send outcomes."""
    # Ctrl-C in a terminal reaches the whole process group: the driver decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _WORKER_NAME
    _WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
    import torch

    torch.set_num_threads(1)
    import trifront.problem  # noqa: F401 - import before "ready" so timeouts exclude it

    if initializer is not None:
        initializer()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(("done", run_task(task)))


class ProcessPool(Executor):
    """``jobs`` persistent worker processes, each training one trial at a time.

    Workers are forked from a fork server that preloads torch and trifront (never
    from the driver, which holds torch threads) and keep their loaded data
    between trials. A worker that dies, or is killed because
    its trial exceeded ``trial_timeout``, fails only its trial and is replaced.
    ``capacity`` is ``jobs + 1``: one task waits in the driver's queue, so a
    worker never idles while the driver proposes.

    Args:
        jobs: Number of worker processes.
        trial_timeout: Seconds a trial may run (from when a worker takes it).
        initializer: Called once in each worker before it takes tasks (e.g.
            ``problem.validate`` to load the data set outside the timeout);
            must be picklable.

    Raises:
        ExecutionError: If a worker process dies before it is ready.
    """

    def __init__(
        self,
        jobs: int,
        *,
        trial_timeout: float | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> None:
        if jobs < 1:
            raise ConfigError(f"`jobs >= 1` must hold, but got jobs={jobs}.")
        # One task queued ahead: a worker that finishes starts the next trial at
        # once, while the driver tells the result and proposes the one after.
        self.capacity = jobs + 1
        self.trial_timeout = trial_timeout
        self._initializer = initializer
        # A fork server that has imported torch and trifront once forks each
        # worker: no worker re-imports them (seconds of CPU each on a small
        # machine), and no fork ever copies the driver, which holds torch threads.
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(["torch", "trifront.problem"])
        self._queue: deque[Task] = deque()
        self._workers = [self._spawn() for _ in range(jobs)]

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main, args=(child, self._initializer), name="trifront-worker",
            daemon=True,
        )
        process.start()
        child.close()
        return _Worker(process=process, conn=parent, started=time.monotonic())

    def submit(self, task: Task) -> None:
        self._queue.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        for w in self._workers:
            if not self._queue:
                return
            if w.ready and w.task is None:
                w.task = self._queue.popleft()
                w.started = time.monotonic()
                w.conn.send(w.task)

    def wait(self) -> list[Outcome]:
        while True:
            if not self._queue and all(w.task is None for w in self._workers):
                return []
            self._dispatch()
            wait(
                [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers],
                timeout=self._next_deadline(),
            )
            outcomes: list[Outcome] = []
            for i, w in enumerate(self._workers):
                outcomes.extend(self._drain(w))
                if not w.process.is_alive():
                    outcomes.extend(self._replace(i, reason=None))
                elif self._timed_out(w):
                    reason = f"timeout after {self.trial_timeout:g} s"
                    outcomes.extend(self._replace(i, reason=reason))
                elif not w.ready and time.monotonic() - w.started > WORKER_START_SECONDS:
                    self._replace(i, reason="start-up")
            self._dispatch()
            if outcomes:
                return outcomes

    def _drain(self, w: _Worker) -> list[Outcome]:
        out = []
        while not w.conn.closed:
            try:
                if not w.conn.poll():
                    break
                kind, payload = w.conn.recv()
            except (EOFError, OSError):
                break
            if kind == "ready":
                w.ready = True
            elif kind == "done" and w.task is not None:
                out.append(payload)
                w.task = None
        return out

    def _timed_out(self, w: _Worker) -> bool:
        return (
            self.trial_timeout is not None
            and w.task is not None
            and time.monotonic() - w.started > self.trial_timeout
        )

    def _next_deadline(self) -> float | None:
        """Seconds until the next trial timeout or worker start-up limit."""
        now = time.monotonic()
        deadlines = [w.started + WORKER_START_SECONDS for w in self._workers if not w.ready]
        if self.trial_timeout is not None:
            deadlines += [w.started + self.trial_timeout for w in self._workers if w.task]
        return max(0.0, min(deadlines) - now) + 0.01 if deadlines else None

    def _replace(self, index: int, *, reason: str | None) -> list[Outcome]:
        """Kill worker ``index`` (if alive), replace it, fail its task."""
        w = self._workers[index]
        late = self._drain(w) if reason is None else []  # a result sent just before exiting
        _kill(w)
        if not w.ready:
            what = (
                f"did not start within {WORKER_START_SECONDS:g} s" if reason == "start-up"
                else f"exited before it was ready (exit code {w.process.exitcode})"
            )
            raise ExecutionError(
                f"a worker process {what}; its error is printed above. Workers start from a "
                "fork server and import the main module: a script that runs a study must do "
                "so under `if __name__ == '__main__':`; or pass jobs=1."
            )
        self._workers[index] = self._spawn()
        if w.task is None:
            return late
        now = time.monotonic()
        if reason is None:
            reason = f"worker died (exit code {w.process.exitcode})"
        return [Outcome(
            key=w.task.key, result=None, error=reason,
            worker=f"{socket.gethostname()}:{w.process.pid}",
            queue_seconds=max(0.0, time.time() - (now - w.started) - w.task.submitted),
            seconds=now - w.started,
        )]

    def close(self) -> None:
        self._queue.clear()
        for w in self._workers:
            if w.task is None and w.process.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in self._workers:
            if w.task is None:
                w.process.join(timeout=2)
            _kill(w)
        self._workers = []


def _kill(w: _Worker) -> None:
    if w.process.is_alive():
        w.process.kill()
    w.process.join(timeout=10)
    w.conn.close()


class DaskExecutor(Executor):
    """Trials as tasks on a Dask cluster, through ``distributed.Client``.

    Only the driver writes the study: workers need trifront installed and
    receive the problem, the parameters and the seed. ``capacity`` is the
    cluster's total worker threads at start-up.

    Args:
        address: ``tcp://host:8786`` (an existing scheduler) or ``local:N`` (a
            local cluster of N single-threaded worker processes, closed on
            ``close``).
        trial_timeout: Seconds from submission before the task is cancelled and
            its worker restarted.
        initializer: Run once on every worker at start-up (best effort: not on
            workers that join or restart later).

    Raises:
        ConfigError: If dask/distributed are not installed.
        ExecutionError: If the scheduler cannot be reached.
    """

    def __init__(
        self,
        address: str,
        *,
        trial_timeout: float | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as err:
            raise ConfigError(
                f"`--dask` needs dask and distributed ({err}); {DASK_HINT}."
            ) from None
        n_local = _parse_dask_address(address)
        self.trial_timeout = trial_timeout
        self._cluster = None
        try:
            if n_local is not None:
                # A killed worker fails its trial at once instead of re-running it.
                with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                    self._cluster = LocalCluster(
                        n_workers=n_local, threads_per_worker=1, processes=True,
                        dashboard_address=None,
                    )
                self._client = Client(self._cluster)
            else:
                self._client = Client(address, timeout="30s")
        except OSError as err:
            if self._cluster is not None:
                self._cluster.close()
            raise ExecutionError(f"cannot reach the Dask scheduler at {address}: {err}") from None
        self.capacity = max(1, sum(self._client.nthreads().values()))
        if initializer is not None:
            self._client.run(_call_and_forget, initializer)
        self._futures: dict[Any, tuple[Task, float]] = {}

    @property
    def client(self) -> Any:
        """The ``distributed.Client``."""
        return self._client

    def submit(self, task: Task) -> None:
        future = self._client.submit(
            _run_dask_task, task, key=f"trifront-trial-{task.key}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )
        self._futures[future] = (task, time.monotonic())

    def wait(self) -> list[Outcome]:
        from distributed import wait as dask_wait

        while self._futures:
            timeout = None
            if self.trial_timeout is not None:
                first = min(t0 for _, t0 in self._futures.values())
                timeout = max(0.0, first + self.trial_timeout - time.monotonic()) + 0.01
            try:
                done, _ = dask_wait(list(self._futures), timeout=timeout,
                                    return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            outcomes = [self._outcome(f) for f in done]
            outcomes += self._stop_timed_out()
            if outcomes:
                return outcomes
        return []

    def _outcome(self, future: Any) -> Outcome:
        task, t0 = self._futures.pop(future)
        if future.status == "finished":
            return future.result()  # type: ignore[no-any-return]
        exc = future.exception() if future.status == "error" else None
        name = exc.__class__.__name__ if exc is not None else future.status
        reason = "worker died" if name == "KilledWorker" else f"{name}: {exc}"
        return Outcome(
            key=task.key, result=None, error=reason, worker="unknown",
            queue_seconds=0.0, seconds=time.monotonic() - t0,
        )

    def _stop_timed_out(self) -> list[Outcome]:
        if self.trial_timeout is None:
            return []
        now = time.monotonic()
        late = [f for f, (_, t0) in self._futures.items() if now - t0 > self.trial_timeout]
        if not late:
            return []
        processing = self._client.processing()
        out = []
        for future in late:
            task, t0 = self._futures.pop(future)
            where = [w for w, keys in processing.items() if future.key in keys]
            future.cancel()
            if where:
                # A running Python function cannot be interrupted: restart its worker.
                try:
                    self._client.restart_workers(where)
                except Exception:  # no nanny: the task is abandoned instead
                    pass
            out.append(Outcome(
                key=task.key, result=None, error=f"timeout after {self.trial_timeout:g} s",
                worker=where[0] if where else "unknown", queue_seconds=0.0, seconds=now - t0,
            ))
        return out

    def close(self) -> None:
        for future in self._futures:
            future.cancel()
        self._futures.clear()
        if self._client.status != "closed":
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _call_and_forget(fn: Callable[[], object]) -> None:
    fn()


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
