"""The study layer: what a study stores, read back without the optimiser or the executors."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict

import optuna
import pytest
from optuna.trial import TrialState

from trifront.errors import ConfigError, StorageError
from trifront.problem import Problem
from trifront.study import (
    ATTR_KEY,
    INTERRUPTED,
    counted_trials,
    fail_trial,
    load_study,
    open_study,
    requeue_interrupted,
    study_problem,
)


def _record(**problem):
    return {"problem": asdict(Problem(**problem)), "space": {"dimensions": []}}


def test_reading_a_study_loads_no_optimiser_executor_or_runner():
    # BoTorch is loaded by the report only to compute hypervolumes (a utility, not the
    # optimiser); recommending loads none of it.
    code = (
        "import sys\n"
        "import trifront.analysis.recommend, trifront.analysis.tuning, trifront.report.build\n"
        "import trifront.cli.report, trifront.cli.recommend, trifront.cli.compare\n"
        "bad = [m for m in ('trifront.runner', 'trifront.execution', 'trifront.search',"
        " 'botorch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_open_creates_then_refuses_other_settings(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = open_study(storage_url=url, study_name="a", record=_record())
    assert study.user_attrs[ATTR_KEY]["objectives"] == ["accuracy", "epsilon", "unfairness"]
    assert study_problem(study) == Problem()
    with pytest.raises(ConfigError, match="dataset: stored 'adult', given 'german'"):
        open_study(storage_url=url, study_name="a", record=_record(dataset="german"))
    with pytest.raises(StorageError, match="no study named 'b'"):
        open_study(storage_url=url, study_name="b", record=_record(), create=False)


def test_a_setting_added_later_counts_as_its_default_on_resume(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    old = _record()
    del old["problem"]["reproducible"]  # a study made before the setting existed
    open_study(storage_url=url, study_name="a", record=old)
    open_study(storage_url=url, study_name="a", record=_record())  # no error
    with pytest.raises(ConfigError, match="reproducible"):
        open_study(storage_url=url, study_name="a", record=_record(reproducible=True))


def test_a_study_stored_before_tail_averaging_is_read_and_resumed_without_it(tmp_path):
    """Its trials trained on the last iterate: reports re-train them so, resumes keep it."""
    url = f"sqlite:///{tmp_path}/s.db"
    old = _record()
    del old["problem"]["tail_average"]
    study = open_study(storage_url=url, study_name="a", record=old)
    assert study_problem(study).tail_average == 0.0
    assert Problem().tail_average == 0.5  # what a new study gets
    open_study(storage_url=url, study_name="a", record=_record(tail_average=0.0))  # no error
    with pytest.raises(ConfigError, match="tail_average: stored 0.0, given 0.5"):
        open_study(storage_url=url, study_name="a", record=_record())


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True])
def test_tail_average_must_be_a_share(bad):
    with pytest.raises(ConfigError, match="tail_average"):
        Problem(tail_average=bad)


def test_load_study_names_the_choices(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    for name in ("one", "two"):
        open_study(storage_url=url, study_name=name, record=_record())
    with pytest.raises(ConfigError, match="holds 2 studies"):
        load_study(url)
    with pytest.raises(StorageError, match="Did you mean 'one'"):
        load_study(url, "onr")
    assert load_study(url, "two").study_name == "two"


def test_interrupted_trials_are_requeued_and_do_not_count(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = open_study(storage_url=url, study_name="a", record=_record())
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    done = study.ask(dist)
    study.tell(done, [0.9, 1.0, 0.1])
    broken = study.ask(dist)
    study.tell(broken, state=TrialState.FAIL)  # failed on its own: counts
    running = study.ask(dist)  # left RUNNING by a crash
    running.set_user_attr("anchor", "region")  # one of refine's starts, say
    assert counted_trials(study) == 2
    assert requeue_interrupted(study) == 1
    trials = study.get_trials()
    assert trials[running.number].state == TrialState.FAIL
    assert trials[running.number].user_attrs[INTERRUPTED] is True
    assert counted_trials(study) == 2
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].user_attrs["rerun_of"] == running.number
    assert waiting[0].user_attrs["anchor"] == "region"  # still what it was for
    again = study.ask(dist)  # the queued parameters come first
    assert again.params["x"] == running.params["x"]


def test_a_trial_stopped_while_its_parameters_were_drawn_is_not_queued_again(tmp_path):
    # Optuna stores parameters one by one: a kill between two leaves only some.
    study = open_study(storage_url=f"sqlite:///{tmp_path}/s.db", study_name="a",
                       record=_record())
    space = {"x": optuna.distributions.FloatDistribution(0, 1),
             "y": optuna.distributions.FloatDistribution(0, 1)}
    half = study.ask({"x": space["x"]})
    whole = study.ask(space)
    assert requeue_interrupted(study, space) == 2
    trials = study.get_trials()
    assert trials[half.number].state == trials[whole.number].state == TrialState.FAIL
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert [t.user_attrs["rerun_of"] for t in waiting] == [whole.number]
    assert study.ask(space).params == whole.params  # the queued parameters come first


def test_fail_trial_without_interruption_queues_nothing(tmp_path):
    study = open_study(storage_url=f"sqlite:///{tmp_path}/s.db", study_name="a",
                       record=_record())
    t = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    fail_trial(study, study.get_trials()[t.number], "boom")
    assert [s.state for s in study.get_trials()] == [TrialState.FAIL]
    assert counted_trials(study) == 1


def test_objectives_are_named_for_optuna_dashboard(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    assert open_study(storage_url=url, study_name="a", record=_record()).metric_names == [
        "accuracy", "epsilon", "unfairness"]
    # A study made before the names: resuming names them.
    old = optuna.create_study(storage=url, study_name="old",
                              directions=["maximize", "minimize", "minimize"])
    old.set_user_attr(ATTR_KEY, _record())
    assert optuna.load_study(study_name="old", storage=url).metric_names is None
    open_study(storage_url=url, study_name="old", record=_record())
    assert optuna.load_study(study_name="old", storage=url).metric_names == [
        "accuracy", "epsilon", "unfairness"]


def test_a_new_study_trains_the_anchors_first_and_a_resumed_one_does_not_repeat_them(tmp_path):
    import trifront
    from trifront.space import SearchSpace

    storage = f"sqlite:///{tmp_path / 'a.db'}"
    kw = {"dataset": "german", "storage": storage, "study": "a", "progress": False, "jobs": 1,
          "cv_folds": 1}
    study = trifront.run(trials=2, **kw)
    n_public = trifront.Problem(dataset="german").data().n_train_public
    anchors = SearchSpace.default("logreg", n_train=n_public).anchors()
    trials = sorted(study.trials, key=lambda t: t.number)
    assert [t.params for t in trials] == anchors[:2]
    assert all(t.user_attrs.get("anchor") for t in trials)
    study = trifront.run(trials=4, **kw)  # resume: the third anchor is not queued again
    later = sorted(study.trials, key=lambda t: t.number)[2:]
    assert not any(t.user_attrs.get("anchor") for t in later)
    off = trifront.run(trials=1, no_anchors=True, **{**kw, "study": "b"})
    assert not off.trials[0].user_attrs.get("anchor")
    assert off.trials[0].params not in anchors
