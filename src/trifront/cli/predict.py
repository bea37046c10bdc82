"""``trifront predict``: apply an exported model to new rows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trifront.errors import ConfigError


def add_parser(sub: Any) -> None:
    pr = sub.add_parser(
        "predict", help="apply an exported model to the rows of a file or data set",
        description="Encode the rows with the model's exported schema, apply the model and "
        "its decision rule, and write a CSV with `probability` (of the positive label), "
        "`prediction` (0/1) and, when the rows have the label column, `label` (the true "
        "label, 0/1). The sensitive column is needed only when the card says "
        "uses_sensitive_at_prediction (or the model reads it as a feature). A row that does "
        "not fit the schema (a missing column, a category outside it, junk in a numeric "
        "column) stops with exit code 2 and one line naming the column.",
    )
    pr.add_argument("model", metavar="DIR", help="model directory written by `trifront export`")
    src = pr.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="FILE", help="rows to predict: CSV, TSV or Parquet")
    src.add_argument("--dataset", metavar="NAME", help="a bundled data set's rows")
    pr.add_argument("--split", help="rows of one split, carved as training carved them "
                    "(with the model's data seed): train, val or test; with --data also all "
                    "(default: all for --data, test for --dataset)")
    pr.add_argument("--out", metavar="FILE.csv",
                    help="where to write the predictions (default: standard output)")


def main(args: argparse.Namespace) -> int:
    from trifront.deploy import load_model
    from trifront.deploy.inputs import (
        ALL,
        dataset_rows,
        file_rows,
        predict_rows,
        source_name,
    )

    if args.out and not Path(args.out).resolve().parent.is_dir():
        raise ConfigError(f"--out {args.out!r}: its directory does not exist; create it first.")
    model = load_model(args.model)
    seed = int(model.card.get("dataset", {}).get("data_seed", 0))
    split = args.split or (ALL if args.data else "test")
    if args.data:
        frame = file_rows(args.data, split=split, seed=seed)
    else:
        if split == ALL:
            raise ConfigError("--split all applies to --data; a bundled data set's split is "
                              "one of train, val, test.")
        frame = dataset_rows(args.dataset, split=split, seed=seed)
    source = source_name(args.data, args.dataset, split)
    result = predict_rows(model, frame, source=source)
    if args.out:
        result.table.to_csv(args.out, index=False)
    else:
        result.table.to_csv(sys.stdout, index=False)
    print(result.summary(model, source) + (f"; wrote {args.out}" if args.out else ""),
          file=sys.stderr)
    return 0
