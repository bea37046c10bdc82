"""Export: the released model is the one training run the card describes, bit for bit."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from trifront.datasets.registry import raw_split
from trifront.deploy import export_model, load_model
from trifront.deploy.inputs import predict_rows
from trifront.errors import ConfigError
from trifront.models import predict_proba
from trifront.problem import Problem
from trifront.trial import evaluate, fit

BASE = {"target_epsilon": 1.0, "clip": 1.0, "lr": 0.5, "batch_size": 64, "epochs": 1}
KINDS = {
    "logreg": ("logreg", {}),
    "mlp-1": ("mlp", {"hidden": 8, "depth": 1}),
    "mlp-2": ("mlp", {"hidden": 8, "depth": 2}),
    "mlp-3": ("mlp", {"hidden": 6, "depth": 3, "group_thresholds": 0.05}),
}
SEED = 7


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One exported German-credit model per kind, in research mode (the run can be replayed)."""
    root = tmp_path_factory.mktemp("models")
    out = {}
    for kind, (model, extra) in KINDS.items():
        problem = Problem(dataset="german", model=model, reproducible=True)
        params = {**BASE, **extra}
        out[kind] = (problem, params, export_model(problem, params, root / kind, seed=SEED))
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_exported_model_is_the_fitted_run_bit_for_bit(exported, kind):
    problem, params, model = exported[kind]
    ds = problem.data()
    # Replaying the run (research mode) gives the model export trained.
    trained = fit(problem, params, seed=SEED).model
    want = predict_proba(trained, ds.test.X)
    have = model.predict_proba(raw_split("german", split="test"))[:, 1]
    assert have.dtype == np.float64 and np.array_equal(have, want)
    # The card's test metrics are those of evaluate's scoring of the same run.
    result = evaluate(problem, params, seed=SEED, split="test")
    assert model.card["test_accuracy"] == result.accuracy
    assert model.card["test_unfairness"] == result.unfairness
    assert model.card["epsilon"] == result.epsilon <= 1.0
    assert model.card["uses_sensitive_at_prediction"] is ("group_thresholds" in params)


def test_a_fresh_process_gives_bit_identical_probabilities(exported, tmp_path):
    dirs = {kind: str(model.directory) for kind, (_, _, model) in exported.items()}
    script = textwrap.dedent(f"""
        import numpy as np, trifront
        from trifront.datasets.registry import raw_split
        rows = raw_split("german", split="test")
        for kind, d in {dirs!r}.items():
            np.save({str(tmp_path)!r} + "/" + kind + ".npy",
                    trifront.load_model(d).predict_proba(rows))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    rows = raw_split("german", split="test")
    for kind, (_, _, model) in exported.items():
        fresh = np.load(tmp_path / f"{kind}.npy")
        assert fresh.tobytes() == model.predict_proba(rows).tobytes(), kind


def test_card_records_what_the_issue_lists(exported):
    _, _, model = exported["mlp-3"]
    card = json.loads((model.directory / "card.json").read_text())
    for key in ("dataset", "model", "hyperparameters", "epsilon", "delta", "accountant",
                "epsilon_sgd", "epsilon_stats", "noise_multiplier", "sample_rate", "steps",
                "test_accuracy", "test_unfairness", "fairness_metric", "sensitive_attribute",
                "uses_sensitive_at_prediction", "noise_seeded", "schema_from_data",
                "public_statistics", "epsilon_does_not_cover", "trifront_version", "command"):
        assert key in card, key
    assert card["model"]["hidden"] == [6, 6, 6] and card["hyperparameters"]["depth"] == 3
    assert card["dataset"]["name"] == "german" and card["dataset"]["bundled"] is True
    assert card["dataset"]["schema"] == json.loads((model.directory / "encoder.json").read_text())
    assert card["sensitive_attribute"] == "sex" and card["sensitive_is_model_input"] is True
    # Research mode is flagged, with the sentence, in both forms of the card.
    assert card["noise_seeded"] is True and not card["schema_from_data"]
    assert any("noise_seeded=true" in s for s in card["epsilon_does_not_cover"])
    md = (model.directory / "card.md").read_text()
    assert "noise_seeded: **yes**" in md and "What ε does not cover" in md
    assert card["decision_rule"]["kind"] == "group_thresholds"
    assert len(card["decision_rule"]["probability_thresholds"]) == 2
    assert 0 < card["epsilon_stats"] and card["epsilon_sgd"] < card["epsilon"]


def test_a_non_private_model_says_it_has_no_guarantee(tmp_path):
    model = export_model(Problem(dataset="german"), {**BASE, "target_epsilon": float("inf")},
                         tmp_path / "np", seed=0)
    card = json.loads((tmp_path / "np" / "card.json").read_text())  # strict JSON
    assert card["epsilon"] == "inf" and card["private"] is False
    assert "WITHOUT differential privacy" in card["epsilon_does_not_cover"][0]
    assert model.card["epsilon"] == "inf"


def test_output_directory_is_checked_before_training(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="holds other files"):
        export_model(Problem(dataset="german"), BASE, tmp_path / "busy", seed=0)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "keep me"
    first = export_model(Problem(dataset="german"), BASE, tmp_path / "m", seed=0)
    with pytest.raises(ConfigError, match="--overwrite"):
        export_model(Problem(dataset="german"), BASE, tmp_path / "m", seed=0)
    second = export_model(Problem(dataset="german"), BASE, tmp_path / "m", seed=1,
                          overwrite=True)
    assert second.card["public_seed"] == 1 != first.card["public_seed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "m"]  # no temp dirs left
    assert load_model(tmp_path / "m").card["public_seed"] == 1


def test_opacus_engine_and_an_intersectional_attribute_export_and_reproduce(tmp_path):
    problem = Problem(dataset="german", engine="opacus", sensitive="sex*age_group")
    model = export_model(problem, {**BASE, "group_thresholds": 0.1}, tmp_path / "m", seed=1)
    assert model.card["decision_rule"]["groups"] == [
        "female*<25", "female*>=25", "male*<25", "male*>=25"]
    result = predict_rows(model, raw_split("german", split="test"), source="test")
    assert result.accuracy == model.card["test_accuracy"]
    assert result.unfairness == model.card["test_unfairness"]
    assert model.required_columns[-2:] == ("sex", "age_group")
