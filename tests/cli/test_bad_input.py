"""Bad input through the real CLI: exit 2, one line naming the problem, storage intact.

Every case of issue 7's table runs against an existing study database whose
bytes must not change.
"""

import hashlib

import numpy as np
import optuna
import pandas as pd
import pytest

from trifront.cli import main


@pytest.fixture(scope="module")
def existing_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "keep.db"
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="keep",
                                directions=["maximize", "minimize", "minimize"])
    study.add_trial(optuna.trial.create_trial(values=[0.8, 1.0, 0.1]))
    return path


def _csv(path, n=200, **overrides):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "income": rng.normal(size=n).round(3),
        "colour": rng.choice(["red", "green"], n),
        "group": rng.choice(["a", "b"], n),
        "hired": rng.choice(["yes", "no"], n),
    })
    for col, values in overrides.items():
        frame[col] = values
    frame.to_csv(path, index=False)
    return str(path)


def _bad_files(tmp):
    n = 200
    groups_small = np.array(["a"] * (n - 5) + ["b"] * 5)
    junk = np.random.default_rng(1).normal(size=n).round(3).astype(object)
    junk[7] = "twelve"
    three = np.array(["yes", "no", "maybe"] * 67)[:n]
    nan_income = np.random.default_rng(2).normal(size=n)
    nan_income[[3, 9]] = np.nan
    return {
        "missing_file": (["--data", str(tmp / "nope.csv"), "--label", "hired",
                          "--sensitive", "group"], "nope.csv"),
        "unknown_column": (["--data", _csv(tmp / "a.csv"), "--label", "hird",
                            "--sensitive", "group"], "Did you mean 'hired'"),
        "three_classes": (["--data", _csv(tmp / "b.csv", hired=three), "--label", "hired",
                           "--sensitive", "group"], "exactly two classes, but it has 3"),
        "one_class": (["--data", _csv(tmp / "b1.csv", hired=["yes"] * n), "--label", "hired",
                       "--sensitive", "group"], "but it has 1"),
        "one_group": (["--data", _csv(tmp / "c.csv", group=["a"] * n), "--label", "hired",
                       "--sensitive", "group"], "at least two groups"),
        "small_group": (["--data", _csv(tmp / "d.csv", group=groups_small), "--label",
                         "hired", "--sensitive", "group"], "'b' has 5 rows"),
        "nan_cells": (["--data", _csv(tmp / "e.csv", income=nan_income), "--label", "hired",
                       "--sensitive", "group"], "2 empty or NaN cells"),
        "ten_rows": (["--data", _csv(tmp / "f.csv", n=10), "--label", "hired",
                      "--sensitive", "group"], "10 data rows"),
        "junk_numeric": (["--data", _csv(tmp / "g.csv", income=junk), "--label", "hired",
                          "--sensitive", "group"], "'twelve' at row 9"),
    }


CASES = {
    "delta_too_big": (["--delta", "0.001"], "1/n_train"),
    "zero_budget": (["--trials", "0"], "expected an integer >= 1"),
    "unknown_dataset": (["--dataset", "adultt"], "Did you mean 'adult'"),
    "unknown_model": (["--model", "svm"], "accepted: logreg, mlp"),
    "unknown_sampler": (["--sampler", "bayes"], "accepted:"),
    "unknown_metric": (["--fairness", "parity"], "demographic_parity"),
    "unknown_sensitive": (["--sensitive", "gender"], "accepted: race, sex"),
    # 2-D studies (issue 20)
    "unknown_objectives": (["--objectives", "accuracy,privacy"],
                           "accepted: accuracy,epsilon,unfairness | accuracy,epsilon"),
    "one_objective": (["--objectives", "accuracy"], "accepted: accuracy,epsilon,unfairness"),
    "focus_without_unfairness": (["--objectives", "accuracy,epsilon", "--focus-unfairness",
                                  "0.03"], "needs unfairness among the objectives"),
    "fixed_epsilon_needs_target": (["--objectives", "accuracy,unfairness", "--parametrisation",
                                    "noise"], "need parametrisation='epsilon'"),
    # private tuning (issue 17)
    "pt_zero_epsilon": (["--private-tuning", "--study-epsilon", "0"], "expected a number > 0"),
    "pt_negative_epsilon": (["--private-tuning", "--study-epsilon", "-1"],
                            "expected a number > 0"),
    "pt_no_epsilon": (["--private-tuning"], "needs --study-epsilon"),
    "pt_mean_below_one": (["--private-tuning", "--study-epsilon", "2", "--mean-trials", "0.5"],
                          "expected a number >= 1"),
    "pt_negative_shape": (["--private-tuning", "--study-epsilon", "2", "--shape", "-1"],
                          "shape >= 0"),
    "pt_unknown_shape": (["--private-tuning", "--study-epsilon", "2", "--shape", "binomial"],
                         "logarithmic"),
    "pt_adaptive_sampler": (["--private-tuning", "--study-epsilon", "2", "--sampler", "tpe"],
                            "adaptive sampler 'tpe'"),
    "pt_default_sampler_named": (["--private-tuning", "--study-epsilon", "2", "--sampler",
                                  "trifront"], "adaptive sampler 'trifront'"),
    "pt_seeded_noise": (["--private-tuning", "--study-epsilon", "2", "--reproducible"],
                        "--acknowledge-seeded-noise"),
    "pt_existing_study": (["--private-tuning", "--study-epsilon", "2"], "never resumed"),
    "pt_flag_without_mode": (["--study-epsilon", "2"], "only used by a private-tuning study"),
}


