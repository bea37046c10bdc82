"""Faults: failing, NaN, dying and hanging trials; Ctrl-C; kill -9 of the driver.

Faults are injected with the test-only ``FaultyTrials`` (tests/fault_injection.py),
the real trial pipeline whose chosen trials fail; worker processes import it by name.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from fault_injection import FaultyTrials
from optuna.trial import TrialState

from trifront.execution import ExecutionConfig
from trifront.problem import Problem
from trifront.runner import RunConfig, run_study
from trifront.space import SearchSpace

TESTS = Path(__file__).resolve().parents[1]  # tests/: where fault_injection.py lives
TINY = {"epochs": {"low": 1, "high": 1}, "batch_size": {"low": 1024, "high": 2048}}
TINY_TOML = """
[space.epochs]
low = 1
high = 2
[space.batch_size]
low = 512
high = 2048
"""


def _config(tmp_path, faulty, *, n_trials, jobs, timeout=None, name="faults"):
    return RunConfig(
        problem=Problem(),
        evaluate=faulty,
        space=SearchSpace.default("logreg", "epsilon").with_bounds(TINY),
        n_trials=n_trials,
        storage=f"sqlite:///{tmp_path}/faults.db",
        study_name=name,
        n_startup_trials=4,
        execution=ExecutionConfig(jobs=jobs, trial_timeout=timeout),
    )


def _by_number(study):
    return {t.number: t for t in study.get_trials(deepcopy=False)}


def _reasons(trials):
    return {n: t.user_attrs.get("fail_reason") for n, t in trials.items()}


def test_failing_and_nan_trials_fail_inline_and_the_study_finishes(tmp_path):
    faulty = FaultyTrials(faults="1:raise,2:nan")
    study = run_study(_config(tmp_path, faulty, n_trials=4, jobs=1), progress=False)
    trials = _by_number(study)
    assert len(trials) == 4
    assert trials[1].state == TrialState.FAIL
    assert trials[1].user_attrs["fail_reason"] == "RuntimeError: injected failure"
    assert "fault_injection.py" in trials[1].user_attrs["fail_traceback"]
    assert trials[2].state == TrialState.FAIL
    assert trials[2].user_attrs["fail_reason"].startswith("non-finite objective values [nan")
    assert {trials[0].state, trials[3].state} == {TrialState.COMPLETE}
    assert trials[0].user_attrs["worker"].endswith(f":{os.getpid()}")  # trained in the driver


def test_raise_nan_and_killed_worker_fail_in_the_pool_and_the_study_finishes(tmp_path):
    faulty = FaultyTrials(faults="1:raise,2:die,3:nan")
    study = run_study(_config(tmp_path, faulty, n_trials=7, jobs=2), progress=False)
    trials = _by_number(study)
    assert len(trials) == 7 and all(t.state != TrialState.RUNNING for t in trials.values())
    assert trials[1].user_attrs["fail_reason"] == "RuntimeError: injected failure"
    assert trials[2].state == TrialState.FAIL
    assert trials[2].user_attrs["fail_reason"] == f"worker died (exit code {-signal.SIGKILL})"
    assert trials[3].user_attrs["fail_reason"].startswith("non-finite objective values")
    complete = [t for t in trials.values() if t.state == TrialState.COMPLETE]
    assert len(complete) == 4, "the pool must go on after a worker died"
    for t in complete:
        assert t.user_attrs["worker"] != f"{os.uname().nodename}:{os.getpid()}"
        assert t.user_attrs["seconds"] > 0 and t.user_attrs["queue_seconds"] >= 0
    # After the death the dead worker trains nothing more (it may have finished a trial
    # before trial 2: which worker gets which trial depends on timing).
    later = {t.user_attrs["worker"] for t in complete if t.number > 2}
    assert later and trials[2].user_attrs["worker"] not in later


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_python_swallows_still_stops_the_study(tmp_path):
    # Python loses a KeyboardInterrupt raised in a finaliser; the driver must not.
    faulty = FaultyTrials(faults="2:lost-sigint")
    # The handler the run finds (default_int_handler, or SIG_IGN when the suite
    # itself runs as a background job) is the one it must leave.
    found = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run_study(_config(tmp_path, faulty, n_trials=6, jobs=1), progress=False)
    study = optuna.load_study(study_name="faults", storage=f"sqlite:///{tmp_path}/faults.db")
    trials = _by_number(study)
    # Trial 2 trained and was kept; the driver stopped before asking trial 3 (a
    # default configuration queued at creation may wait there, never started).
    asked = {n: t for n, t in trials.items() if t.state != TrialState.WAITING}
    assert sorted(asked) == [0, 1, 2]
    assert all(t.state == TrialState.COMPLETE for t in asked.values())
    assert all(t.datetime_start is None for n, t in trials.items() if n not in asked)
    assert signal.getsignal(signal.SIGINT) is found


def test_a_ctrl_c_a_library_turns_into_another_error_is_still_an_interrupt(tmp_path,
                                                                           monkeypatch):
    # SQLAlchemy's commit, interrupted mid-way, raises AssertionError instead: the
    # driver must still stop as interrupted (exit 130 in the CLI, trials marked).
    import trifront.runner as runner

    real = runner.tell_outcome

    def tell(study, trial, outcome):
        if trial.number == 1:
            try:
                os.kill(os.getpid(), signal.SIGINT)  # the run's handler sets its flag
                time.sleep(5)
            except KeyboardInterrupt:
                raise AssertionError("interrupted inside a commit") from None
        return real(study, trial, outcome)

    monkeypatch.setattr(runner, "tell_outcome", tell)
    with pytest.raises(KeyboardInterrupt) as info:
        run_study(_config(tmp_path, FaultyTrials(faults=""), n_trials=4, jobs=1),
                  progress=False)
    assert isinstance(info.value.__cause__, AssertionError)
    trials = _by_number(optuna.load_study(study_name="faults",
                                          storage=f"sqlite:///{tmp_path}/faults.db"))
    assert trials[0].state == TrialState.COMPLETE
    assert trials[1].state == TrialState.FAIL
    assert trials[1].user_attrs["fail_reason"] == "interrupted"


def test_a_ctrl_c_inside_a_storage_read_still_marks_the_trials_in_flight(tmp_path,
                                                                       monkeypatch):
    # An interrupt after SQLite ran a SELECT and before SQLAlchemy read its rows
    # leaves the statement open; its shared lock then refused every write of the
    # driver ("database is locked"), and the trials in flight stayed RUNNING. The
    # interrupt must wait for the storage call to end.
    from sqlalchemy.orm import loading

    import trifront.runner as runner

    real_tell, real_instances = runner.tell_outcome, loading.instances
    told, fired = [], []

    def tell(study, trial, outcome):
        told.append(trial.number)
        return real_tell(study, trial, outcome)

    def instances(cursor, context):
        if told and not fired:
            fired.append(len(told))
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, inside the read
        return real_instances(cursor, context)

    monkeypatch.setattr(runner, "tell_outcome", tell)
    monkeypatch.setattr(loading, "instances", instances)
    with pytest.raises(KeyboardInterrupt):
        run_study(_config(tmp_path, FaultyTrials(faults=""), n_trials=8, jobs=2),
                  progress=False)
    monkeypatch.undo()
    assert fired, "no storage read came after the first trial finished"
    trials = _by_number(optuna.load_study(study_name="faults",
                                          storage=f"sqlite:///{tmp_path}/faults.db"))
    assert not [n for n, t in trials.items() if t.state == TrialState.RUNNING]
    stopped = [t for t in trials.values() if t.user_attrs.get("fail_reason") == "interrupted"]
    assert stopped and all(t.state == TrialState.FAIL for t in stopped)


def test_inside_storage_code_the_first_ctrl_c_waits_and_a_second_one_raises():
    from trifront.runner import _interrupt_flag

    # A function whose module passes for SQLAlchemy's: the handler sees its frame.
    storage_like = {"__name__": "sqlalchemy.engine.fake", "os": os, "signal": signal}
    exec("def call():\n    os.kill(os.getpid(), signal.SIGINT)\n    return sum(range(50))",
         storage_like)
    with _interrupt_flag() as interrupted:
        assert storage_like["call"]() == sum(range(50))  # finished, not cut short
        assert interrupted.is_set()
        with pytest.raises(KeyboardInterrupt):
            storage_like["call"]()
    with _interrupt_flag(), pytest.raises(KeyboardInterrupt):  # elsewhere: at once
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(50))


def test_a_trial_over_the_timeout_is_stopped_and_recorded_fail(tmp_path):
    faulty = FaultyTrials(faults="1:hang")
    start = time.monotonic()
    study = run_study(
        _config(tmp_path, faulty, n_trials=3, jobs=2, timeout=15.0), progress=False
    )
    assert time.monotonic() - start < 300
    trials = _by_number(study)
    assert trials[1].state == TrialState.FAIL
    assert trials[1].user_attrs["fail_reason"] == "timeout after 15 s"
    assert 15.0 <= trials[1].user_attrs["seconds"] < 60
    # The timeout must leave room for a normal trial on a loaded machine.
    assert [trials[0].state, trials[2].state] == [TrialState.COMPLETE] * 2, _reasons(trials)


def test_timeout_with_one_job_runs_in_a_worker_so_it_can_be_killed(tmp_path):
    faulty = FaultyTrials(faults="0:hang")
    study = run_study(_config(tmp_path, faulty, n_trials=2, jobs=1, timeout=15), progress=False)
    trials = _by_number(study)
    assert trials[0].user_attrs["fail_reason"] == "timeout after 15 s"
    assert trials[1].state == TrialState.COMPLETE, _reasons(trials)


# Quasi-random proposals only (n_startup_trials = n_trials): the test is about
# storage, not the model, and GP fits would only slow it down.
DRIVER = """
import sys
from fault_injection import FaultyTrials
from trifront.execution import ExecutionConfig
from trifront.problem import Problem
from trifront.runner import RunConfig, run_study
from trifront.space import SearchSpace

