"""`trifront export`, `trifront predict`, `recommend --export` and the report's export links."""

import json
from dataclasses import asdict

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from trifront.cli import main
from trifront.datasets.registry import raw_split
from trifront.deploy import load_model
from trifront.deploy.command import export_command, redact_url
from trifront.fairness.metrics import gap_sampling_se
from trifront.problem import Problem
from trifront.space import SearchSpace
from trifront.study import ATTR_KEY

DISTRIBUTIONS = {
    "target_epsilon": FloatDistribution(0.05, 10.0, log=True),
    "clip": FloatDistribution(0.05, 5.0, log=True),
    "lr": FloatDistribution(0.01, 10.0, log=True),
    "batch_size": IntDistribution(16, 512, log=True),
    "epochs": IntDistribution(1, 10),
    "group_thresholds": CategoricalDistribution([0.05, 0.2]),
}
# (params, validation values): two configurations on the front.
TRIALS = [
    ({"target_epsilon": 0.5, "clip": 1.0, "lr": 0.5, "batch_size": 64, "epochs": 1,
      "group_thresholds": 0.2}, [0.70, 0.5, 0.05]),
    ({"target_epsilon": 2.0, "clip": 1.0, "lr": 0.5, "batch_size": 64, "epochs": 2,
      "group_thresholds": 0.05}, [0.74, 2.0, 0.02]),
]


def _german_study(url: str, trials=TRIALS) -> str:
    study = optuna.create_study(study_name="g", storage=url,
                                directions=["maximize", "minimize", "minimize"])
    study.set_user_attr(ATTR_KEY, {
        "problem": asdict(Problem(dataset="german", reproducible=True)),
        "space": SearchSpace.default().to_dict(),
        "reference_point": [0.5, 10.0, 0.5], "majority_rate": 0.5, "seed": 0,
        "sampler": "random", "version": "test",
        "objectives": ["accuracy", "epsilon", "unfairness"],
    })
    for i, (params, values) in enumerate(trials):
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=DISTRIBUTIONS, values=values,
            user_attrs={"seed": 10 * i}))
    return url


@pytest.fixture(scope="module")
def german_study(tmp_path_factory):
    """A small German-credit study with two completed trials (nothing trained yet)."""
    return _german_study(f"sqlite:///{tmp_path_factory.mktemp('db') / 'g.db'}")


