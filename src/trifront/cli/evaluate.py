"""``trifront evaluate``: train one configuration and print its objectives.

This module also builds the ``trifront evaluate`` command line that retrains a
trial (:func:`evaluate_command`), next to the parser it must agree with.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trifront.cli.common import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    add_data_flags,
    add_knob_flags,
    add_problem_flags,
    number,
    settings_from,
)
from trifront.errors import ConfigError

if TYPE_CHECKING:
    from trifront.problem import Problem
    from trifront.settings import Settings

#: Searched parameter -> its ``trifront evaluate`` flag.
PARAM_FLAGS: dict[str, str] = {
    "target_epsilon": "--epsilon",
    "noise_multiplier": "--noise-multiplier",
    "clip": "--clip",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "epochs": "--epochs",
    "hidden": "--hidden",
    "depth": "--depth",
    "fair_weight": "--fair-weight",
    "reweigh": "--reweigh",
    "group_thresholds": "--group-thresholds",
    "fair_target": "--fair-target",
}


def add_parser(sub: Any) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="train one configuration and print its objectives",
        description="Train one configuration with DP-SGD and print its accuracy, epsilon "
        "and unfairness with the privacy bookkeeping. --epsilon inf trains without privacy.",
    )
    add_config_flags(ev)
    ev.add_argument("--split", default="val", help="val (default) or test")
    ev.add_argument("--json", action="store_true", help="print JSON")


def add_config_flags(ev: Any, *, noise_flag: bool = True) -> None:
    """The flags of one configuration: data, problem, privacy, hyperparameters, knobs.

    Shared by ``evaluate`` and ``audit``; :func:`configuration_from` reads them.
    """
    add_data_flags(ev)
    add_problem_flags(ev)
    ev.add_argument("--epsilon", type=number(low=0, inf=True),
                    help="target epsilon of the run (or 'inf' for non-private training)")
    if noise_flag:
        ev.add_argument("--noise-multiplier", type=NON_NEGATIVE,
                        help="noise multiplier sigma instead of --epsilon (DPareto-style "
                        "parametrisation; epsilon is then computed)")
    ev.add_argument("--clip", type=POSITIVE, help="clipping norm C")
    ev.add_argument("--lr", type=POSITIVE, help="learning rate")
    ev.add_argument("--batch-size", type=POSITIVE_INT, help="expected batch size")
    ev.add_argument("--epochs", type=POSITIVE_INT, help="epochs")
    ev.add_argument("--hidden", type=POSITIVE_INT, help="MLP hidden width (MLP only)")
    ev.add_argument("--depth", type=POSITIVE_INT, help="MLP hidden layers (MLP only; default 1)")
    k = ev.add_argument_group("fairness knobs (each off by default: plain DP-SGD)")
    k.add_argument("--fair-weight", type=NON_NEGATIVE, default=0.0, metavar="LAMBDA",
                   help="fair-loss weight lambda >= 0 (below 1e-3 is off)")
    k.add_argument("--reweigh", type=NON_NEGATIVE, default=0.0, metavar="ALPHA",
                   help="reweighing strength alpha in [0, 4]: 1 is Kamiran-Calders, above 1 "
                   "over-corrects (below 0.05 is off)")
    k.add_argument("--group-thresholds", type=POSITIVE, metavar="TARGET_GAP",
                   help="private per-group thresholds meeting this gap (needs the sensitive "
                   "attribute at prediction time; 0.2 and above is off)")
    k.add_argument("--fair-target", type=number(low=0, low_inclusive=True), metavar="GAP",
                   help="steer training to this gap from privatised decision rates (a "
                   "Lagrangian fair term; no sensitive attribute at prediction; 0.2 and "
                   "above is off)")
    add_knob_flags(k)


def configuration_from(args: argparse.Namespace) -> tuple[Settings, Problem, dict[str, Any]]:
    """The settings, problem and parameters the :func:`add_config_flags` flags give.

    Raises:
        ConfigError: If the privacy flag or a needed hyperparameter is missing.
    """
    noise = getattr(args, "noise_multiplier", None)
    if (args.epsilon is None) == (noise is None):
        raise ConfigError("give exactly one of --epsilon (target) and --noise-multiplier."
                          if hasattr(args, "noise_multiplier") else "--epsilon is required.")
    by_noise = noise is not None
    # --batch-size and --epochs are this run's hyperparameters, not study settings.
    settings = settings_from(args, skip=("batch_size", "epochs"),
                             parametrisation="noise" if by_noise else "epsilon")
    problem = settings.problem()
    params: dict[str, Any] = (
        {"noise_multiplier": noise} if by_noise else {"target_epsilon": args.epsilon}
    )
    needed = {"clip": args.clip, "lr": args.lr, "batch_size": args.batch_size,
              "epochs": args.epochs}
    missing = [f"--{k.replace('_', '-')}" for k, v in needed.items() if v is None]
    if missing:
        raise ConfigError(f"model {problem.model!r} needs {', '.join(missing)}.")
    params.update(needed)
    for key in ("hidden", "depth", "group_thresholds", "fair_target"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    params["fair_weight"] = args.fair_weight
    params["reweigh"] = args.reweigh
    return settings, problem, params


def main(args: argparse.Namespace) -> int:
    settings, problem, params = configuration_from(args)
    from trifront.trial import evaluate

    result = evaluate(problem, params, seed=settings.seed, split=args.split)
    out = result.to_dict()
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    width = max(len(k) for k in out)
    for key, value in out.items():
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {text}")
    print(f"budget split at delta={result.delta:g}: epsilon_sgd={result.epsilon_sgd:.4g}, "
          f"epsilon_stats={result.epsilon_stats:.4g}, epsilon (composed)={result.epsilon:.4g}")
    if result.public_statistics:
        print("WARNING: the group statistics were declared public (--public-statistics): "
              "they are exact and NOT covered by epsilon.")
    if result.noise_seeded:
        print("WARNING: the noise was seeded from --seed (--reproducible): epsilon holds only "
              "while that seed stays secret.")
    if result.schema_from_data:
        print("WARNING: the encoding and row count came from the file's rows (no --schema): "
              "epsilon does not cover them.")
    if result.uses_sensitive_at_prediction:
        print("NOTE: group thresholds need the sensitive attribute at prediction time.")
    return 0


def evaluate_command(
    problem: Problem, params: Mapping[str, Any], *, seed: int, split: str = "test"
) -> str:
    """The ``trifront evaluate`` command line that retrains a configuration.

    Every searched parameter and every problem setting that differs from the
    default is passed; floats are written with ``repr`` so the command
    reproduces the exact values. The seed is the public one: the retrained
    model has fresh secret noise unless the problem is ``reproducible``.

    Raises:
        ValueError: If a parameter has no ``evaluate`` flag.
    """
    from trifront.problem import Problem

    args = ["trifront", "evaluate"]
    if problem.data_file is not None:
        args += ["--data", problem.data_file]
        if problem.schema_file is not None:
            args += ["--schema", problem.schema_file]
        if problem.label is not None:
            args += ["--label", str(problem.label)]
        if problem.positive is not None:
            args += ["--positive", str(problem.positive)]
    else:
        args += ["--dataset", problem.dataset]
    args += ["--model", problem.model]
    for name, value in params.items():
        if name not in PARAM_FLAGS:
            raise ValueError(f"no `trifront evaluate` flag for parameter {name!r}.")
        text = str(int(value)) if isinstance(value, int) else repr(float(value))
        args += [PARAM_FLAGS[name], text]
    args += ["--delta", repr(float(problem.delta)), "--engine", problem.engine,
             "--fairness", problem.fairness]
    if problem.sensitive is not None:
        args += ["--sensitive", problem.sensitive]
    defaults = Problem()
    if problem.accountant != defaults.accountant:
        args += ["--accountant", problem.accountant]
    if problem.data_seed != defaults.data_seed:
        args += ["--data-seed", str(problem.data_seed)]
    if problem.stats_share != defaults.stats_share:
        args += ["--stats-share", repr(float(problem.stats_share))]
    if not problem.sensitive_input:
        args += ["--no-sensitive-input"]
    if problem.tail_average != defaults.tail_average:
        args += ["--tail-average", repr(float(problem.tail_average))]
    if problem.public_statistics:
        args += ["--public-statistics"]
    if not problem.allow_group_thresholds:
        args += ["--no-group-thresholds"]
    if problem.reproducible:
        args += ["--reproducible"]
    args += ["--seed", str(int(seed)), "--split", split]
    return shlex.join(args)
