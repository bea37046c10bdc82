"""``trifront compare``: overlay the fronts of several studies."""

from __future__ import annotations

import argparse
from typing import Any

from trifront.cli.common import add_storage_flag, check_out_dir
from trifront.settings import DEFAULT_STORAGE


def add_parser(sub: Any) -> None:
    cmp_ = sub.add_parser(
        "compare", help="overlay the fronts of several studies",
        description="Write DIR/index.html and compare.csv overlaying the Pareto fronts "
        "(validation values) of several studies of one storage, with hypervolumes against "
        "a common reference point.",
    )
    cmp_.add_argument("studies", nargs="+", help="study names")
    add_storage_flag(cmp_)
    cmp_.add_argument("--out", default="trifront-compare", help="output directory")


def main(args: argparse.Namespace) -> int:
    import pandas as pd

    from trifront.report.compare import write_comparison
    from trifront.study import load_study, refuse_private_tuning

    check_out_dir(args.out)
    studies = [load_study(args.storage or DEFAULT_STORAGE, name) for name in args.studies]
    for one in studies:
        refuse_private_tuning(one, "compare")
    paths = write_comparison(studies, args.out)
    table = pd.read_csv(paths["compare.csv"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0
