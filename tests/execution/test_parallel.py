"""Parallel trials: a local process pool (--jobs) and a Dask cluster (--dask local:2)."""

import os
import subprocess
import sys

import optuna
import pytest
from fault_injection import FaultyTrials
from optuna.trial import TrialState

from trifront.errors import ConfigError
from trifront.execution import (
    DASK_HINT,
    DaskExecutor,
    ExecutionConfig,
    InlineExecutor,
    ProcessPool,
    Task,
    make_executor,
)
from trifront.problem import Problem
from trifront.study import trial_seed

TINY_SPACE = """
[space.epochs]
low = 1
high = 2
[space.batch_size]
low = 512
high = 2048
"""
PARAMS = {"target_epsilon": 1.0, "clip": 1.0, "lr": 0.5, "batch_size": 1024, "epochs": 1}


def _run(tmp_path, *flags, trials=4):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_SPACE)
    db = f"sqlite:///{tmp_path}/p.db"
    proc = subprocess.run(
        [sys.executable, "-m", "trifront.cli", "run", "--config", str(cfg), "--trials",
         str(trials), "--storage", db, "--out", str(tmp_path / "out"), "--no-progress", *flags],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return optuna.load_study(study_name="adult-logreg", storage=db), proc


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"jobs": 0}, "`jobs >= 1` must hold, but got jobs=0"),
        ({"trial_timeout": -1.0}, "`trial_timeout > 0` (seconds) must hold"),
        ({"trial_timeout": float("inf")}, "`trial_timeout > 0` (seconds) must hold"),
        ({"dask": "local:0"}, "needs N >= 1 workers"),
        ({"dask": "scheduler"}, "expected tcp://host:8786 or local:N"),
    ],
)
def test_execution_config_states_the_rule_and_the_value(kwargs, message):
    with pytest.raises(ConfigError) as info:
        ExecutionConfig(**kwargs)
    assert message in str(info.value)


def test_default_jobs_is_the_number_of_cores_and_one_job_trains_inline():
    assert ExecutionConfig().n_jobs == os.cpu_count()
    assert isinstance(make_executor(ExecutionConfig(jobs=1)), InlineExecutor)


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import now fails
    with pytest.raises(ConfigError) as info:
        DaskExecutor("local:1")
    assert DASK_HINT in str(info.value) and "pip install 'trifront[dask]'" in str(info.value)


def test_pool_returns_outcomes_from_its_workers_and_matches_inline():
    problem = Problem(reproducible=True)  # seeded noise, so the pool can match inline exactly
    inline = InlineExecutor()
    inline.submit(Task(key=0, problem=problem, params=PARAMS, seed=3))
    [expected] = inline.wait()
    with ProcessPool(2, initializer=problem.validate) as pool:
        for key in range(2):
            pool.submit(Task(key=key, problem=problem, params=PARAMS, seed=3))
        outcomes = []
        while len(outcomes) < 2:
            outcomes += pool.wait()
        assert pool.wait() == []  # nothing in flight
    assert sorted(o.key for o in outcomes) == [0, 1]
    for o in outcomes:
        assert o.error is None and o.result is not None
        assert o.worker != expected.worker  # another process
        # Same seed, same parameters: the same numbers as in the driver.
        assert o.result.values == pytest.approx(expected.result.values)


def _all_outcomes(pool, n):
    outcomes = []
    while len(outcomes) < n:
        got = pool.wait()
        assert got, f"the pool lost tasks: {len(outcomes)} of {n} came back"
        outcomes += got
    return {o.key: o for o in outcomes}


def test_a_task_held_behind_a_dying_trial_goes_back_to_the_queue():
    # One worker holds two tasks (PREFETCH): the first kills its process, the second,
    # which never started, must run on the replacement worker, not vanish or fail.
    problem = Problem(reproducible=True)
    faulty = FaultyTrials(faults="0:die")
    with ProcessPool(1, initializer=problem.validate) as pool:
        assert pool.capacity == 3
        for number in range(2):
            pool.submit(Task(key=number, problem=problem, params=PARAMS,
                             seed=trial_seed(0, number), evaluate=faulty))
        outcomes = _all_outcomes(pool, 2)
    assert outcomes[0].result is None and outcomes[0].error.startswith("worker died")
    assert outcomes[1].error is None and outcomes[1].result is not None
    assert outcomes[1].worker != outcomes[0].worker  # the replacement trained it


def test_a_held_task_is_timed_from_when_it_starts_not_when_it_was_sent():
    # Both tasks go to the one worker at once; each takes ~2.2 s against a 4 s timeout.
    # Timed from when it was sent, the second would be killed at 4 s, ~1.8 s into its run.
    problem = Problem(reproducible=True)
    slow = FaultyTrials(delay=2.0)
    with ProcessPool(1, initializer=problem.validate, trial_timeout=4.0) as pool:
        for number in range(2):
            pool.submit(Task(key=number, problem=problem, params=PARAMS, seed=number,
                             evaluate=slow))
        outcomes = _all_outcomes(pool, 2)
    assert [outcomes[k].error for k in (0, 1)] == [None, None]
    assert outcomes[0].worker == outcomes[1].worker  # no worker was killed


def test_jobs_2_keeps_two_trials_in_flight_and_records_where_and_how_long(tmp_path):
    study, _ = _run(tmp_path, "--jobs", "2", trials=4)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    for t in trials:
        host, pid = t.user_attrs["worker"].rsplit(":", 1)
        assert pid.isdigit()
        assert t.user_attrs["seconds"] > 0 and t.user_attrs["queue_seconds"] >= 0
    # Trials 0 and 1 were asked before either finished: the second proposal saw
    # the first as pending, and both were in flight at the same time.
    assert trials[1].datetime_start < trials[0].datetime_complete
    assert trials[0].params != trials[1].params


def test_dask_local_cluster_runs_the_same_study(tmp_path):
    pytest.importorskip("distributed")
    study, _ = _run(tmp_path, "--dask", "local:2", trials=4)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert all(t.user_attrs["worker"].startswith(("tcp://", "inproc://")) for t in trials)
    assert all(t.user_attrs["seconds"] > 0 for t in trials)


def test_dask_records_failing_dying_and_timed_out_trials_and_finishes(tmp_path):
    pytest.importorskip("distributed")
    from fault_injection import FaultyTrials

    from trifront.problem import Problem
    from trifront.runner import RunConfig, run_study
    from trifront.space import SearchSpace

    config = RunConfig(
        problem=Problem(),
        evaluate=FaultyTrials(faults="1:raise,2:die,3:hang"),
        space=SearchSpace.default("logreg", "epsilon").with_bounds(
            {"epochs": {"low": 1, "high": 1}, "batch_size": {"low": 1024, "high": 2048}}
        ),
        n_trials=5,
        storage=f"sqlite:///{tmp_path}/d.db",
        study_name="dask-faults",
        n_startup_trials=4,
        execution=ExecutionConfig(dask="local:2", trial_timeout=20),
    )
    study = run_study(config, progress=False)
    trials = {t.number: t for t in study.get_trials()}
    assert len(trials) == 5
    assert trials[1].user_attrs["fail_reason"] == "RuntimeError: injected failure"
    assert trials[2].user_attrs["fail_reason"] == "worker died"
    assert trials[3].user_attrs["fail_reason"] == "timeout after 20 s"
    assert trials[0].state == trials[4].state == TrialState.COMPLETE