config = RunConfig(
    problem=Problem(),
    evaluate=FaultyTrials(delay=float(sys.argv[2])),
    space=SearchSpace.default("logreg", "epsilon").with_bounds(
        {"epochs": {"low": 1, "high": 1}, "batch_size": {"low": 1024, "high": 2048}}),
    n_trials=12, storage=sys.argv[1], study_name="crash", n_startup_trials=12,
    execution=ExecutionConfig(jobs=2),
)
run_study(config, progress=False)
"""


def test_kill_9_of_the_driver_then_resume_reruns_the_interrupted_trials(tmp_path):
    storage = f"sqlite:///{tmp_path}/crash.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    log = tmp_path / "driver.log"
    with log.open("w") as stderr:
        driver = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(DRIVER), storage, "1.0"], env=env,
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        complete = []
        while time.monotonic() < deadline and len(complete) < 2:
            time.sleep(0.5)
            assert driver.poll() is None, log.read_text()
            try:
                study = optuna.load_study(study_name="crash", storage=storage)
            except KeyError:
                continue
            complete = study.get_trials(states=(TrialState.COMPLETE,))
        assert len(complete) >= 2, "the driver finished no trial in time"
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
        # Orphaned workers exit on their own when the pipe closes; make sure.
        os.killpg(driver.pid, signal.SIGKILL) if _group_alive(driver.pid) else None

    before = optuna.load_study(study_name="crash", storage=storage)
    finished = {t.number: t.values for t in before.get_trials(states=(TrialState.COMPLETE,))}
    assert len(finished) >= 2
    assert before.get_trials(states=(TrialState.RUNNING,)), "the kill left no trial RUNNING"
    assert len(before.trials) < 12  # killed mid-study (slack for a loaded machine)

    config = RunConfig(
        problem=Problem(),
        evaluate=FaultyTrials(delay=1.0),
        space=SearchSpace.default("logreg", "epsilon").with_bounds(TINY),
        n_trials=12, storage=storage, study_name="crash", n_startup_trials=12,
        execution=ExecutionConfig(jobs=2),
    )
    after = run_study(config, progress=False)
    trials = after.get_trials()
    for number, values in finished.items():
        assert trials[number].state == TrialState.COMPLETE and trials[number].values == values
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stale = [t for t in trials if t.user_attrs.get("fail_reason") ==
             "left RUNNING by an interrupted run"]
    assert stale, "the trials left RUNNING must be marked FAIL"
    assert all(t.state == TrialState.FAIL and t.user_attrs["interrupted"] for t in stale)
    # What the user asked for: 12 results. The interrupted trials' parameters ran again.
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 12
    reruns = {t.user_attrs.get("rerun_of"): t for t in trials if "rerun_of" in t.user_attrs}
    names = set(config.space.distributions())
    # A trial the kill caught while its parameters were stored one by one never
    # trained: it is not run again (the sampler proposes a whole one instead).
    whole = [t for t in stale if t.params.keys() == names]
    assert whole, "the kill left no trial with all its parameters"
    assert set(reruns) == {t.number for t in whole}
    for t in whole:
        assert reruns[t.number].params == t.params
        assert reruns[t.number].state == TrialState.COMPLETE


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_keeps_finished_trials_marks_running_ones_and_exits_130(tmp_path, jobs):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_TOML)
    db = f"sqlite:///{tmp_path}/c.db"
    command = [sys.executable, "-m", "trifront.cli", "run", "--config", str(cfg),
               "--trials", "30", "--storage", db, "--out", str(tmp_path / "out"),
               "--jobs", jobs, "--no-progress"]
    # A terminal's Ctrl-C reaches the whole process group (driver and workers).
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    n_complete = 0
    while time.monotonic() < deadline and n_complete < 1:
        time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()
        try:
            study = optuna.load_study(study_name="adult-logreg", storage=db)
        except KeyError:
            continue
        n_complete = len(study.get_trials(states=(TrialState.COMPLETE,)))
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "resume with:" in err and "--trials 30" in err
    assert "Traceback" not in err

    study = optuna.load_study(study_name="adult-logreg", storage=db)
    trials = study.get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert [t for t in trials if t.state == TrialState.COMPLETE]
    interrupted = [t for t in trials if t.user_attrs.get("fail_reason") == "interrupted"]
    assert all(t.state == TrialState.FAIL for t in interrupted)
    assert len(trials) < 30
    assert not _group_alive(proc.pid) or _no_workers_left(proc.pid)


def _no_workers_left(pgid, wait=10.0):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return True
        time.sleep(0.2)
    return False
