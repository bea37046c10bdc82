"""``trifront atlas``: one study per (data set, model, fairness metric), compared on one page."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from trifront.cli.common import (
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    check_out_dir,
)

_DEFAULTS = {"datasets": "adult,compas,german", "models": "logreg,mlp",
             "metrics": "demographic_parity,equalized_odds"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "atlas", help="run and compare one study per data set, model and fairness metric",
        description="Run (or resume) one study per (data set, model, fairness metric), named "
        "atlas-DATASET-MODEL-METRIC, in one shared storage; write each study's report to "
        "DIR/<study>/, then DIR/atlas.json and DIR/index.html: the fronts on shared axes, the "
        "price of privacy (epsilon <= 0.5, 1, 3) and of fairness (gap <= 0.02, 0.05, 0.1), "
        "chosen on validation and scored on test, and which fairness knob carries each fair "
        "end. Run the same command again to continue a stopped atlas: finished studies are "
        "not re-run and cached re-evaluations are not retrained.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--trials", type=POSITIVE_INT, default=40,
                   help="total trials of each study (default 40)")
    p.add_argument("--seeds", type=POSITIVE_INT, default=5,
                   help="re-evaluation runs per front configuration (default 5; cached)")
    p.add_argument("--jobs", type=POSITIVE_INT, help="trials in flight in a local process pool "
                   "(default: the number of cores; 1 trains in this process)")
    p.add_argument("--dask", metavar="ADDRESS", help="run trials on a Dask cluster "
                   "(tcp://host:8786, or local:N)")
    p.add_argument("--storage", help="Optuna storage URL shared by every study (default "
                   "sqlite:///DIR/atlas.db)")
    for flag, what in (("datasets", "bundled data sets"), ("models", "models"),
                       ("metrics", "fairness metrics")):
        p.add_argument(f"--{flag}", default=_DEFAULTS[flag], metavar="A,B",
                       help=f"comma-separated {what} (default {_DEFAULTS[flag]})")
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0,
                   help="public seed of every study (default 0)")
    p.add_argument("--config", metavar="FILE.toml",
                   help="further settings of every study, as in `trifront run --config` "
                   "(e.g. [space.*] bounds, cv_folds, delta); not the ones atlas sets")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def main(args: argparse.Namespace) -> int:
    from trifront.atlas import AtlasConfig, run_atlas
    from trifront.settings import load_toml

    check_out_dir(args.out)
    config = AtlasConfig(
        out=args.out, datasets=_names(args.datasets), models=_names(args.models),
        metrics=_names(args.metrics), trials=args.trials, seeds=args.seeds,
        storage=args.storage, jobs=args.jobs, dask=args.dask, seed=args.seed,
        settings=load_toml(args.config) if args.config else {},
    )
    try:
        atlas = run_atlas(config, progress=not args.no_progress)
    except KeyboardInterrupt:
        again = " ".join(shlex.quote(a) for a in sys.argv)
        print(f"\ninterrupted: finished trials are kept in {config.storage_url}; resume with: "
              f"{again}", file=sys.stderr)
        return 130
    _print_table(atlas.data)
    print(f"\nwrote {atlas.paths['atlas.json']} and {atlas.paths['index.html']}")
    return 0


def _print_table(data: dict[str, Any]) -> None:
    import pandas as pd

    rows = []
    for s in data["studies"]:
        row = {"study": s["study"], "trials": s["n_trials"], "front": len(s["front"]),
               "best test acc": s["price_of_privacy"]["no_limit"]["test_accuracy"]}
        for key, c in s["price_of_privacy"]["limits"].items():
            row[f"eps<={key}"] = c["price_points"]
        for key, c in s["price_of_fairness"]["limits"].items():
            row[f"gap<={key}"] = c["price_points"]
        row["privacy cost"] = s["privacy_cost_class"]
        rows.append(row)
    print("Price in accuracy points (chosen on validation, scored on test):")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
