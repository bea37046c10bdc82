"""The ``trifront`` command line: parse, build a config, call the library, print.

Exit codes: 0 success; 2 bad input (one line on stderr naming the bad value and
what is accepted, no traceback); 1 internal failure; 130 interrupted (Ctrl-C),
with a line telling how to resume.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from trifront import __version__
from trifront.cli_bench import BENCH_COMMANDS, add_bench_command
from trifront.cli_report import REPORT_COMMANDS, add_report_commands
from trifront.errors import ConfigError, TrifrontError

DEFAULT_RUN: dict[str, Any] = {
    "dataset": "adult",
    "model": "logreg",
    "trials": 24,
    "storage": "sqlite:///trifront.db",
    "study": None,  # default: "<dataset>-<model>"
    "out": "trifront-out",
    "seed": 0,
    "sampler": "trifront",
    "delta": 1e-5,
    "engine": "fast",
    "fairness": "demographic_parity",
    "sensitive": None,
    "parametrisation": "epsilon",
    "startup_trials": 8,
    "data": None,
    "label": None,
    "positive": None,
    "no_group_thresholds": False,
    "public_statistics": False,
    "stats_share": None,
    "jobs": None,  # default: one per core
    "dask": None,
    "trial_timeout": None,
    "max_epsilon": None,
    "focus_unfairness": None,
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return value


def _epsilon(text: str) -> float:
    if text.strip().lower() in ("inf", "infinity", "none"):
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number or 'inf', got {text!r}"
        ) from None
    return value


def _add_knob_flags(g: Any) -> None:
    """Flags shared by `run` and `evaluate` about the fairness knobs' privacy."""
    g.add_argument("--no-group-thresholds", action="store_true", default=None,
                   help="forbid per-group decision thresholds (they need the sensitive "
                   "attribute at prediction time); `run` drops them from the space")
    g.add_argument("--public-statistics", action="store_true", default=None,
                   help="declare the knobs' group statistics public: exact, NOT counted in "
                   "epsilon, flagged public_statistics=true in every output (explicit opt-in)")
    g.add_argument("--stats-share", type=_positive_float, metavar="FRACTION",
                   help="share of the target epsilon the knobs' privatised statistics alone "
                   "spend; DP-SGD's sigma is solved for the composed rest (default 0.5)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="trifront",
        description="Find and explain the accuracy / differential privacy / fairness "
        "Pareto front of a model on a data set.",
    )
    parser.add_argument("--version", action="version", version=f"trifront {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="run or resume a study and write its front",
        description="Run (or resume) a study: train DP-SGD candidates chosen by "
        "multi-objective Bayesian optimisation, then write trials.csv, front.csv and "
        "front.html to --out. --trials is the study's total; run the same command "
        "again to continue a stopped study.",
    )
    g = run.add_argument_group("what to optimise")
    g.add_argument("--dataset", help=f"bundled data set (default {DEFAULT_RUN['dataset']}); "
                   "see `trifront datasets`")
    g.add_argument("--data", help="your own CSV or Parquet file instead of --dataset "
                   "(needs --label and --sensitive)")
    g.add_argument("--label", help="label column of --data")
    g.add_argument("--positive", help="positive label value of --data (default: inferred "
                   "when evident, e.g. 1, yes, true)")
    g.add_argument("--model", help="logreg, mlp (DP-SGD) or objpert (diffprivlib's "
                   "objective perturbation; default logreg)")
    g.add_argument("--fairness", help="fairness gap (default demographic_parity)")
    g.add_argument("--sensitive", help="sensitive attribute (default: the data set card's)")
    g.add_argument("--delta", type=_positive_float, help="delta of (epsilon, delta)-DP (1e-5)")
    g.add_argument("--parametrisation", help="epsilon (search target epsilon, default) or noise")
    g.add_argument("--max-epsilon", type=_positive_float, metavar="EPS",
                   help="never spend more: the largest target epsilon searched (default 10)")
    g.add_argument("--focus-unfairness", type=_positive_float, metavar="GAP",
                   help="concentrate the search on configurations fairer than GAP, e.g. 0.03 "
                   "(the reference point's unfairness; default 0.5 = the whole front)")
    _add_knob_flags(run.add_argument_group(
        "fairness knobs (searched by default: fair_weight, reweigh, group_thresholds)"))
    g = run.add_argument_group("how")
    g.add_argument("--trials", type=int, help="total trials in the study (default 24)")
    g.add_argument("--sampler", help="trifront (default), trifront-ehvi, botorch, gp, nsga2, "
                   "tpe, random, qmc")
    g.add_argument("--startup-trials", type=int, help="quasi-random trials first (default 8)")
    g.add_argument("--engine", help="DP-SGD engine: fast (default) or opacus")
    g.add_argument("--seed", type=int, help="seed of the sampler and training (default 0)")
    g = run.add_argument_group("where")
    g.add_argument("--storage", help="Optuna storage URL (default sqlite:///trifront.db)")
    g.add_argument("--study", help="study name (default <dataset>-<model>)")
    g.add_argument("--out", help="output directory (default trifront-out)")
    g.add_argument("--config", help="TOML file with the same settings (flags override it)")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g = run.add_argument_group("execution")
    g.add_argument("--jobs", type=int, help="trials in flight in a local process pool, one "
                   "torch thread each (default: the number of cores; 1 trains in this process)")
    g.add_argument("--dask", metavar="ADDRESS", help="run trials on a Dask cluster: a scheduler "
                   "address (tcp://host:8786) or local:N for N local workers; needs "
                   "pip install 'trifront[dask]'")
    g.add_argument("--trial-timeout", type=_positive_float, metavar="SECONDS",
                   help="stop a trial after this many seconds and record it FAIL (default: none)")

    ev = sub.add_parser(
        "evaluate",
        help="train one configuration and print its objectives",
        description="Train one configuration with DP-SGD and print its accuracy, epsilon "
        "and unfairness with the privacy bookkeeping. --epsilon inf trains without privacy.",
    )
    ev.add_argument("--dataset", default="adult")
    ev.add_argument("--data", help="your own CSV or Parquet file instead of --dataset")
    ev.add_argument("--label", help="label column of --data")
    ev.add_argument("--positive", help="positive label value of --data")
    ev.add_argument("--model", default="logreg", help="logreg, mlp or objpert")
    ev.add_argument("--noise-multiplier", type=_positive_float,
                    help="noise multiplier sigma instead of --epsilon (DPareto-style "
                    "parametrisation; epsilon is then computed)")
    ev.add_argument("--accountant", default="pld", help="pld (default), prv or rdp")
    ev.add_argument("--data-seed", type=int, default=0,
                    help="seed of the train/validation split (default 0)")
    ev.add_argument("--epsilon", type=_epsilon,
                    help="target epsilon of the run (or 'inf' for non-private training)")
    ev.add_argument("--clip", type=_positive_float, help="clipping norm C (DP-SGD)")
    ev.add_argument("--lr", type=_positive_float, help="learning rate (DP-SGD)")
    ev.add_argument("--batch-size", type=int, help="expected batch size (DP-SGD)")
    ev.add_argument("--epochs", type=int, help="epochs (DP-SGD)")
    ev.add_argument("--hidden", type=int, help="MLP hidden width (MLP only)")
    ev.add_argument("--depth", type=int, help="MLP hidden layers (MLP only; default 1)")
    ev.add_argument("--regularisation", type=_positive_float,
                    help="inverse L2 strength C (objpert only)")
    ev.add_argument("--delta", type=_positive_float, default=1e-5)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--engine", default="fast")
    ev.add_argument("--fairness", default="demographic_parity")
    ev.add_argument("--sensitive")
    ev.add_argument("--split", default="val", help="val (default) or test")
    ev.add_argument("--json", action="store_true", help="print JSON")
    k = ev.add_argument_group("fairness knobs (each off by default: plain DP-SGD)")
    k.add_argument("--fair-weight", type=_positive_float, default=0.0, metavar="LAMBDA",
                   help="fair-loss weight lambda >= 0 (below 1e-3 is off)")
    k.add_argument("--reweigh", type=_positive_float, default=0.0, metavar="ALPHA",
                   help="reweighing strength alpha in [0, 4]: 1 is Kamiran-Calders, above 1 "
                   "over-corrects (below 0.05 is off)")
    k.add_argument("--group-thresholds", type=_positive_float, metavar="TARGET_GAP",
                   help="private per-group thresholds meeting this gap (needs the sensitive "
                   "attribute at prediction time; 0.2 and above is off)")
    _add_knob_flags(k)

    sub.add_parser("datasets", help="list the bundled data sets",
                   description="List the bundled data sets with their size and attributes.")
    add_report_commands(sub)
    add_bench_command(sub)
    return parser


