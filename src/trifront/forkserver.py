"""Start the local pool's fork server early, while the driver imports the rest.

The local pool (:class:`trifront.execution.pool.ProcessPool`) forks its workers
from a fork server that has imported torch and trifront once. Starting that
server takes a few seconds of imports in its own process; started when the pool
is made, it blocks the driver's first worker start. :func:`start` launches it at
once and returns: ``trifront run`` calls it before importing the runner and the
sampler, so the two sets of imports run on two cores at the same time.

Standard library only, so importing this module costs nothing.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing import forkserver

#: Modules the fork server imports before it forks any worker.
PRELOAD = ("torch", "trifront.problem")


def start(preload: tuple[str, ...] = PRELOAD) -> None:
    """Launch the fork server now (non-blocking; a no-op when it already runs)."""
    mp.get_context("forkserver").set_forkserver_preload(list(preload))
    forkserver.ensure_running()
