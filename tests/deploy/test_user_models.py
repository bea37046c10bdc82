"""Models of a user's file: the declared schema is the encoder; the private file stays private."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from trifront.datasets import CategoricalFeature, NumericFeature, Schema
from trifront.deploy import export_model
from trifront.deploy.encoder import Encoder
from trifront.deploy.inputs import file_rows, predict_rows
from trifront.errors import DataError
from trifront.problem import Problem

PARAMS = {"target_epsilon": 2.0, "clip": 1.0, "lr": 0.5, "batch_size": 32, "epochs": 2}
N = 400


def _frame(seed=0, n=N):
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 15, n).round(2)
    group = rng.choice(["a", "b"], n)
    hired = np.where(income + 8 * (group == "a") + rng.normal(0, 10, n) > 55, "yes", "no")
    return pd.DataFrame({"income": income, "colour": rng.choice(["red", "green", "blue"], n),
                         "group": group, "hired": hired})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    data = root / "loans.csv"
    _frame().to_csv(data, index=False)
    schema = Schema(label="hired", label_values=("no", "yes"), positive="yes", sensitive="group",
                    groups=("a", "b"), n=N,
                    features=(NumericFeature("income", 0, 120),
                              CategoricalFeature("colour", ("red", "green"))))  # no "blue"
    (root / "loans.toml").write_text(schema.to_toml())
    return root, data


def _every_file_text(directory):
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in directory.iterdir())


def test_declared_schema_model_round_trip_and_other_level(files):
    root, data = files
    problem = Problem(dataset="file", data_file=str(data), schema_file=str(root / "loans.toml"))
    model = export_model(problem, PARAMS, root / "declared", seed=0)
    card = model.card
    assert card["schema_from_data"] is False and card["dataset"]["file"] == "loans.csv"
    assert card["dataset"]["schema_file"] == "loans.toml"
    assert card["dataset"]["schema_sha256"] == hashlib.sha256(
        (root / "loans.toml").read_bytes()).hexdigest()
    # The private file's hash and its full path are nowhere in the directory.
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    text = _every_file_text(root / "declared")
    assert digest not in text
    assert str(data) not in text and str(root / "loans.toml") not in text
    assert card["dataset"]["file_sha256"] is None
    # predict on the file's own test split reproduces the card exactly.
    test_rows = file_rows(data, split="test", seed=0)
    assert len(test_rows) == card["test_rows"]
    result = predict_rows(model, test_rows, source="loans.csv")
    assert result.accuracy == card["test_accuracy"]
    assert result.unfairness == pytest.approx(card["test_unfairness"], abs=1e-12)
    # A colour outside the declared list ("blue", or one never seen) encodes as "(other)".
    rows = test_rows.head(5).assign(colour=["blue", "purple", "(other)", "blue", "pink"])
    probs = model.predict_proba(rows)[:, 1]
    explicit = model.predict_proba(rows.assign(colour="(other)"))[:, 1]
    assert np.array_equal(probs, explicit)


def test_no_schema_model_is_flagged_and_keeps_the_file_hash_out(files, tmp_path):
    _, data = files
    problem = Problem(dataset="file", data_file=str(data), label="hired", sensitive="group",
                      positive="yes")
    model = export_model(problem, PARAMS, tmp_path / "inferred", seed=0)
    card = json.loads((tmp_path / "inferred" / "card.json").read_text())
    assert card["schema_from_data"] is True
    assert any("schema_from_data=true" in s for s in card["epsilon_does_not_cover"])
    assert "INFERRED FROM THE FILE'S ROWS" in card["dataset"]["schema_origin"]
    assert "schema_from_data: **yes**" in (tmp_path / "inferred" / "card.md").read_text()
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    assert problem.data().card.source.count(digest) == 1  # the loader's card names it ...
    assert digest not in _every_file_text(tmp_path / "inferred")  # ... the export does not
    # Without an OTHER level, an unseen category is refused, naming the column.
    rows = file_rows(data, split="all", seed=0).head(3).assign(colour="purple")
    with pytest.raises(DataError, match="'colour'"):
        model.predict(rows)


def test_the_file_hash_is_added_only_on_request(files, tmp_path):
    root, data = files
    problem = Problem(dataset="file", data_file=str(data), schema_file=str(root / "loans.toml"))
    model = export_model(problem, PARAMS, tmp_path / "m", seed=0, include_data_sha256=True)
    assert model.card["dataset"]["file_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert "Keep this card internal" in model.card["dataset"]["file_sha256_note"]


def test_encoder_of_a_declared_schema_is_the_loaders_encoding(files):
    root, data = files
    problem = Problem(dataset="file", data_file=str(data), schema_file=str(root / "loans.toml"))
    ds = problem.data()
    encoder = Encoder.from_dict(json.loads(json.dumps(Encoder.of(ds).to_dict())))
    for split in ("train", "val", "test"):
        rows = file_rows(data, split=split, seed=0)
        assert np.array_equal(encoder.features(rows), getattr(ds, split).X), split
        assert np.array_equal(encoder.groups(rows), getattr(ds, split).s), split
        assert np.array_equal(encoder.labels(rows), getattr(ds, split).y), split


def test_empty_cell_in_a_declared_categorical_is_refused(files):
    root, data = files
    problem = Problem(dataset="file", data_file=str(data), schema_file=str(root / "loans.toml"))
    encoder = Encoder.of(problem.data())
    rows = file_rows(data, split="all", seed=0).head(4).assign(colour=["red", "", "NaN", "red"])
    with pytest.raises(DataError, match="column 'colour'.*2 empty or NaN cells"):
        encoder.features(rows)