def _merged_run_settings(args: argparse.Namespace) -> dict[str, Any]:
    from trifront.config import load_config

    settings = dict(DEFAULT_RUN)
    space_overrides: dict[str, Any] = {}
    if args.config:
        cfg = load_config(args.config)
        space_overrides = cfg.pop("space", {})
        settings.update(cfg)
    for key in DEFAULT_RUN:
        value = getattr(args, key, None)
        # A flag left unset (None, or False for a switch) keeps the file's value.
        if value is not None and value is not False:
            settings[key] = value
    settings["space"] = space_overrides
    if settings["data"] is not None:
        settings["dataset"] = "file"
    if settings["study"] is None:
        from pathlib import Path

        data = Path(settings["data"]).stem if settings["data"] else settings["dataset"]
        settings["study"] = f"{data}-{settings['model']}"
    return settings


def _problem(s: dict[str, Any], **extra: Any) -> Any:
    """The Problem described by merged settings (``--data`` selects a user file)."""
    from pathlib import Path

    from trifront.problem import Problem

    data_file = None
    if s.get("data") is not None:
        data_file = str(Path(s["data"]).resolve())
    elif s.get("label") is not None or s.get("positive") is not None:
        raise ConfigError("--label and --positive apply to --data FILE only.")
    return Problem(
        dataset="file" if data_file else s["dataset"], model=s["model"],
        sensitive=s["sensitive"], fairness=s["fairness"], engine=s["engine"],
        data_file=data_file, label=s.get("label"), positive=s.get("positive"), **extra,
    )


