"""Test-only fault injection: a trial pipeline whose chosen trials fail on purpose.

Not part of trifront: tests import it, and worker processes import it by name
when they unpickle a task (spawned workers inherit the test process's
``sys.path``, which pytest extends with ``tests/``; subprocess drivers get it
through ``PYTHONPATH``).
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from trifront.problem import Problem, TrialResult
from trifront.study import trial_seed
from trifront.trial import evaluate

FAULTS = ("raise", "nan", "die", "hang", "lost-sigint")


class _SigintInFinaliser:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # let the handler run here, inside the finaliser
            pass


@dataclass(frozen=True)
class FaultyTrials:
    """The trial pipeline with injected faults, chosen by trial number.

    Passed as ``RunConfig(evaluate=FaultyTrials(...))``; called like
    :func:`trifront.trial.evaluate`. Picklable, so worker processes run it.

    Attributes:
        faults: ``"number:fault,..."`` with a fault from ``FAULTS``: ``raise``
            (RuntimeError), ``nan`` (accuracy NaN), ``die`` (the process kills
            itself with SIGKILL), ``hang`` (sleeps an hour), ``lost-sigint``
            (the process sends itself SIGINT from inside a finaliser, where
            Python prints the ``KeyboardInterrupt`` as ignored and goes on, as
            a Ctrl-C arriving during a garbage-collector callback; the trial
            then trains normally).
        delay: Seconds every trial sleeps before training (slow studies).
        study_seed: The study's seed, to map a trial's public seed to its number.
    """

    faults: str = ""
    delay: float = 0.0
    study_seed: int = 0

    def fault_of(self, seed: int) -> str | None:
        """The fault injected into the trial whose public seed is ``seed``."""
        table = dict(item.split(":") for item in self.faults.split(",") if item)
        for number, fault in table.items():
            if trial_seed(self.study_seed, int(number)) == seed:
                assert fault in FAULTS, fault
                return fault
        return None

    def __call__(
        self, problem: Problem, params: Mapping[str, Any], *, seed: int, split: str = "val"
    ) -> TrialResult:
        """``trifront.trial.evaluate``, unless this trial has a fault."""
        fault = self.fault_of(seed)
        time.sleep(self.delay)
        if fault == "raise":
            raise RuntimeError("injected failure")
        if fault == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if fault == "hang":
            time.sleep(3600)
        if fault == "lost-sigint":
            _SigintInFinaliser()  # collected at once: the interrupt is raised in __del__
        result = evaluate(problem, params, seed=seed, split=split)
        return replace(result, accuracy=math.nan) if fault == "nan" else result
