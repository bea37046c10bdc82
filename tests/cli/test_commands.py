"""End to end through the real command line, with tiny budgets."""

import hashlib
import json
import math
import re
import subprocess
import sys

import pandas as pd
import pytest

from trifront.cli import main

REQUIRED_COLUMNS = {
    "trial", "accuracy", "epsilon", "delta", "unfairness", "noise_multiplier",
    "sample_rate", "steps", "target_epsilon", "clip", "lr", "batch_size", "epochs",
}

TINY_SPACE = """
[space.epochs]
low = 1
high = 2
[space.batch_size]
low = 512
high = 2048
"""


def _cli(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "trifront.cli", *args], capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.parametrize("command", [[], ["run"], ["evaluate"], ["datasets"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: trifront" in capsys.readouterr().out


def test_evaluate_json_reports_epsilon_an_independent_accountant_confirms():
    proc = _cli("evaluate", "--dataset", "adult", "--model", "logreg", "--epsilon", "1",
                "--clip", "1", "--lr", "0.5", "--batch-size", "512", "--epochs", "1",
                "--seed", "3", "--json")
    out = json.loads(proc.stdout)
    for key in ("accuracy", "epsilon", "unfairness", "noise_multiplier", "sample_rate",
                "steps", "delta", "accountant"):
        assert key in out, key
    assert out["delta"] == 1e-5 and out["accountant"] != "gdp"
    assert 0.99 <= out["epsilon"] <= 1.0
    assert out["epsilon_rdp"] >= out["epsilon"] * 0.999

    # Independent recomputation with Google's dp_accounting PLD accountant.
    import dp_accounting

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(
            out["sample_rate"], dp_accounting.GaussianDpEvent(out["noise_multiplier"])
        ),
        out["steps"],
    )
    # A finer grid than ours: its pessimistic estimate is the tighter bound.
    pld = dp_accounting.pld.PLDAccountant(value_discretization_interval=1e-5)
    independent = pld.compose(event).get_epsilon(out["delta"])
    assert out["epsilon"] >= independent * (1 - 1e-6), "reported epsilon below a sound accountant"
    assert out["epsilon"] <= independent * 1.01
    assert 0.5 < out["accuracy"] <= 1.0 and 0.0 <= out["unfairness"] <= 1.0


def test_run_writes_front_and_resumes(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_SPACE)
    db = f"sqlite:///{tmp_path}/s.db"
    out = tmp_path / "out"
    common = ["run", "--dataset", "adult", "--model", "logreg", "--storage", db,
              "--study", "tiny", "--out", str(out), "--config", str(cfg),
              "--startup-trials", "2", "--no-progress", "--seed", "1"]
    proc = _cli(*common, "--trials", "3")
    assert "Pareto front" in proc.stdout
    trials = pd.read_csv(out / "trials.csv")
    front = pd.read_csv(out / "front.csv")
    assert len(trials) == 3
    assert REQUIRED_COLUMNS <= set(trials.columns) and REQUIRED_COLUMNS <= set(front.columns)
    assert front["configuration"].iloc[0] == "constant predictor"  # always on the front
    trained = front[front["trial"].notna()]
    assert 0 <= len(trained) <= 3 and set(trained["trial"]) <= set(trials["trial"])
    assert (trained["accuracy"] > front["accuracy"].iloc[0]).all()
    html = (out / "front.html").read_text()
    assert "Scatter3d" in html or "scatter3d" in html
    # Self-contained: plotly's script is inlined, no script is fetched.
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert "plotly.js" in html.lower() or "Plotly" in html

    # Same command, larger total: continues, keeps the first three.
    _cli(*common, "--trials", "4")
    again = pd.read_csv(out / "trials.csv")
    assert len(again) == 4
    pd.testing.assert_frame_equal(
        again.loc[:2, ["trial", "accuracy", "epsilon", "unfairness"]],
        trials[["trial", "accuracy", "epsilon", "unfairness"]],
    )

    # Same study with other settings: refused with exit 2, storage untouched.
    path = tmp_path / "s.db"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    bad = _cli(*[a if a != "logreg" else "mlp" for a in common], "--trials", "5", check=False)
    assert bad.returncode == 2
    assert "other problem settings" in bad.stderr and "Traceback" not in bad.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--dataset", "adlt"], "Did you mean 'adult'"),
        (["run", "--model", "svm"], "accepted: logreg, mlp"),
        (["run", "--sampler", "bayes"], "unknown sampler"),
        (["run", "--trials", "0"], "--trials: expected an integer >= 1, got '0'"),
        (["run", "--delta", "0.01"], "1/n_train"),
        (["run", "--fairness", "parity"], "demographic_parity"),
        (["run", "--focus-unfairness", "2"], "expected a number > 0 and <= 1"),
        (["run", "--max-epsilon", "0.01"], "low <= high"),
        (["run", "--max-epsilon", "1", "--parametrisation", "noise"],
         "needs parametrisation='epsilon'"),
        (["evaluate", "--epsilon", "-1", "--clip", "1", "--lr", "1", "--batch-size", "64",
          "--epochs", "1"], "--epsilon: expected a number > 0 or 'inf', got '-1'"),
        (["evaluate", "--epsilon", "abc", "--clip", "1", "--lr", "1", "--batch-size", "64",
          "--epochs", "1"], "'inf'"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, tmp_path, capsys):
    db = tmp_path / "keep.db"
    if args[0] == "run":
        args = [*args, "--storage", f"sqlite:///{db}", "--out", str(tmp_path / "o"),
                "--no-progress"]
    code = _exit_code(args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_corrupt_storage_is_refused_and_left_intact(tmp_path, capsys):
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"\x00garbage" * 64)
    before = db.read_bytes()
    code = _exit_code(["run", "--storage", f"sqlite:///{db}", "--trials", "2",
                       "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    assert "not a readable SQLite" in capsys.readouterr().err
    assert db.read_bytes() == before


def _exit_code(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse errors
        return exc.code


def test_epsilon_inf_trains_without_privacy(capsys):
    code = main(["evaluate", "--epsilon", "inf", "--clip", "1", "--lr", "0.5",
                 "--batch-size", "512", "--epochs", "1", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert math.isinf(out["epsilon"]) and out["noise_multiplier"] == 0.0
    assert out["max_grad_norm"] is None


def test_focus_and_max_epsilon_set_the_reference_point_and_must_match_on_resume(tmp_path):
    from dataclasses import replace

    from trifront.errors import ConfigError
    from trifront.problem import Problem
    from trifront.runner import RunConfig, open_study
    from trifront.space import SearchSpace
    from trifront.study import ATTR_KEY

    problem = Problem(dataset="adult", model="logreg")
    space = SearchSpace.default("logreg", n_train=problem.validate().n_train).with_bounds(
        {"target_epsilon": {"high": 1.0}}
    )
    config = RunConfig(problem=problem, space=space, storage=f"sqlite:///{tmp_path}/f.db",
                       study_name="focus", focus_unfairness=0.03)
    study = open_study(config)
    ref = study.user_attrs[ATTR_KEY]["reference_point"]
    assert ref[1:] == [1.0, 0.03]
    assert tuple(study.sampler.reference_point) == tuple(ref)
    assert open_study(config).study_name == "focus"  # same settings: resumes
    with pytest.raises(ConfigError, match="focus_unfairness=0.03"):
        open_study(replace(config, focus_unfairness=None))