def _knob_problem_args(s: dict[str, Any]) -> dict[str, Any]:
    """Problem settings of the knob flags (--no-group-thresholds, --public-statistics, ...)."""
    out: dict[str, Any] = {
        "allow_group_thresholds": not s.get("no_group_thresholds"),
        "public_statistics": bool(s.get("public_statistics")),
    }
    if s.get("stats_share") is not None:
        out["stats_share"] = s["stats_share"]
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from trifront.execution import ExecutionConfig
    from trifront.report.front import write_run_outputs
    from trifront.runner import RunConfig, run_study
    from trifront.space import SearchSpace

    s = _merged_run_settings(args)
    if not isinstance(s["trials"], int) or s["trials"] < 1:
        raise ConfigError(f"`--trials >= 1` must hold, but got {s['trials']}.")
    problem = _problem(s, delta=float(s["delta"]), parametrisation=s["parametrisation"],
                       **_knob_problem_args(s))
    if problem.data_file is not None:
        from trifront.datasets import describe_inferred

        print(describe_inferred(problem.data().card), file=sys.stderr)
    n_train = problem.validate().n_train
    if s["max_epsilon"] is not None:
        if s["parametrisation"] != "epsilon":
            raise ConfigError(
                "--max-epsilon bounds the searched target epsilon: it needs "
                f"--parametrisation epsilon, but got {s['parametrisation']!r}."
            )
        bounds = dict(s["space"].get("target_epsilon", {}))
        bounds["high"] = float(s["max_epsilon"])
        s["space"] = {**s["space"], "target_epsilon": bounds}
    space = SearchSpace.default(
        s["model"], s["parametrisation"], n_train=n_train,
        group_thresholds=problem.allow_group_thresholds,
    ).with_bounds(s["space"])
    config = RunConfig(
        problem=problem, space=space, n_trials=s["trials"], storage=s["storage"],
        study_name=s["study"], seed=s["seed"], sampler=s["sampler"],
        n_startup_trials=s["startup_trials"],
        execution=ExecutionConfig(
            jobs=s["jobs"], dask=s["dask"], trial_timeout=s["trial_timeout"]
        ),
        focus_unfairness=s["focus_unfairness"],
    )
    try:
        study = run_study(config, progress=not args.no_progress)
    except KeyboardInterrupt:
        again = " ".join(shlex.quote(a) for a in sys.argv)
        print(
            f"\ninterrupted: finished trials are kept in {s['storage']} (study {s['study']!r}); "
            f"resume with: {again}",
            file=sys.stderr,
        )
        return 130
    paths = write_run_outputs(study, s["out"])
    _print_front(paths["front.csv"])
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _print_front(front_csv: Any) -> None:
    import pandas as pd

    front = pd.read_csv(front_csv)
    if front.empty:
        print("no completed trial yet: the front is empty.")
        return
    cols = [c for c in ("trial", "accuracy", "epsilon", "unfairness", "noise_multiplier",
                        "clip", "lr", "batch_size", "epochs", "hidden", "depth", "fair_weight",
                        "reweigh", "group_thresholds", "regularisation") if c in front]
    print(f"Pareto front ({len(front)} trials; epsilon at delta={front['delta'].iloc[0]:g}, "
          f"accuracy and unfairness on the validation split):")
    print(front[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if (args.epsilon is None) == (args.noise_multiplier is None):
        raise ConfigError("give exactly one of --epsilon (target) and --noise-multiplier.")
    by_noise = args.noise_multiplier is not None
    problem = _problem(
        vars(args), delta=args.delta, accountant=args.accountant, data_seed=args.data_seed,
        parametrisation="noise" if by_noise else "epsilon", **_knob_problem_args(vars(args)),
    )
    params: dict[str, Any]
    if by_noise:
        params = {"noise_multiplier": args.noise_multiplier}
    else:
        if not (args.epsilon > 0):
            raise ConfigError(f"`--epsilon > 0` must hold (or 'inf'), but got {args.epsilon}.")
        params = {"target_epsilon": args.epsilon}
    if args.model == "objpert":
        needed = {"regularisation": args.regularisation}
    else:
        needed = {"clip": args.clip, "lr": args.lr, "batch_size": args.batch_size,
                  "epochs": args.epochs}
        if args.hidden is not None:
            params["hidden"] = args.hidden
        if args.depth is not None:
            params["depth"] = args.depth
        params["fair_weight"] = args.fair_weight
        params["reweigh"] = args.reweigh
        if args.group_thresholds is not None:
            params["group_thresholds"] = args.group_thresholds
    missing = [f"--{k.replace('_', '-')}" for k, v in needed.items() if v is None]
    if missing:
        raise ConfigError(f"model {args.model!r} needs {', '.join(missing)}.")
    params.update(needed)
    result = problem.evaluate(params, seed=args.seed, split=args.split)
    out = result.to_dict()
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        width = max(len(k) for k in out)
        for key, value in out.items():
            text = f"{value:.6g}" if isinstance(value, float) else str(value)
            print(f"{key:<{width}}  {text}")
        print(f"budget split at delta={result.delta:g}: epsilon_sgd={result.epsilon_sgd:.4g}, "
              f"epsilon_stats={result.epsilon_stats:.4g}, epsilon (composed)="
              f"{result.epsilon:.4g}")
        if result.public_statistics:
            print("WARNING: the group statistics were declared public (--public-statistics): "
                  "they are exact and NOT covered by epsilon.")
        if result.uses_sensitive_at_prediction:
            print("NOTE: group thresholds need the sensitive attribute at prediction time.")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from trifront.datasets import get_card, list_datasets, load_dataset

    print(f"{'name':<10} {'train+val':>9} {'test':>6} {'label':<24} {'sensitive':<16} majority")
    for name in list_datasets():
        card = get_card(name)
        ds = load_dataset(name)
        n = len(ds.train) + len(ds.val)
        print(f"{name:<10} {n:>9} {len(ds.test):>6} {card.label!s:<24} "
              f"{', '.join(card.sensitive_attributes):<16} {ds.majority_rate:.3f}")
    return 0


COMMANDS = {
    "run": _cmd_run,
    "evaluate": _cmd_evaluate,
    "datasets": _cmd_datasets,
    **REPORT_COMMANDS,
    **BENCH_COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trifront`` command. Returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TrifrontError as exc:
        print(f"trifront {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
