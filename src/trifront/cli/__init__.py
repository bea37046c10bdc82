"""The ``trifront`` command line: parse, build settings, call the library, print.

One module per subcommand, each with ``add_parser(subparsers)`` and
``main(args) -> exit code``. Heavy imports happen inside ``main``, so
``trifront --help`` stays fast.

Exit codes: 0 success; 2 bad input (one line on stderr naming the bad value and
what is accepted, no traceback); 1 internal failure; 130 interrupted (Ctrl-C),
with a line telling how to resume.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from trifront import __version__
from trifront.cli import (
    atlas,
    audit,
    bench,
    compare,
    datasets,
    evaluate,
    export,
    predict,
    recommend,
    refine,
    report,
    run,
    schema,
)
from trifront.cli.common import Parser
from trifront.errors import TrifrontError

__all__ = ["build_parser", "main"]

_MODULES = (run, refine, evaluate, audit, schema, datasets, report, recommend, export, predict,
            compare, bench, atlas)
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    m.__name__.rsplit(".", 1)[1]: m.main for m in _MODULES
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = Parser(
        prog="trifront",
        description="Find and explain the accuracy / differential privacy / fairness "
        "Pareto front of a model on a data set.",
    )
    parser.add_argument("--version", action="version", version=f"trifront {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in _MODULES:
        module.add_parser(sub)
    return parser


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
