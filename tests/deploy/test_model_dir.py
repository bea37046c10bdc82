"""A model directory that was tampered with is refused: exit 2, one line, no traceback."""

import json
import shutil

import pytest
import torch

from trifront.cli import main
from trifront.deploy import export_model, load_model
from trifront.deploy.layout import HASHED_FILES, sha256_of
from trifront.problem import Problem

PARAMS = {"target_epsilon": 1.0, "clip": 1.0, "lr": 0.5, "batch_size": 64, "epochs": 1}


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    out = tmp_path_factory.mktemp("orig") / "model"
    export_model(Problem(dataset="german", model="mlp"), {**PARAMS, "hidden": 4}, out, seed=0)
    return out


def _copy(original, tmp_path):
    d = tmp_path / "model"
    shutil.copytree(original, d)
    return d


def _rehash(d):
    """Make the card agree with the edited files (a careful tamperer)."""
    card = json.loads((d / "card.json").read_text())
    card["files"] = {name: sha256_of(d / name) for name in HASHED_FILES}
    (d / "card.json").write_text(json.dumps(card))


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def _wrong_shapes(d):
    state = torch.load(d / "model.pt", weights_only=True)
    state["net.0.weight"] = torch.zeros(4, 5)
    torch.save(state, d / "model.pt")


def _tamper_cases():
    def drop(name):
        return lambda d: (d / name).unlink()

    def edit_card(**changes):
        def go(d):
            card = json.loads((d / "card.json").read_text())
            card.update(changes)
            (d / "card.json").write_text(json.dumps(card))
        return go

    def edit_json(name, key, value):
        def go(d):
            data = json.loads((d / name).read_text())
            data[key] = value
            (d / name).write_text(json.dumps(data))
            _rehash(d)
        return go

    def evil(d):
        torch.save({"net.0.weight": _Evil()}, d / "model.pt")
        _rehash(d)

    def shapes_rehashed(d):
        _wrong_shapes(d)
        _rehash(d)

    return {
        "missing card": (drop("card.json"), "has no card.json"),
        "missing weights": (drop("model.pt"), "has no model.pt"),
        "card not json": (lambda d: (d / "card.json").write_text("{oops"), "not valid JSON"),
        "other format version": (edit_card(format_version=99), "version 1"),
        "weights changed": (_wrong_shapes, "does not match the sha256"),
        "wrong shapes": (shapes_rehashed, "net.0.weight has shape [4, 5]"),
        "pickled code": (evil, "not a tensors-only torch state_dict"),
        "encoder edited": (edit_json("encoder.json", "n_features", 3), "inconsistent"),
        "decision edited": (edit_json("decision.json", "threshold", 0.1), "`threshold`"),
        "rule and card disagree": (edit_card(uses_sensitive_at_prediction=True),
                                   "uses_sensitive_at_prediction"),
    }


@pytest.mark.parametrize("case", list(_tamper_cases()))
def test_tampered_directory_exits_2_with_one_line(original, tmp_path, case, capsys,
                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = _copy(original, tmp_path)
    tamper, message = _tamper_cases()[case]
    tamper(d)
    rc = main(["predict", str(d), "--dataset", "german", "--out", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message in err, err
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "p.csv").exists()


def test_not_a_directory_exits_2(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope"), "--dataset", "german"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_untouched_copy_loads(original, tmp_path):
    assert load_model(_copy(original, tmp_path)).card["model"]["hidden"] == [4]