@pytest.mark.parametrize("command", ["export", "predict"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0 and "usage: trifront" in capsys.readouterr().out


def test_export_then_predict_reproduces_the_cards_test_accuracy(german_study, tmp_path,
                                                                 capsys):
    out = tmp_path / "model"
    assert main(["export", "g", "--storage", german_study, "--trial", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "exported trial 1" in printed and "uses_sensitive_at_prediction: true" in printed
    card = json.loads((out / "card.json").read_text())
    assert card["source"]["study"] == "g" and card["source"]["trial"] == 1
    assert card["source"]["n_trials"] == 2 and card["public_seed"] == 10
    assert card["command"] == export_command("g", trial=1, out=out, storage_url=german_study)
    assert card["uses_sensitive_at_prediction"] is True

    preds = tmp_path / "p.csv"
    assert main(["predict", str(out), "--dataset", "german", "--split", "test",
                 "--out", str(preds)]) == 0
    assert "accuracy" in capsys.readouterr().err
    table = pd.read_csv(preds)
    assert list(table.columns) == ["probability", "prediction", "label"]
    assert len(table) == card["test_rows"] == 200
    accuracy = float((table["prediction"] == table["label"]).mean())
    assert abs(accuracy - card["test_accuracy"]) <= 0.002
    # The CSV keeps every bit of the probabilities.
    model = load_model(out)
    want = model.predict_proba(raw_split("german", split="test"))[:, 1]
    assert np.array_equal(table["probability"].to_numpy(), want)


def test_export_of_a_trial_that_is_not_complete_exits_2(german_study, tmp_path, capsys):
    rc = main(["export", "g", "--storage", german_study, "--trial", "5",
               "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "completed trials: 0, 1" in err
    assert not (tmp_path / "m").exists()


def test_recommend_exports_its_choice(tmp_path, capsys):
    # Seeded noise, and a third configuration whose two validation runs (seeds 20 and 21,
    # folds 0 and 1: the run and its confirmation) score 0.709 on average, above the
    # constant predictor's 0.691 on the non-test rows: recommend must find a choice in
    # every run of the suite, not by luck.
    beats = ({"target_epsilon": 10.0, "clip": 3.0, "lr": 1.0, "batch_size": 64, "epochs": 5,
              "group_thresholds": 0.2}, [0.76, 10.0, 0.01])
    german_study = _german_study(f"sqlite:///{tmp_path / 'g.db'}", [*TRIALS, beats])
    out = tmp_path / "chosen"
    rc = main(["recommend", "g", "--storage", german_study, "--max-epsilon", "inf",
               "--max-unfairness", "inf", "--seeds", "1", "--no-progress", "--json",
               "--export", str(out)])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    chosen = result["recommendation"]["trial"]
    assert result["export"]["directory"] == str(out)
    assert load_model(out).card["source"]["trial"] == chosen
    assert result["export_command"].startswith(f"trifront export g --trial {chosen}")
    # Confirmed by a second run, and the test rows' own error on its gap is shown.
    assert len(result["val_seeds"]) == 2 and len(result["seeds"]) == 1
    study = optuna.load_study(study_name="g", storage=german_study)
    cells = study.user_attrs[f"test_eval:{chosen}"]["runs"][0]["cells"]
    assert result["test_unfairness_sampling_se"] == pytest.approx(
        gap_sampling_se(cells, metric="demographic_parity"))


def test_report_links_each_front_configuration_to_its_export(german_study, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "g", "--storage", german_study, "--out", str(out),
                 "--no-reevaluate", "--no-png"]) == 0
    front = pd.read_csv(out / "front.csv")
    front = front[front["trial"].notna()]  # not the constant predictor's row
    assert len(front) >= 1
    for trial, command in zip(front["trial"].astype(int), front["export_command"], strict=True):
        assert command == export_command("g", trial=int(trial), out=f"model-trial-{trial}",
                                         storage_url=german_study)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Deploy a configuration" in page and "trifront export g --trial 1" in page
    assert json.loads((out / "report.json").read_text())["export_commands"]["1"]


def test_a_storage_password_never_reaches_a_card_or_a_report():
    url = "postgresql://alice:s3cret@db.example:5432/studies"
    assert redact_url(url) == "postgresql://alice:***@db.example:5432/studies"
    assert "s3cret" not in export_command("s", trial=0, out="m", storage_url=url)
    assert redact_url("sqlite:///a.db") == "sqlite:///a.db"


@pytest.fixture(scope="module")
def german_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("gm") / "model"
    from trifront.deploy import export_model

    export_model(Problem(dataset="german"), TRIALS[0][0], out, seed=0)
    return out


def _bad(column, value):
    def go(rows):
        if value is None:
            return rows.drop(columns=[column])
        rows = rows.copy()
        rows.loc[3, column] = value
        return rows
    return go


@pytest.mark.parametrize("name, change, column", [
    ("missing column", _bad("duration", None), "'duration'"),
    ("category outside the schema", _bad("purpose", "A499"), "'purpose'"),
    ("junk in a numeric column", _bad("credit_amount", "lots"), "'credit_amount'"),
    ("sensitive value outside its groups", _bad("sex", "unknown"), "'sex'"),
])
def test_rows_that_do_not_fit_the_schema_exit_2_naming_the_column(
        german_model, tmp_path, capsys, name, change, column):
    data = tmp_path / "rows.csv"
    change(raw_split("german", split="test")).to_csv(data, index=False)
    rc = main(["predict", str(german_model), "--data", str(data)])
    captured = capsys.readouterr()
    assert rc == 2, name
    assert captured.err.count("\n") == 1 and column in captured.err, captured.err
    assert captured.out == ""


def test_unlabelled_rows_with_extra_columns_are_predicted(german_model, tmp_path, capsys):
    rows = raw_split("german", split="test").drop(columns=["credit"]).assign(notes="x")
    data = tmp_path / "new.csv"
    rows.to_csv(data, index=False)
    assert main(["predict", str(german_model), "--data", str(data)]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(pd.io.common.StringIO(captured.out))
    assert list(table.columns) == ["probability", "prediction"] and len(table) == len(rows)
    assert "predicted 200 rows of new.csv" in captured.err
