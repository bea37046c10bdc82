"""A model trained without the sensitive attribute as an input predicts without it."""

import numpy as np
import pytest

from trifront.datasets.registry import raw_split
from trifront.deploy import export_model, load_model
from trifront.deploy.encoder import Encoder
from trifront.errors import ConfigError
from trifront.models import predict_proba
from trifront.problem import Problem
from trifront.trial import evaluate, fit

PARAMS = {"target_epsilon": 1.0, "clip": 1.0, "lr": 0.5, "batch_size": 64, "epochs": 1,
          "reweigh": 1.0}
SEED = 3


def test_the_sensitive_columns_leave_the_inputs_and_nothing_else_does():
    full = Problem(dataset="german").data()
    cut = Problem(dataset="german", sensitive_input=False).data()
    assert full.sensitive_columns == ("sex",)
    dropped = [n for n in full.feature_names if n not in cut.feature_names]
    assert dropped and all(n.startswith("sex=") for n in dropped)
    assert len(cut.feature_names) == len(full.feature_names) - len(dropped)
    assert "sex" not in cut.input_columns and "sex" in full.input_columns
    for name in ("train", "val", "test"):
        a, b = getattr(full, name), getattr(cut, name)
        keep = [full.feature_names.index(n) for n in cut.feature_names]
        assert np.array_equal(a.X[:, keep], b.X)
        assert np.array_equal(a.y, b.y) and np.array_equal(a.s, b.s)  # groups unchanged


def test_an_intersection_drops_both_attributes():
    cut = Problem(dataset="adult", sensitive="sex*race", sensitive_input=False).data()
    assert not [n for n in cut.feature_names if n.startswith(("sex=", "race="))]
    assert cut.n_groups == 10


def test_a_trial_records_whether_the_model_reads_the_sensitive_attribute():
    on = evaluate(Problem(dataset="german"), PARAMS, seed=SEED)
    off = evaluate(Problem(dataset="german", sensitive_input=False), PARAMS, seed=SEED)
    assert on.sensitive_input is True and off.sensitive_input is False


def test_sensitive_input_must_be_a_bool():
    with pytest.raises(ConfigError, match="sensitive_input"):
        Problem(sensitive_input="no")  # type: ignore[arg-type]


def test_exported_model_predicts_rows_without_the_sensitive_column(tmp_path):
    problem = Problem(dataset="german", sensitive_input=False, reproducible=True)
    model = export_model(problem, PARAMS, tmp_path / "m", seed=SEED)
    assert model.card["sensitive_is_model_input"] is False
    assert model.card["uses_sensitive_at_prediction"] is False
    assert "sex" not in model.card["required_columns"]
    rows = raw_split("german", split="test")
    want = predict_proba(fit(problem, PARAMS, seed=SEED).model, problem.data().test.X)
    blind = rows.drop(columns=["sex"])
    loaded = load_model(tmp_path / "m")
    assert np.array_equal(loaded.predict_proba(blind)[:, 1], want)
    # The encoder round-trips its inputs through encoder.json.
    enc = Encoder.from_dict(loaded.encoder.to_dict())
    assert enc.feature_columns == loaded.encoder.feature_columns
    assert "sex" not in enc.feature_columns and enc.n_features == problem.data().n_features
