"""``trifront atlas`` through the real CLI: one tiny study, its resume, and bad input."""

import hashlib
import json

import optuna
import pytest

from trifront.cli import main

TINY = """
reproducible = true
[space.epochs]
low = 2
high = 2
"""
ONE = ["--datasets", "german", "--models", "logreg", "--metrics", "demographic_parity",
       "--trials", "2", "--seeds", "1", "--jobs", "1"]
STUDY = "atlas-german-logreg-demographic_parity"


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A one-study atlas made by the CLI (default storage DIR/atlas.db)."""
    root = tmp_path_factory.mktemp("atlas-cli")
    config = root / "tiny.toml"
    config.write_text(TINY)
    out = root / "out"
    code = main(["atlas", "--out", str(out), *ONE, "--config", str(config), "--no-progress"])
    assert code == 0
    return root, out, config


def test_atlas_writes_its_files_in_the_default_storage(done):
    _, out, _ = done
    data = json.loads((out / "atlas.json").read_text())
    assert [s["study"] for s in data["studies"]] == [STUDY]
    assert (out / "index.html").is_file() and (out / STUDY / "index.html").is_file()
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{out / 'atlas.db'}")
    assert len(study.trials) == 2 == data["studies"][0]["n_trials"]


def test_rerun_prints_the_table_adds_no_trial_and_shows_progress(done, capsys):
    _, out, config = done
    db = out / "atlas.db"
    capsys.readouterr()
    assert main(["atlas", "--out", str(out), *ONE, "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert STUDY in captured.out and "eps<=1" in captured.out and "gap<=0.02" in captured.out
    assert str(out / "atlas.json") in captured.out
    assert "3/3" in captured.err  # 2 trials + 1 report step, on stderr
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{db}")
    assert len(study.trials) == 2


@pytest.mark.parametrize("flags, words", [
    (["--datasets", "german,adlt"], ["'adlt'", "adult, compas, german", "Did you mean 'adult'"]),
    (["--models", "logreg,svm"], ["'svm'", "logreg, mlp"]),
    (["--metrics", "equalised_odds"], ["'equalised_odds'", "demographic_parity", "equalized_odds"]),
    (["--trials", "0"], ["--trials", "'0'"]),
    (["--seeds", "0"], ["--seeds", "'0'"]),
])
def test_bad_input_exits_2_with_one_line_and_leaves_the_storage(done, capsys, flags, words):
    _, out, config = done
    db = out / "atlas.db"
    before = _digest(db)
    argv = ["atlas", "--out", str(out), *ONE, "--config", str(config), "--no-progress", *flags]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's number check exits itself
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    for word in words:
        assert word in err[0]
    assert _digest(db) == before


def test_a_study_made_with_other_settings_is_refused_before_training(done, capsys):
    root, out, _ = done
    other = root / "other.toml"
    other.write_text(TINY.replace("high = 2", "high = 3"))
    db = out / "atlas.db"
    before = _digest(db)
    code = main(["atlas", "--out", str(out), *ONE, "--config", str(other), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and STUDY in err[0] and "space" in err[0]
    assert _digest(db) == before


def test_out_that_is_a_file_and_owned_settings_are_refused(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    assert main(["atlas", "--out", str(path), *ONE, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "existing file" in err[0] and str(path) in err[0]
    assert path.read_text() == "x"
    config = tmp_path / "c.toml"
    config.write_text('dataset = "adult"\n')
    assert main(["atlas", "--out", str(tmp_path / "o"), *ONE, "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dataset" in err[0] and "set by the atlas" in err[0]
    assert not (tmp_path / "o").exists()

