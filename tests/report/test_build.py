"""The decision-maker's report, on hand-made studies (no training) and one tiny real one."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import asdict

import optuna
import pytest
from handmade import DISTRIBUTIONS, TRIALS, make_study

from trifront.analysis.importance import objective_importances
from trifront.analysis.reevaluate import reevaluate, reevaluation_seeds
from trifront.analysis.tradeoffs import Limits, best_under, price_of_fairness, price_of_privacy
from trifront.analysis.tuning import tuning_privacy
from trifront.cli.evaluate import evaluate_command
from trifront.problem import Problem
from trifront.report.build import write_report
from trifront.report.compare import write_comparison
from trifront.study import ATTR_KEY


def test_reevaluate_uses_the_cache_and_marks_the_test_front():
    study = make_study()
    points = reevaluate(study, n_seeds=3, progress=False)
    assert list(points["trial"]) == [0, 1, 2, 3]  # the validation front, by epsilon
    row = points.set_index("trial").loc[1]
    assert row["test_accuracy"] == pytest.approx(0.825)
    assert row["test_accuracy_std"] == pytest.approx(0.002)
    assert row["seeds"] == [100, 101, 102]
    # Trial 2 is dominated on test by trial 1 (lower accuracy, larger gap, larger epsilon).
    assert not points.set_index("trial").loc[2, "on_test_front"]
    assert points.set_index("trial").loc[1, "on_test_front"]


def test_reevaluation_seeds_are_the_trial_seed_plus_r():
    study = make_study(cache=False)
    assert reevaluation_seeds(study, study.trials[3], 4) == [300, 301, 302, 303]


def test_tradeoff_curves_are_staircases_of_best_accuracy():
    points = reevaluate(make_study(), n_seeds=3, progress=False)
    pop = price_of_privacy(points, fairness_levels=(0.05, math.inf))
    strict = pop[pop["level"] == 0.05]
    assert list(strict["accuracy"]) == sorted(strict["accuracy"])
    assert strict["accuracy"].max() == pytest.approx(0.825)
    pof = price_of_fairness(points, epsilon_levels=(1.0,))
    assert pof["accuracy"].max() == pytest.approx(0.825)
    assert best_under(points, Limits(0.5, 0.05))["trial"] == 0
    assert best_under(points, Limits(0.1, 0.05)) is None


def test_importances_small_and_normal_studies():
    table, note = objective_importances(make_study(trials=TRIALS[:1], cache=False))
    assert table.empty and "at least 2" in note
    table, note = objective_importances(make_study(cache=False))
    assert note is None
    assert set(table.columns) == {"accuracy", "epsilon", "unfairness"}
    assert table.sum().to_numpy() == pytest.approx([1, 1, 1])


def test_tuning_privacy_composes_search_and_reevaluation_runs():
    study = make_study()
    tp = tuning_privacy(study)
    # 3 test and 6 validation re-evaluation runs per trial (recommend confirms its leaders
    # with as many runs again): each trained on the rows.
    assert tp.n_search_runs == 5 and tp.n_reevaluation_runs == 45 and tp.n_unknown == 0
    eps = [t.values[1] for t in study.trials]
    assert tp.basic_epsilon == pytest.approx(sum(eps) + 9 * sum(eps))
    assert tp.delta_total == pytest.approx(50 * 1e-5)
    assert tp.largest_single_epsilon == 5.0
    assert 0 < tp.rdp_epsilon
    assert tuning_privacy(study, include_reevaluation=False).n_runs == 5


def test_report_files_are_complete_and_self_contained(tmp_path):
    study = make_study()
    paths = write_report(study, tmp_path, n_seeds=3, tuning_privacy=True, progress=False)
    for name in ("index.html", "front.csv", "trials.csv", "summary.md", "report.json"):
        assert (tmp_path / name).exists(), name
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    # plotly.js inlined exactly once, no external script, stylesheet or font.
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    for section in ("The 3-D front", "Two objectives at a time", "Search progress",
                    "Test-set re-evaluation", "What privacy and fairness cost",
                    "What drives each objective", "What ε does not cover"):
        assert section in page, section
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "test" in summary and "Price of privacy" in summary
    assert "basic composition" in summary
    front = (tmp_path / "front.csv").read_text().splitlines()
    assert "test_accuracy" in front[0] and len(front) == 1 + 1 + 4
    assert front[1].startswith(",constant predictor,0.76,0.0,0.0")  # always on the front
    data = json.loads(paths["report.json"].read_text())
    tuned, fair02, fair05 = data["references"]
    assert tuned["test_accuracy"] == pytest.approx(0.86) and tuned["limit"] is None
    assert (fair02["limit"], fair05["limit"]) == (0.02, 0.05)
    assert "tuned for itself" in summary and "Non-private fair ceiling at gap ≤ 0.02" in summary
    assert len(data["front"]) == 4


def test_report_without_reevaluation_trains_nothing(tmp_path):
    study = make_study(cache=False)
    write_report(study, tmp_path, reevaluate_test=False, png=False, progress=False)
    assert not any(k.startswith("test_eval:") for k in study.user_attrs)
    assert "validation" in (tmp_path / "summary.md").read_text()


def test_compare_overlays_studies(tmp_path):
    storage = f"sqlite:///{tmp_path / 'c.db'}"
    make_study("a", storage=storage, cache=False)
    make_study("b", storage=storage, cache=False, trials=TRIALS[:3])
    studies = [optuna.load_study(study_name=n, storage=storage) for n in ("a", "b")]
    paths = write_comparison(studies, tmp_path / "cmp")
    text = paths["compare.csv"].read_text()
    assert text.count("\n") == 3
    assert paths["index.html"].read_text().count("* plotly.js v") == 1


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trifront.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_reevaluation_matches_a_hand_run_evaluate(tmp_path):
    """The only test that trains: 2 tiny runs, then the printed command, by hand."""
    storage = f"sqlite:///{tmp_path / 'r.db'}"
    study = optuna.create_study(study_name="tiny", storage=storage,
                                directions=["maximize", "minimize", "minimize"])
    study.set_user_attr(ATTR_KEY, {"problem": asdict(Problem()), "seed": 0,
                                   "majority_rate": 0.76, "reference_point": [0.76, 10, 0.5]})
    params = {"target_epsilon": 1.0, "clip": 1.0, "lr": 0.5, "batch_size": 1024, "epochs": 1}
    study.add_trial(optuna.trial.create_trial(params=params, distributions=DISTRIBUTIONS,
                                              values=[0.8, 1.0, 0.1], user_attrs={"seed": 7}))
    points = reevaluate(study, n_seeds=2, progress=False)
    runs = study.user_attrs["test_eval:0"]["runs"]
    assert [r["seed"] for r in runs] == [7, 8]
    # The command the report/recommend print for seed 8, run by hand.
    command = evaluate_command(Problem(), params, seed=8).split()
    assert command[:2] == ["trifront", "evaluate"]
    proc = _cli(*command[1:], "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["split"] == "test"
    assert out["accuracy"] == pytest.approx(runs[1]["accuracy"], abs=1e-12)
    assert out["unfairness"] == pytest.approx(runs[1]["unfairness"], abs=1e-12)
    mean = (runs[0]["accuracy"] + runs[1]["accuracy"]) / 2
    assert points.loc[0, "test_accuracy"] == pytest.approx(mean)
    # A second call retrains nothing: the cache answers.
    before = dict(study.user_attrs)
    reevaluate(study, n_seeds=2, progress=False)
    assert study.user_attrs == before


def test_report_cli_writes_the_report(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    make_study("hand", storage=storage)
    proc = _cli("report", "hand", "--storage", storage, "--out", str(tmp_path / "out"),
                "--seeds", "3", "--no-png", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "index.html").exists()
    proc = _cli("report", "nope", "--storage", storage, "--out", str(tmp_path / "o2"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "hand" in proc.stderr


@pytest.mark.parametrize("command", [["report"], ["recommend"], ["compare"]])
def test_every_report_command_has_help(command):
    proc = _cli(*command, "--help")
    assert proc.returncode == 0 and "usage: trifront" in proc.stdout




@pytest.mark.parametrize("flag", ["noise_seeded", "public_statistics", "schema_from_data"])
def test_the_report_lists_each_caveat_that_applies(tmp_path, flag):
    # DESIGN.md rule 2 and issue 14: whatever an epsilon does not cover is said where it
    # is shown: the summary, its "What epsilon does not cover" section and report.json.
    clean = make_study("clean")
    out = write_report(clean, tmp_path / "clean", reevaluate_test=False, png=False,
                       progress=False)
    assert json.loads(out["report.json"].read_text())[flag] is False
    assert flag not in out["summary.md"].read_text()
    study = make_study("flagged", attrs={1: {flag: True}})
    out = write_report(study, tmp_path / "flagged", reevaluate_test=False, png=False,
                       progress=False)
    report = json.loads(out["report.json"].read_text())
    assert report[flag] is True
    assert sum(flag in c for c in report["caveats"]) == 1
    summary = out["summary.md"].read_text()
    section = summary[summary.index("## What epsilon does not cover"):]
    assert f"{flag}=true" in section
    assert f"{flag}=true" in out["index.html"].read_text()


def test_studies_that_searched_different_objectives_are_not_compared(tmp_path):
    from trifront.errors import ConfigError
    from trifront.study import SEARCHED_KEY

    three = make_study("three")
    two = make_study("two")
    two.set_user_attr(ATTR_KEY, {**two.user_attrs[ATTR_KEY],
                                 SEARCHED_KEY: ["accuracy", "epsilon"]})
    # Their hypervolumes are not in the same units (a 2-D area against a 3-D volume).
    with pytest.raises(ConfigError, match="searched different objectives"):
        write_comparison([three, two], tmp_path / "cmp")
    assert not (tmp_path / "cmp" / "index.html").exists()
    other = make_study("two-again")
    other.set_user_attr(ATTR_KEY, {**other.user_attrs[ATTR_KEY],
                                   SEARCHED_KEY: ["accuracy", "epsilon"]})
    assert write_comparison([two, other], tmp_path / "same")["index.html"].is_file()