def _run_bad(args, db, tmp_path, capsys):
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    try:
        code = main(["run", *args, "--storage", f"sqlite:///{db}", "--study", "keep",
                     "--out", str(tmp_path / "out"), "--no-progress"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not (tmp_path / "out").exists()
    return err


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_setting(case, existing_db, tmp_path, capsys):
    args, message = CASES[case]
    assert message in _run_bad(args, existing_db, tmp_path, capsys)


@pytest.mark.parametrize(
    "case",
    ["missing_file", "unknown_column", "three_classes", "one_class", "one_group",
     "small_group", "nan_cells", "ten_rows", "junk_numeric"],
)
def test_bad_user_file(case, existing_db, tmp_path, capsys):
    args, message = _bad_files(tmp_path)[case]
    assert message in _run_bad(args, existing_db, tmp_path, capsys)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("[space.target_epsilon]\nlow = 0\n", "low > 0"),
        ("[space.target_epsilon]\nlow = -1\n", "low > 0"),
        ("[space.target_epsilon]\nlow = 5\nhigh = 1\n", "low <= high"),
        ("trials = 0\n", "trials >= 1"),
        ("colour = 'red'\n", "unknown config key"),
    ],
)
def test_bad_config_file(space, message, existing_db, tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(space)
    assert message in _run_bad(["--config", str(cfg)], existing_db, tmp_path, capsys)


def test_corrupt_and_foreign_storage(tmp_path, capsys):
    import sqlite3

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    for db, message in ((corrupt, "SQLite"), (foreign, "something else")):
        assert message in _run_bad([], db, tmp_path, capsys)


def test_out_naming_an_existing_file_is_refused_before_training(existing_db, tmp_path,
                                                                  capsys):
    target = tmp_path / "some.csv"
    target.write_text("keep me\n")
    before = hashlib.sha256(existing_db.read_bytes()).hexdigest()
    code = main(["run", "--dataset", "german", "--trials", "2", "--storage",
                 f"sqlite:///{existing_db}", "--study", "keep", "--out", str(target),
                 "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "is an existing file" in err[0]
    assert target.read_text() == "keep me\n"
    assert hashlib.sha256(existing_db.read_bytes()).hexdigest() == before
    for command in (["report", "keep"], ["compare", "keep"]):
        code = main([*command, "--storage", f"sqlite:///{existing_db}", "--out", str(target)])
        assert code == 2 and "is an existing file" in capsys.readouterr().err


def test_out_in_a_folder_that_cannot_be_written_is_refused(tmp_path, capsys):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permission bits
            target = tmp_path / "plain-file" / "out"
            (tmp_path / "plain-file").write_text("")
        else:
            target = locked / "out"
        code = main(["run", "--dataset", "german", "--trials", "1", "--out", str(target),
                     "--storage", f"sqlite:///{tmp_path / 'x.db'}", "--no-progress"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "--out" in err[0]
        assert not (tmp_path / "x.db").exists()
    finally:
        locked.chmod(0o700)
