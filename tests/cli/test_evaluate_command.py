"""The retrain command printed by `recommend` reproduces the configuration exactly."""

import json
import shlex

import pytest

from trifront.cli import main
from trifront.cli.evaluate import evaluate_command
from trifront.problem import Problem
from trifront.trial import evaluate

# Retraining gives the same model only when the noise is seeded (--reproducible);
# by default every run draws fresh secret noise.
CASES = [
    (Problem(reproducible=True),
     {"target_epsilon": 1.3, "clip": 1.5, "lr": 2.0, "batch_size": 1024, "epochs": 1,
      "fair_weight": 0.5, "reweigh": 0.7, "group_thresholds": 0.03}),
    (Problem(model="mlp", reproducible=True),
     {"target_epsilon": 3.0, "clip": 1.0, "lr": 1.0, "batch_size": 2048, "epochs": 1,
      "hidden": 8, "depth": 2}),
    (Problem(parametrisation="noise", accountant="prv", data_seed=3, reproducible=True),
     {"noise_multiplier": 2.0, "clip": 1.0, "lr": 1.0, "batch_size": 2048, "epochs": 1,
      "fair_weight": 0.0, "reweigh": 0.0}),
    (Problem(dataset="german", sensitive_input=False, tail_average=0.25, reproducible=True),
     {"target_epsilon": 1.0, "clip": 1.0, "lr": 0.5, "batch_size": 64, "epochs": 2,
      "reweigh": 1.0}),
]


@pytest.mark.parametrize(("problem", "params"), CASES)
def test_command_retrains_the_same_model(problem, params, capsys):
    command = evaluate_command(problem, params, seed=11, split="test")
    argv = shlex.split(command)
    assert argv[:2] == ["trifront", "evaluate"]
    assert main([*argv[1:], "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    direct = evaluate(problem, params, seed=11, split="test").to_dict()
    for key in ("accuracy", "unfairness", "epsilon", "noise_multiplier", "steps", "accountant",
                "sensitive_input", "tail_average"):
        assert printed[key] == direct[key], key


def test_the_command_seeds_the_noise_only_for_a_reproducible_problem():
    params = CASES[0][1]
    assert "--reproducible" in shlex.split(evaluate_command(CASES[0][0], params, seed=1))
    assert "--reproducible" not in shlex.split(evaluate_command(Problem(), params, seed=1))


def test_unknown_parameter_is_refused():
    with pytest.raises(ValueError, match="momentum"):
        evaluate_command(Problem(), {"momentum": 0.9}, seed=0)
