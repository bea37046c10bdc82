"""`trifront run --private-tuning` end to end: the release, its report, and what is refused."""

import json

import optuna
import pytest

from trifront.cli import main


@pytest.fixture(scope="module")
def private_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pt")
    db = f"sqlite:///{tmp / 'pt.db'}"
    code = main(["run", "--dataset", "german", "--private-tuning", "--study-epsilon", "3",
                 "--mean-trials", "4", "--epochs", "2", "--delta", "1e-4", "--storage", db,
                 "--study", "pt", "--out", str(tmp / "out"), "--no-progress"])
    assert code == 0
    return tmp, db


def test_run_writes_the_release_and_the_model(private_study, capsys):
    tmp, _ = private_study
    info = json.loads((tmp / "out" / "study_privacy.json").read_text())
    assert info["epsilon"] <= 3.0 and info["delta"] == 1e-4
    assert info["distribution"]["mean"] == 4.0
    assert (tmp / "out" / "model" / "card.json").is_file()
    assert "hyperparameters" in info["released"]


def test_report_shows_the_release_alone(private_study, tmp_path, capsys):
    tmp, db = private_study
    assert main(["report", "pt", "--storage", db, "--out", str(tmp_path / "rep")]) == 0
    page = (tmp_path / "rep" / "index.html").read_text()
    study = optuna.load_study(study_name="pt", storage=db)
    info = study.user_attrs["private_tuning"]
    released_lr = info["released"]["hyperparameters"]["lr"]
    others = [t.params["lr"] for t in study.trials if t.params["lr"] != released_lr]
    body = page.split("<body", 1)[1]  # the head inlines plotly.js, full of numbers
    assert body.count(">lr<") == 1 and f"{released_lr:.4g}" in body
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert repr(released_lr) in summary
    for lr in others:  # no other run's configuration is shown
        assert repr(lr) not in summary
    assert "voids the guarantee" in body


@pytest.mark.parametrize("command", [
    ["recommend", "pt", "--max-epsilon", "3", "--max-unfairness", "1"],
    ["export", "pt", "--trial", "0", "--out", "never"],
    ["compare", "pt", "pt"],
])
def test_commands_that_would_publish_more_are_refused(private_study, command, capsys, tmp_path):
    _, db = private_study
    try:
        code = main([*command, "--storage", db])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "private-tuning study" in err and len(err.splitlines()) == 1
