"""Issue 16, part 1: ``trifront refine`` adds trials aimed at a region to the same study."""

import hashlib
import json

import optuna
import pytest

from trifront.cli import main
from trifront.space import SearchSpace
from trifront.study import ATTR_KEY, REFINEMENTS_KEY


def _run(db, *extra, study="s", trials=5):
    return main(["run", "--dataset", "adult", "--model", "logreg", "--trials", str(trials),
                 "--cv-folds", "1", "--storage", f"sqlite:///{db}", "--study", study,
                 "--out", str(db.parent / f"run-{study}"), "--no-progress", *extra])


@pytest.fixture(scope="module")
def refined(tmp_path_factory):
    db = tmp_path_factory.mktemp("refine") / "s.db"
    assert _run(db, "--startup-trials", "3") == 0
    before = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    old = [(t.params, t.values, t.user_attrs.get("seed")) for t in before.trials]
    settings = before.user_attrs[ATTR_KEY]
    code = main(["refine", "s", "--storage", f"sqlite:///{db}", "--max-epsilon", "1",
                 "--max-unfairness", "0.05", "--trials", "7", "--jobs", "1",
                 "--out", str(db.parent / "refined"), "--no-progress"])
    assert code == 0
    return db, old, settings


def test_refine_adds_its_trials_to_the_same_study_and_keeps_the_rest(refined):
    db, old, settings = refined
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    assert len(study.trials) == 12
    assert [(t.params, t.values, t.user_attrs.get("seed")) for t in study.trials[:5]] == old
    assert study.user_attrs[ATTR_KEY] == settings  # the region is not a study setting
    assert study.user_attrs[REFINEMENTS_KEY] == [
        {"max_epsilon": 1.0, "max_unfairness": 0.05, "trials": 7, "first_trial": 5}]
    new = study.trials[5:]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in new)
    assert all(t.user_attrs["region"] == [1.0, 0.05] for t in new)
    assert all("region" not in t.user_attrs for t in study.trials[:5])
    # Every new trial spends the limit; the first are the study's most accurate
    # configuration at epsilon <= 1, steered to 0, 0.5, 1 and 1.5 times the gap limit,
    # then the smallest-batch public default steered the same way (once, if the two
    # are the same configuration).
    assert all(t.params["target_epsilon"] == 1.0 for t in new)
    done = [t for t in study.trials[:5] if t.values[1] <= 1.0]
    best = max(done, key=lambda t: t.values[0])
    space = SearchSpace.from_dict(settings["space"])
    bases = [{**best.params, "target_epsilon": 1.0}]
    default = space.default_at(1.0, batch_at=0.0)
    assert default["clip"] == 1.0 and default["lr"] == 0.5
    assert default["batch_size"] == space["batch_size"].low
    if {k: v for k, v in default.items() if k != "fair_target"} != {
            k: v for k, v in bases[0].items() if k != "fair_target"}:
        bases.append(default)
    starts = [{**b, "fair_target": g} for b in bases for g in (0.0, 0.025, 0.05, 0.075)]
    for t, start in zip(new, starts, strict=False):
        assert t.params == pytest.approx(start)
    assert all(t.user_attrs["anchor"] == "region" for t in new[:len(starts)])
    assert new[len(starts)].system_attrs["trifront:proposal"] == "model"
    # The sampler's reference accuracy is half way from the majority rate to the best
    # accuracy at epsilon <= 1 before the refinement: near-constant models add nothing.
    majority = settings["majority_rate"]
    floor = majority + 0.5 * (best.values[0] - majority)
    model_data = new[len(starts)].system_attrs["trifront:model_data"]
    assert model_data["reference_point"] == pytest.approx([floor, 2.0, 0.05])
    assert floor > majority + 0.02


def test_report_and_recommend_of_the_study_name_see_the_refined_trials(refined, capsys):
    db, _, _ = refined
    out = db.parent / "report"
    assert main(["report", "s", "--storage", f"sqlite:///{db}", "--out", str(out),
                 "--no-reevaluate", "--no-png", "--no-progress"]) == 0
    assert "Refined: trials 5–11 (asked for 7) aimed at ε ≤ 1 and gap ≤ 0.05" in (
        out / "summary.md").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["refinements"][0]["first_trial"] == 5
    trials = (db.parent / "refined" / "trials.csv").read_text().splitlines()
    assert len(trials) == 13  # header + every trial of the study


