"""What every ``trifront`` subcommand shares: the parser class, number types, flags.

Parsing only: nothing here imports training code, so ``trifront --help`` is fast.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from trifront.errors import ConfigError
from trifront.settings import DEFAULT_STORAGE, Settings


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def number(
    *, low: float | None = None, low_inclusive: bool = False, high: float | None = None,
    integer: bool = False, inf: bool = False,
) -> Callable[[str], Any]:
    """An argparse ``type`` for a number in a range, with a one-line error.

    Args:
        low: Lower bound (None: none).
        low_inclusive: Whether ``low`` itself is accepted.
        high: Inclusive upper bound (None: none).
        integer: Accept integers only.
        inf: Accept ``inf`` (also ``infinity``, ``none``) as infinity.
    """
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low:g}")
    if high is not None:
        parts.append(f"<= {high:g}")
    what = ("an integer" if integer else "a number") + (" " + " and ".join(parts) if parts else "")
    if inf:
        what += " or 'inf'"

    def parse(text: str) -> Any:
        word = text.strip().lower()
        if inf and word in ("inf", "infinity", "none"):
            return math.inf
        try:
            value: Any = int(word) if integer else float(word)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        ok = not (isinstance(value, float) and math.isnan(value))
        if low is not None:
            ok = ok and (value >= low if low_inclusive else value > low)
        if high is not None:
            ok = ok and value <= high
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


POSITIVE = number(low=0)
POSITIVE_INT = number(low=1, low_inclusive=True, integer=True)
NON_NEGATIVE = number(low=0, low_inclusive=True)
NON_NEGATIVE_INT = number(low=0, low_inclusive=True, integer=True)
FRACTION = number(low=0, high=1)


def add_data_flags(p: Any, *, bundled_default: bool = True) -> None:
    """``--dataset``/``--data`` and what a user file needs."""
    p.add_argument("--dataset", help="bundled data set (default adult); see `trifront datasets`")
    p.add_argument("--data", metavar="FILE", help="your own CSV, TSV or Parquet file instead of "
                   "--dataset")
    p.add_argument("--schema", metavar="FILE.toml",
                   help="the declared, public schema of --data (write one with `trifront "
                   "schema`): encoding and row count come from it alone; without it they "
                   "come from the rows and every output says schema_from_data=true")
    p.add_argument("--label", help="label column of --data (default: the schema's)")
    p.add_argument("--positive", help="positive label value of --data (default: the schema's, "
                   "or inferred when evident, e.g. 1, yes, true)")


def add_problem_flags(p: Any) -> None:
    """Model, metric and privacy flags shared by ``run`` and ``evaluate``."""
    p.add_argument("--model", help="logreg (default) or mlp, trained with DP-SGD")
    p.add_argument("--fairness", help="fairness gap (default demographic_parity)")
    p.add_argument("--sensitive", help="sensitive attribute (default: the card's or schema's)")
    p.add_argument("--delta", type=FRACTION, help="delta of (epsilon, delta)-DP (default 1e-5)")
    p.add_argument("--engine", help="DP-SGD engine: fast (default) or opacus")
    p.add_argument("--accountant", help="pld (default), prv or rdp")
    p.add_argument("--data-seed", type=NON_NEGATIVE_INT,
                   help="seed of the train/validation split (default 0)")
    p.add_argument("--seed", type=NON_NEGATIVE_INT,
                   help="public seed: initialisation, splits, the sampler (default 0); the DP "
                   "noise and sampling always come from the operating system")
    p.add_argument("--cv-folds", type=number(low=1, low_inclusive=True, integer=True),
                   metavar="K", help="score on the validation split by K-fold cross-validation "
                   "over the non-test rows (5) or on the one split (1); default: 5 below "
                   "10,000 public training rows (small data: one split's score is noise)")
    add_reproducible_flag(p)


def add_reproducible_flag(p: Any) -> None:
    p.add_argument("--reproducible", action="store_true", default=None,
                   help="research mode: also seed the DP noise and Poisson sampling from "
                   "--seed, so runs repeat exactly; epsilon then holds only while the seed "
                   "is secret, and every output says noise_seeded=true")


def add_knob_flags(g: Any) -> None:
    """Flags about the fairness knobs' privacy, shared by ``run`` and ``evaluate``."""
    g.add_argument("--no-group-thresholds", action="store_true", default=None,
                   help="forbid per-group decision thresholds (they need the sensitive "
                   "attribute at prediction time); `run` drops them from the space")
    g.add_argument("--public-statistics", action="store_true", default=None,
                   help="declare the knobs' group statistics public: exact, NOT counted in "
                   "epsilon, flagged public_statistics=true in every output (explicit opt-in)")
    g.add_argument("--stats-share", type=FRACTION, metavar="FRACTION",
                   help="share of the target epsilon the knobs' privatised statistics alone "
                   "spend; DP-SGD's sigma is solved for the composed rest (default 0.5)")
    g.add_argument("--no-sensitive-input", action="store_true", default=None,
                   help="the model does not read the sensitive attribute as an input; it "
                   "still defines the groups of the gap and of the knobs' statistics (with "
                   "group thresholds off, predicting then needs no sensitive attribute)")
    g.add_argument("--tail-average", type=number(low=0, low_inclusive=True, high=1),
                   metavar="FRACTION",
                   help="average the model over the last FRACTION of the DP-SGD steps "
                   "(post-processing, no privacy cost; steadier accuracy and gap across "
                   "runs); 0 keeps the last step's model (default 0.5)")


def check_out_dir(path: str, *, flag: str = "--out") -> None:
    """Refuse an output directory that cannot be written, before any work starts.

    Raises:
        ConfigError: If ``path`` is an existing file, or no directory on its way
            can be written.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag} {path!r} is an existing file; give a directory (created "
                          "if missing).")
    ancestor = p if p.exists() else next((a for a in p.parents if a.exists()), Path("."))
    if not ancestor.is_dir():
        raise ConfigError(f"{flag} {path!r} cannot be created: {str(ancestor)!r} is a file.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path!r} cannot be written: no write permission in "
                          f"{str(ancestor)!r}.")


def add_storage_flag(p: Any) -> None:
    p.add_argument("--storage", default=None,
                   help=f"Optuna storage URL (default {DEFAULT_STORAGE})")


def settings_from(args: argparse.Namespace, *, config: str | None = None,
                  skip: tuple[str, ...] = (), **extra: Any) -> Settings:
    """The :class:`~trifront.settings.Settings` of parsed flags (over a config file).

    Flags the parser does not define, flags in ``skip`` (a command's own
    values that share a setting's name), and flags left unset keep the
    file's value or the default.
    """
    keys = {k: getattr(args, k) for k in Settings.__dataclass_fields__
            if hasattr(args, k) and k not in skip}
    return Settings.load(config, **keys, **extra)
