"""The fixed prior a private-tuning study draws every run's hyperparameters from.

The selection theorem needs every run to be the same randomised algorithm, so
the candidates are not proposed adaptively (no BoTorch, no TPE): each run draws
its own hyperparameters, independently, from this prior, with the study's
secret generator (a hyperparameter drawn from a public sequence would tell
which run was released, and so something about how many were drawn).

* Fixed in every run (the guarantee depends on them): the batch size (so q),
  the epochs (so T), and through the plan σ and the statistics' noise.
  Defaults come from the public training-row count through the search space's
  own scaling (:func:`trifront.space.SearchSpace.default`): the geometric
  middle of the batch-size range and the largest epochs (10 on Adult: on
  Adult at study ε 2, 10 epochs released 0.825 against 0.822 for 5;
  bench/RESULTS.md, "Private tuning").
* Drawn: the learning rate and the clipping norm (log-uniform on [0.3, 5]
  each: below, a step ``lr * C`` under ~0.1 leaves a near-constant model,
  which a fifth of the runs were with 0.1 as the floor), the
  reweighing strength α (uniform on ``[0, 3]``; below 0.05 is off) and, when
  the sensitive attribute may be used at prediction, the group thresholds'
  target gap (log-uniform; 0.2 and above is off), and for the MLP its width
  and depth. The fair-loss weight λ is left out: its statistics are released
  once per refresh of the fair term, which every run would pay for.

The ranges are set from DP-SGD practice (a step ``lr * C`` of order one for a
model whose inputs lie in [0, 1]), not from any data set's scores; they are
documented defaults, overridable with the ``[space]`` table of a config file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from trifront.errors import ConfigError, unknown_name
from trifront.space import Dimension, SearchSpace

__all__ = ["Prior", "default_prior"]

_DRAWN = (
    Dimension("clip", 0.3, 5.0, log=True, doc="per-example gradient clipping norm C"),
    Dimension("lr", 0.3, 5.0, log=True, doc="SGD learning rate"),
    Dimension("reweigh", 0.0, 3.0, doc="reweighing strength alpha; below 0.05 is off"),
)
_THRESHOLDS = Dimension("group_thresholds", 0.005, 0.3, log=True,
                        doc="target gap of the group thresholds; 0.2 and above is off")
_MLP = (
    Dimension("hidden", 16, 128, log=True, integer=True, doc="hidden width"),
    Dimension("depth", 1, 2, integer=True, doc="hidden layers"),
)


@dataclass(frozen=True)
class Prior:
    """What every run fixes and what it draws.

    Attributes:
        fixed: ``batch_size`` and ``epochs``.
        drawn: The drawn dimensions (independent, each uniform on its scale).
    """

    fixed: Mapping[str, int]
    drawn: tuple[Dimension, ...]

    @property
    def knob_names(self) -> tuple[str, ...]:
        """The fairness knobs the prior can switch on."""
        return tuple(d.name for d in self.drawn
                     if d.name in ("fair_weight", "reweigh", "group_thresholds"))

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        """One run's hyperparameters (the fixed ones included)."""
        params: dict[str, Any] = dict(self.fixed)
        for d in self.drawn:
            if d.log:
                value = math.exp(rng.uniform(math.log(d.low), math.log(d.high)))
            else:
                value = rng.uniform(d.low, d.high)
            params[d.name] = int(round(value)) if d.integer else float(value)
        return params

    def to_dict(self) -> dict[str, Any]:
        """JSON of the prior (``study_privacy.json``)."""
        return {"fixed": dict(self.fixed),
                "drawn": [{"name": d.name, "low": d.low, "high": d.high, "log": d.log,
                           "integer": d.integer} for d in self.drawn]}


def default_prior(
    model: str, *, n_train: int, group_thresholds: bool, batch_size: int | None = None,
    epochs: int | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Prior:
    """The documented prior for ``model`` on a data set of ``n_train`` public training rows.

    Args:
        model: ``"logreg"`` or ``"mlp"``.
        n_train: The public training-row count.
        group_thresholds: Whether the group-thresholds knob may be drawn.
        batch_size: Fixed expected batch size (default: from ``n_train``).
        epochs: Fixed epochs (default: from ``n_train``).
        overrides: ``{name: {"low": .., "high": ..}}`` for the drawn dimensions.

    Raises:
        ConfigError: On an unknown dimension or bad bounds.
    """
    space = SearchSpace.default(model, n_train=n_train, knobs=False)
    b, e = space["batch_size"], space["epochs"]
    fixed = {
        "batch_size": int(batch_size) if batch_size is not None
        else int(round(math.sqrt(b.low * b.high))),
        "epochs": int(epochs) if epochs is not None else int(e.high),
    }
    for key, value in fixed.items():
        if value < 1:
            raise ConfigError(f"`{key}` must be a positive integer, but got {key}={value}.")
    drawn = list(_DRAWN) + ([_THRESHOLDS] if group_thresholds else [])
    drawn += list(_MLP) if model == "mlp" else []
    dims = {d.name: d for d in drawn}
    for name, bounds in (overrides or {}).items():
        if name in fixed:
            raise ConfigError(f"{name} is fixed in a private-tuning study (every run must "
                              f"be the same mechanism); set it with --{name.replace('_', '-')}.")
        if name not in dims:
            raise unknown_name("private-tuning prior dimension", name, sorted(dims))
        bad = set(bounds) - {"low", "high"}
        if bad:
            raise ConfigError(f"[space.{name}] accepts `low` and `high`, but got {sorted(bad)}.")
        d = dims[name]
        dims[name] = replace(d, low=float(bounds.get("low", d.low)),
                             high=float(bounds.get("high", d.high)))
    return Prior(fixed=fixed, drawn=tuple(dims[d.name] for d in drawn))
