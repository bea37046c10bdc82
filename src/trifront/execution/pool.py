"""The local process pool: persistent workers from a fork server, one trial each.

Each worker has its own pipe, so a worker that dies or is killed on
``--trial-timeout`` fails only its own trial and is replaced alone (the standard
library's ``ProcessPoolExecutor`` breaks as a whole when one worker dies,
failing every trial in flight).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from trifront.errors import ConfigError
from trifront.execution.base import ExecutionError, Executor, Outcome, Task, run_task
from trifront.forkserver import PRELOAD

# Seconds a fresh worker may take to import torch and trifront before it counts as broken.
WORKER_START_SECONDS = 120.0
#: Tasks a busy worker holds in its pipe beyond the one it trains. The driver hands
#: out tasks only between its own steps; a worker that holds its next task starts it
#: the moment it finishes one, even while the driver fits a model for a second.
PREFETCH = 1


@dataclass
class _Worker:
    process: Any  # multiprocessing.process.BaseProcess
    conn: Connection
    ready: bool = False
    # Tasks sent, in order: the first is training (or about to), the rest wait in the pipe.
    tasks: deque[Task] = field(default_factory=deque)
    started: float = 0.0  # time.monotonic() when the first task started

    @property
    def task(self) -> Task | None:
        """The task training now (None when idle)."""
        return self.tasks[0] if self.tasks else None


def _worker_main(conn: Connection, initializer: Callable[[], object] | None) -> None:
    """Worker process loop: one torch thread, receive tasks, send outcomes."""
    # Ctrl-C in a terminal reaches the whole process group: the driver decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    name = f"{socket.gethostname()}:{os.getpid()}"
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
        conn.send(("start", time.time()))
        conn.send(("done", run_task(task, worker=name)))


class ProcessPool(Executor):
    """``jobs`` persistent worker processes, each training one trial at a time.

    Workers are forked from a fork server that preloads torch and trifront (never
    from the driver, which holds torch threads) and keep their loaded data
    between trials. A worker that dies, or is killed because
    its trial exceeded ``trial_timeout``, fails only its trial and is replaced.
    ``capacity`` is ``2 * jobs + 1``: each worker trains one task and holds
    the next in its pipe (``PREFETCH``), and one more waits in the driver's
    queue, so a worker never idles while the driver fits a model. A task held
    by a worker whose trial dies or times out goes back to the queue's front.

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
        # A task ahead in each worker's pipe and one in the queue: a worker that
        # finishes starts its next trial at once, while the driver proposes.
        self.capacity = jobs * (1 + PREFETCH) + 1
        self.trial_timeout = trial_timeout
        self._initializer = initializer
        # A fork server that has imported torch and trifront once forks each
        # worker: no worker re-imports them (seconds of CPU each on a small
        # machine), and no fork ever copies the driver, which holds torch threads.
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(list(PRELOAD))
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
        # Idle workers first; then one more to each busy worker (PREFETCH).
        for depth in range(1, PREFETCH + 2):
            for w in self._workers:
                if not self._queue:
                    return
                if w.ready and len(w.tasks) < depth:
                    task = self._queue.popleft()
                    if not w.tasks:
                        w.started = time.monotonic()
                    w.tasks.append(task)
                    w.conn.send(task)

    def wait(self) -> list[Outcome]:
        while True:
            if not self._queue and not any(w.tasks for w in self._workers):
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
            elif kind == "start":  # the worker's wall clock when it took its next task
                w.started = time.monotonic() - max(0.0, time.time() - payload)
            elif kind == "done" and w.tasks:
                out.append(payload)
                w.tasks.popleft()
                w.started = time.monotonic()  # until its "start" says when the next began
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
        # The tasks waiting in its pipe never started: they go back to the queue's front.
        waiting = list(w.tasks)[1:]
        self._queue.extendleft(reversed(waiting))
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
