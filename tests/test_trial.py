"""The trial pipeline's privacy rules: secret noise (rule 7) and a public schedule (rule 8)."""

from __future__ import annotations

import json
import secrets

import numpy as np
import optuna
import pytest
import torch

from trifront.cli import main
from trifront.problem import Problem
from trifront.study import trial_seed
from trifront.trial import SECRET_BITS, evaluate, fit

PARAMS = {"target_epsilon": 1.0, "clip": 1.0, "lr": 1.0, "batch_size": 512, "epochs": 1}
SCHEDULE = ("--epsilon", "1", "--clip", "1", "--lr", "1", "--batch-size", "512",
            "--epochs", "1")


def _weights(model: torch.nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()


def test_two_default_runs_with_the_same_seed_train_different_models():
    # A seed that fixed the noise would let anyone replay the run (membership decided exactly).
    a = fit(Problem(dataset="german"), PARAMS, seed=3)
    b = fit(Problem(dataset="german"), PARAMS, seed=3)
    assert not np.allclose(_weights(a.model), _weights(b.model))


def test_two_reproducible_runs_with_the_same_seed_train_the_same_model():
    problem = Problem(dataset="german", reproducible=True)
    a, b = fit(problem, PARAMS, seed=3), fit(problem, PARAMS, seed=3)
    np.testing.assert_array_equal(_weights(a.model), _weights(b.model))


def test_the_seed_fixes_the_initialisation_only():
    # With no training steps' noise to speak of, the public seed still fixes the start point.
    zero = {**PARAMS, "target_epsilon": float("inf"), "lr": 1e-12}
    a = fit(Problem(dataset="german"), zero, seed=5)
    b = fit(Problem(dataset="german"), zero, seed=5)
    np.testing.assert_allclose(_weights(a.model), _weights(b.model), atol=1e-9)


def test_the_secret_seed_is_never_stored_or_printed(tmp_path, monkeypatch, capsys):
    drawn: list[int] = []

    def spy(bits: int) -> int:
        value = secrets.SystemRandom().getrandbits(bits)
        drawn.append(value)
        return value

    monkeypatch.setattr("trifront.trial.secrets.randbits", spy)
    db, out = tmp_path / "s.db", tmp_path / "out"
    one_split = ["--cv-folds", "1"]  # one training per trial, so three secrets in all
    assert main(["run", "--dataset", "german", "--trials", "2", "--jobs", "1",
                 "--storage", f"sqlite:///{db}", "--out", str(out), "--no-progress",
                 "--startup-trials", "2", *one_split]) == 0
    assert main(["evaluate", "--dataset", "german", *SCHEDULE, "--json", *one_split]) == 0
    printed = capsys.readouterr().out
    assert len(drawn) == 3  # one fresh secret per training run
    blobs = [db.read_bytes().decode("latin-1"), printed,
             *(p.read_text() for p in out.iterdir() if p.suffix in (".csv", ".html"))]
    for value in drawn:
        for blob in blobs:
            assert str(value) not in blob
    assert json.loads(printed[printed.index("{"):])["noise_seeded"] is False
    study = optuna.load_study(study_name="german-logreg", storage=f"sqlite:///{db}")
    for t in study.trials:
        assert t.user_attrs["noise_seeded"] is False
        assert t.user_attrs["seed"] == trial_seed(0, t.number)  # the public seed only
        assert not set(map(str, t.user_attrs.values())) & set(map(str, drawn))


def test_the_secret_has_128_bits():
    assert SECRET_BITS >= 128


@pytest.mark.parametrize("reproducible", [False, True])
def test_every_output_says_whether_the_noise_was_seeded(tmp_path, capsys, reproducible):
    flag = ["--reproducible"] if reproducible else []
    assert main(["evaluate", "--dataset", "german", *SCHEDULE, "--json", *flag]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["noise_seeded"] is reproducible
    db, out = tmp_path / "r.db", tmp_path / "out"
    assert main(["run", "--dataset", "german", "--trials", "1", "--jobs", "1",
                 "--storage", f"sqlite:///{db}", "--out", str(out), "--no-progress",
                 *flag]) == 0
    printed = capsys.readouterr().out
    assert ("noise_seeded=true" in printed) is reproducible
    trials = (out / "trials.csv").read_text()
    assert "noise_seeded" in trials.splitlines()[0]
    rep = tmp_path / "rep"
    assert main(["report", "--storage", f"sqlite:///{db}", "--out", str(rep), "--no-png",
                 "--no-progress", "--seeds", "1"]) == 0
    assert json.loads((rep / "report.json").read_text())["noise_seeded"] is reproducible


def _hiring(n: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = np.where(np.arange(n) % 3 == 0, "women", "men")
    years = rng.integers(0, 30, n)
    return pd.DataFrame({
        "years": years, "city": rng.choice(["Lyon", "Paris"], n), "gender": group,
        "hired": np.where((years > 10) | (rng.random(n) < 0.3), "yes", "no"),
    })


@pytest.mark.parametrize("extra", [+1, -1])
def test_one_row_more_or_less_leaves_the_privacy_schedule_unchanged(tmp_path, extra):
    # DESIGN.md rule 8: q, T and sigma come from the schema's public n, never from
    # counting the rows (with n from the rows, B=64 over 2 epochs runs T or T+1 steps).
    import pandas as pd

    from trifront.datasets import infer_schema

    base = _hiring(200)
    path = tmp_path / "base.csv"
    base.to_csv(path, index=False)
    schema = tmp_path / "hiring.toml"
    schema.write_text(infer_schema(path, label="hired", sensitive="gender",
                                   positive="yes").to_toml())
    other = tmp_path / "other.csv"
    changed = base.iloc[:extra] if extra < 0 else pd.concat([base, base.iloc[[5]]])
    changed.to_csv(other, index=False)
    params = {"target_epsilon": 1.0, "clip": 1.0, "lr": 0.5, "batch_size": 64, "epochs": 2}
    results = [evaluate(Problem(dataset="file", data_file=str(p), schema_file=str(schema)),
                        params, seed=0) for p in (path, other)]
    keys = ("sample_rate", "steps", "noise_multiplier", "n_train", "epsilon")
    assert [getattr(results[0], k) for k in keys] == [getattr(results[1], k) for k in keys]
    assert not results[0].schema_from_data
    # Without a schema the count is the file's own, and every result says so.
    inferred = evaluate(Problem(dataset="file", data_file=str(path), label="hired",
                                sensitive="gender", positive="yes"), params, seed=0)
    assert inferred.schema_from_data


def test_a_reproducible_reevaluation_is_flagged_in_the_report(tmp_path, capsys):
    import dataclasses

    from trifront.analysis.reevaluate import reevaluate
    from trifront.report.build import write_report
    from trifront.study import load_study, study_problem

    db, out = tmp_path / "r.db", tmp_path / "out"
    assert main(["run", "--dataset", "german", "--trials", "1", "--jobs", "1", "--cv-folds",
                 "1", "--storage", f"sqlite:///{db}", "--out", str(out), "--no-progress"]) == 0
    study = load_study(f"sqlite:///{db}")
    seeded = dataclasses.replace(study_problem(study), reproducible=True)
    reevaluate(study, trials=[0], n_seeds=1, progress=False, problem=seeded)
    paths = write_report(study, tmp_path / "rep", reevaluate_test=False, png=False,
                         progress=False)
    report = json.loads(paths["report.json"].read_text())
    assert report["noise_seeded"] is True  # the search was not, the re-evaluation was
    assert any("noise_seeded=true" in c for c in report["caveats"])
