"""`trifront schema` and `--schema` end to end: declare the encoding, then run on it."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pandas as pd
import pytest

from trifront.cli import main

TINY = ["--trials", "1", "--jobs", "1", "--no-progress", "--startup-trials", "1"]
EVAL = ["--epsilon", "1", "--clip", "1", "--lr", "0.5", "--batch-size", "64", "--epochs", "1",
        "--json"]


@pytest.fixture
def loans(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    group = rng.choice(["north", "south"], n)
    score = rng.normal(size=n)
    frame = pd.DataFrame({
        "score": score.round(3), "region": rng.choice(["x", "y"], n), "group": group,
        "decision": np.where(score + 0.5 * (group == "north") > 0.2, "approved", "declined"),
    })
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    return path


def _schema(loans, capsys, tmp_path):
    assert main(["schema", str(loans), "--label", "decision", "--sensitive", "group",
                 "--positive", "approved"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "loans.toml"
    path.write_text(text)
    return path, tomllib.loads(text)


def test_schema_prints_toml_that_run_and_evaluate_accept(loans, capsys, tmp_path):
    path, declared = _schema(loans, capsys, tmp_path)
    assert declared["n"] == 300
    db, out = tmp_path / "s.db", tmp_path / "out"
    assert main(["run", "--data", str(loans), "--schema", str(path), *TINY,
                 "--storage", f"sqlite:///{db}", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "schema_from_data" not in captured.out
    trials = pd.read_csv(out / "trials.csv")
    assert not trials["schema_from_data"].any()
    assert main(["evaluate", "--data", str(loans), "--schema", str(path), *EVAL]) == 0
    assert json.loads(capsys.readouterr().out)["schema_from_data"] is False


def test_without_a_schema_every_output_says_schema_from_data(loans, capsys, tmp_path):
    db, out = tmp_path / "s.db", tmp_path / "out"
    user = ["--data", str(loans), "--label", "decision", "--sensitive", "group",
            "--positive", "approved"]
    assert main(["run", *user, *TINY, "--storage", f"sqlite:///{db}", "--out", str(out)]) == 0
    assert "schema_from_data=true" in capsys.readouterr().out
    assert pd.read_csv(out / "trials.csv")["schema_from_data"].all()
    assert main(["evaluate", *user, *EVAL]) == 0
    assert json.loads(capsys.readouterr().out)["schema_from_data"] is True
    rep = tmp_path / "rep"
    assert main(["report", "--storage", f"sqlite:///{db}", "--out", str(rep),
                 "--no-reevaluate", "--no-png", "--no-progress"]) == 0
    caveats = json.loads((rep / "report.json").read_text())
    assert caveats["schema_from_data"] is True
    assert any("schema_from_data" in c for c in caveats["caveats"])
    assert "schema_from_data" in (rep / "summary.md").read_text()


def test_a_schema_that_does_not_match_the_file_is_exit_2_and_one_line(loans, capsys, tmp_path):
    path, _ = _schema(loans, capsys, tmp_path)
    db = tmp_path / "keep.db"
    frame = pd.read_csv(loans).drop(columns=["region"])
    broken = tmp_path / "broken.csv"
    frame.to_csv(broken, index=False)
    assert main(["run", "--data", str(broken), "--schema", str(path), *TINY,
                 "--storage", f"sqlite:///{db}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "region" in err[0] and "Traceback" not in err[0]
    assert not db.exists()
