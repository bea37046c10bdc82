"""One settings model: CLI flags, a TOML file and the Python API build the same object."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from trifront.cli import build_parser, main
from trifront.cli.common import settings_from
from trifront.errors import ConfigError
from trifront.settings import Settings

# Flags of `trifront run` that are not settings of the run itself.
NOT_SETTINGS = {"config", "no_progress", "help", "command"}


def _run_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def test_every_run_flag_is_a_setting_and_every_setting_a_run_flag():
    flags = {a.dest for a in _run_parser()._actions} - NOT_SETTINGS
    fields = {f.name for f in dataclasses.fields(Settings)} - {"space"}  # [space] is TOML-only
    assert flags == fields


def test_flags_toml_and_keywords_build_the_same_settings(tmp_path):
    values = {"dataset": "german", "model": "mlp", "trials": 7, "delta": 1e-4, "seed": 3,
              "max_epsilon": 2.0, "focus_unfairness": 0.03, "no_group_thresholds": True,
              "stats_share": 0.25, "jobs": 1, "reproducible": True, "study": "s",
              "storage": "sqlite:///x.db", "out": "o", "startup_trials": 4}
    argv = ["run"]
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    from_flags = settings_from(build_parser().parse_args(argv))
    toml = tmp_path / "s.toml"
    toml.write_text("\n".join(
        f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}" for k, v in values.items()
    ).replace("'", '"'))
    from_file = Settings.load(toml)
    from_api = Settings.from_mapping({**values, "n_trials": values["trials"]})
    assert from_flags == from_file == from_api
    assert from_api.problem().reproducible and not from_api.problem().allow_group_thresholds


def test_flags_override_the_file(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('dataset = "german"\ntrials = 9\n')
    args = build_parser().parse_args(["run", "--config", str(toml), "--trials", "3"])
    s = settings_from(args, config=args.config)
    assert (s.dataset, s.trials) == ("german", 3)


def test_defaults_are_written_once():
    s = Settings()
    assert (s.dataset, s.model, s.trials, s.delta, s.storage) == (
        "adult", "logreg", 24, 1e-5, "sqlite:///trifront.db")
    assert s.study_name == "adult-logreg"
    assert Settings(data="/tmp/loans.csv", label="y", model="mlp").study_name == "loans-mlp"


@pytest.mark.parametrize(("values", "match"), [
    ({"trails": 3}, "Did you mean 'trials'"),
    ({"trials": 0}, "trials >= 1"),
    ({"delta": -1e-5}, "0 < delta < 1"),
    ({"stats_share": 1.5}, "0 < stats_share < 1"),
    ({"max_epsilon": -1}, "0 < max_epsilon"),
    ({"max_epsilon": 1, "parametrisation": "noise"}, "parametrisation='epsilon'"),
    ({"label": "y"}, "user file"),
])
def test_bad_settings_name_the_value(values, match):
    with pytest.raises(ConfigError, match=match):
        Settings.from_mapping(values)


@pytest.mark.parametrize("argv", [
    ["run", "--delta", "-1e-5"],
    ["run", "--max-epsilon", "-2"],
    ["run", "--trials", "0"],
    ["evaluate", "--clip", "-1"],
    ["run", "--stats-share", "1.5"],
])
def test_negative_or_out_of_range_numbers_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected" in err[0]


def test_the_python_api_accepts_every_setting_the_cli_accepts():
    import inspect

    import trifront

    sig = inspect.signature(trifront.run)
    assert any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    with pytest.raises(ConfigError, match="Did you mean 'dataset'"):
        trifront.run(datset="adult")


def test_a_privacy_utility_study_searches_no_fairness_knob():
    three = Settings().search_space(n_train=26_000).names
    two = Settings(objectives="accuracy,epsilon").search_space(n_train=26_000).names
    assert {"fair_weight", "reweigh", "fair_target", "group_thresholds"} <= set(three)
    assert set(two) == set(three) - {"fair_weight", "reweigh", "fair_target", "group_thresholds"}


@pytest.mark.parametrize(("max_epsilon", "fixed"), [(None, 1.0), (3.0, 3.0)])
def test_a_fairness_utility_study_spends_one_epsilon_in_every_trial(max_epsilon, fixed):
    s = Settings(objectives="accuracy,unfairness", max_epsilon=max_epsilon)
    space = s.search_space(n_train=26_000)
    eps = space["target_epsilon"]
    assert (eps.low, eps.high) == (fixed, fixed)
    assert {a["target_epsilon"] for a in space.anchors()} == {fixed}
    assert "reweigh" in space.names


def test_objectives_other_than_the_3d_front_are_refused_with_private_tuning():
    with pytest.raises(ConfigError, match="not accepted with it"):
        Settings(objectives="accuracy,epsilon", private_tuning=True, study_epsilon=1.0)


def test_the_python_api_takes_the_space_setting_as_bounds(tmp_path):
    import trifront
    from trifront.study import study_settings

    study = trifront.run(dataset="german", trials=1, cv_folds=1, no_anchors=True,
                         storage=f"sqlite:///{tmp_path}/s.db", progress=False, jobs=1,
                         space={"epochs": {"low": 2, "high": 3}, "reweigh": {"high": 3}})
    dims = {d["name"]: d for d in study_settings(study)["space"]["dimensions"]}
    assert (dims["epochs"]["low"], dims["epochs"]["high"]) == (2, 3)
    assert dims["reweigh"]["high"] == 3
