"""TOML config files: the same settings as the ``trifront run`` flags, for keeps.

Example ``study.toml``::

    dataset = "adult"
    model = "logreg"
    trials = 40
    storage = "sqlite:///adult.db"
    study = "adult-logreg"
    out = "adult-report"
    delta = 1e-5

    [space.target_epsilon]
    low = 0.1
    high = 5.0

Flags given on the command line override the file. Keys are the long flag
names with ``_`` for ``-``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from trifront.errors import ConfigError, unknown_name

RUN_KEYS = (
    "dataset", "model", "trials", "storage", "study", "out", "seed", "sampler", "delta",
    "engine", "fairness", "sensitive", "parametrisation", "startup_trials", "space",
    "data", "label", "positive", "no_group_thresholds", "public_statistics", "stats_share",
    "jobs", "dask", "trial_timeout", "max_epsilon", "focus_unfairness",
)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into a flat dict of run settings.

    Raises:
        ConfigError: If the file is missing, not TOML, or has an unknown key.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist.")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}.") from None
    for key in data:
        if key not in RUN_KEYS:
            raise unknown_name("config key", key, RUN_KEYS)
    return data
