"""``trifront audit``: an empirical lower bound on epsilon from one training run."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from trifront.cli.common import FRACTION, number
from trifront.cli.evaluate import add_config_flags, configuration_from
from trifront.errors import ConfigError

#: Fewest canaries (mirrors :data:`trifront.audit.MIN_CANARIES`, kept here so
#: parsing imports no training code).
MIN_CANARIES = 10


def add_parser(sub: Any) -> None:
    au = sub.add_parser(
        "audit",
        help="train once with canaries and bound epsilon from below",
        description="Privacy auditing with one training run (Steinke, Nasr & Jagielski "
        "2023): train the configuration once with --canaries canaries, each added with "
        "probability 1/2, guess from the training's noisy steps which were in, and turn the "
        "correct guesses into a lower bound on epsilon at --confidence. The bound must stay "
        "at or below the claimed epsilon; a bound above it means broken training or "
        "accounting. Takes the configuration flags of `trifront evaluate`.",
    )
    add_config_flags(au, noise_flag=False)
    au.add_argument("--canaries", type=number(low=MIN_CANARIES, low_inclusive=True,
                                              integer=True),
                    default=1000, metavar="M", help="number of canaries (default 1000, >= 10)")
    au.add_argument("--confidence", type=FRACTION, default=0.95,
                    help="confidence of the lower bound, in (0, 1) (default 0.95)")
    au.add_argument("--json", action="store_true", help="print JSON")


def main(args: argparse.Namespace) -> int:
    if not 0 < args.confidence < 1:
        raise ConfigError(f"`0 < confidence < 1` must hold, but got confidence={args.confidence}.")
    settings, problem, params = configuration_from(args)
    from trifront.audit import audit

    result = audit(problem, params, seed=settings.seed, canaries=args.canaries,
                   confidence=args.confidence)
    out = result.to_dict()
    if args.json:
        print(json.dumps({k: (v if not (isinstance(v, float) and math.isinf(v)) else "inf")
                          for k, v in out.items()}, indent=2))
        return 0
    print(f"epsilon              {result.epsilon:.4g}  (claim at delta={result.delta:g}; "
          f"DP-SGD steps alone: {result.epsilon_sgd:.4g})")
    print(f"epsilon_lower_bound  {result.epsilon_lower_bound:.4g}  "
          f"(at confidence {result.confidence:g})")
    print(f"canaries             {result.canaries}")
    print(f"confidence           {result.confidence:g}")
    print(f"guesses              {result.guesses} made, {result.correct} right")
    print(f"method               {result.method}")
    print(f"seconds              {result.seconds:.3g}")
    if result.violated:
        print("WARNING: the lower bound exceeds the claimed epsilon: the training or its "
              "accounting is broken (or a 1 - confidence chance event happened).")
    if result.noise_seeded:
        print("WARNING: --reproducible: the noise and the canaries' inclusion came from --seed.")
    return 0
