"""``trifront datasets``: list the bundled data sets."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    sub.add_parser("datasets", help="list the bundled data sets",
                   description="List the bundled data sets with their size and attributes.")


def main(args: argparse.Namespace) -> int:
    from trifront.datasets import get_card, list_datasets, load_dataset

    print(f"{'name':<10} {'train+val':>9} {'test':>6} {'label':<24} {'sensitive':<16} majority")
    for name in list_datasets():
        card = get_card(name)
        ds = load_dataset(name)
        n = len(ds.train) + len(ds.val)
        print(f"{name:<10} {n:>9} {len(ds.test):>6} {card.label!s:<24} "
              f"{', '.join(card.sensitive_attributes):<16} {ds.majority_rate:.3f}")
    return 0
