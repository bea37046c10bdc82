"""Trials on a Dask cluster, through ``distributed.Client``.

An existing cluster (``tcp://host:8786``) or a local one (``local:N``). dask
and distributed are imported lazily: they are the ``dask`` extra.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from trifront.errors import ConfigError
from trifront.execution.base import (
    ExecutionError,
    Executor,
    Outcome,
    Task,
    _parse_dask_address,
    run_task,
)

DASK_HINT = "install the extra with: pip install 'trifront[dask]'"


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
