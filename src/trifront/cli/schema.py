"""``trifront schema``: write the inferred schema of a user file, to review and declare.

The schema (column types, numeric bounds, category lists, sensitive groups and
a public row count ``n``) is printed as TOML on stdout. Reviewed, edited and
passed back with ``--schema``, it makes the encoding and the privacy schedule
public knowledge, so epsilon covers them.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    sc = sub.add_parser(
        "schema", help="print the inferred schema of your data file as TOML",
        description="Infer the schema of FILE (column types, numeric bounds, category lists, "
        "sensitive groups, row count n) and print it as TOML. Review it, replace what you "
        "know from public sources (e.g. documented ranges and category lists), save it and "
        "pass it to `run` and `evaluate` with --schema: the encoding and the DP-SGD "
        "schedule then come from it alone. The inferred values are statistics of your "
        "private rows until you declare them public.",
    )
    sc.add_argument("file", help="CSV, TSV or Parquet file")
    sc.add_argument("--label", required=True, help="label column")
    sc.add_argument("--sensitive", required=True, help="sensitive column")
    sc.add_argument("--positive", help="positive label value (default: inferred when evident)")


def main(args: argparse.Namespace) -> int:
    from trifront.datasets import infer_schema

    schema = infer_schema(args.file, label=args.label, sensitive=args.sensitive,
                          positive=args.positive)
    print(schema.to_toml(), end="")
    return 0