def test_the_original_run_command_still_resumes_a_refined_study(refined):
    db, _, _ = refined
    assert _run(db, "--startup-trials", "3", trials=13) == 0
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    assert len(study.trials) == 13 and "region" not in study.trials[-1].user_attrs


@pytest.fixture(scope="module")
def other_studies(tmp_path_factory):
    db = tmp_path_factory.mktemp("refine-bad") / "b.db"
    assert _run(db, "--startup-trials", "2", "--sampler", "random", study="rnd", trials=2) == 0
    assert _run(db, "--startup-trials", "2", "--objectives", "accuracy,epsilon", study="pu",
                trials=2) == 0
    return db


BAD = {
    "unknown_study": (["nope", "--max-epsilon", "1"], "unknown study 'nope'; accepted: pu, rnd"),
    "zero_epsilon": (["pu", "--max-epsilon", "0"], "expected a number > 0"),
    "negative_gap": (["pu", "--max-unfairness", "-0.1"], "--max-unfairness"),
    "no_trials": (["pu", "--max-epsilon", "1", "--trials", "0"], "expected an integer >= 1"),
    "below_the_floor": (["pu", "--max-epsilon", "0.01"], "searches target epsilon from 0.05"),
    "no_region": (["pu"], "give the region to refine"),
    "gap_not_searched": (["pu", "--max-unfairness", "0.02"], "did not search the fairness gap"),
    "random_sampler": (["rnd", "--max-epsilon", "1"], "ignores a region"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_refine_input_exits_2_with_one_line_and_leaves_the_study(case, other_studies,
                                                                    tmp_path, capsys):
    args, message = BAD[case]
    if "--trials" not in args:
        args = [*args, "--trials", "2"]
    before = hashlib.sha256(other_studies.read_bytes()).hexdigest()
    try:
        code = main(["refine", *args, "--storage", f"sqlite:///{other_studies}",
                     "--out", str(tmp_path / "out"), "--no-progress"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and message in err, err
    assert hashlib.sha256(other_studies.read_bytes()).hexdigest() == before


def test_refine_starts_from_the_best_and_from_the_small_batch_default():
    # The study's best at epsilon <= 1 has the largest batch; the smallest-batch public
    # default is a second start, each at fair targets 0, 0.5, 1 and 1.5 times the limit.
    from trifront.refine import region_start

    space = SearchSpace.default()
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    best = space.default_at(0.5, batch_at=1.0)
    worse = {**best, "lr": 0.1}
    for params, acc in ((best, 0.83), (worse, 0.80)):
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=space.distributions(), values=[acc, 0.5, 0.1]))
    starts = region_start(study, space, max_epsilon=1.0, max_unfairness=0.02)
    default = space.default_at(1.0, batch_at=0.0)
    expected = [{**p, "target_epsilon": 1.0, "fair_target": g}
                for p in (best, default) for g in (0.0, 0.01, 0.02, 0.03)]
    assert len(starts) == 8
    for got, want in zip(starts, expected, strict=True):
        assert got == pytest.approx(want)
    assert starts[4]["batch_size"] == space["batch_size"].low < starts[0]["batch_size"]


def test_region_accuracy_is_half_way_from_the_constant_predictor_to_the_best_at_the_limit():
    from handmade import make_study

    from trifront.refine import region_accuracy

    study = make_study()  # majority rate 0.76; best at epsilon <= 1 is 0.83 (at 0.95)
    assert region_accuracy(study, max_epsilon=1.0) == pytest.approx(0.795)
    assert region_accuracy(study, max_epsilon=10.0) == pytest.approx(0.805)  # 0.85 at 5
    assert region_accuracy(study, max_epsilon=0.1) is None  # nothing trained there
    worse = make_study("worse", trials=[(0.75, 0.5, 0.01, 0.75, 0.01)])
    assert region_accuracy(worse, max_epsilon=1.0) is None  # nothing beats the constant
