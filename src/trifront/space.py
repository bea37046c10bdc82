"""The search space: its dimensions, their documented bounds, two parametrisations.

The default parametrisation (``"epsilon"``) searches the *target epsilon*
directly on a log scale; the trial then solves for the noise multiplier that
spends exactly that budget, so the privacy objective is a known function of the
inputs and the optimiser needs no model for it. The DPareto-style
parametrisation (``"noise"``) searches the noise multiplier and computes epsilon.

The fairness knobs are searched by default for the DP-SGD models (see
:mod:`trifront.fairness.knobs`); each has an "off" region that is exactly
plain DP-SGD:

* ``fair_weight`` (λ), log scale on ``[1e-4, 30]``; λ < 1e-3 is off (the
  bottom ~1/5 of the log range), so the optimiser can reach "off";
* ``reweigh`` (α), linear on ``[0, 1]``; α < 0.05 is off (α up to 4, which
  over-corrects, is accepted: widen it with ``[space.reweigh] high = 3``);
* ``fair_target`` (the gap the fair target steers training to), linear on
  ``[0, 0.25]``; a target >= 0.2 is off;
* ``group_thresholds`` (target gap of per-group thresholds), log scale on
  ``[0.005, 0.3]``; a target >= 0.2 is off (as loose as no constraint on
  Adult). Absent with ``group_thresholds=False`` (they need the sensitive
  attribute at prediction time).

Users override bounds in a TOML config file::

    [space.lr]
    low = 0.05
    high = 2.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from trifront.errors import ConfigError, unknown_name

PARAMETRISATIONS = ("epsilon", "noise")


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter.

    Attributes:
        name: Parameter name as stored in the study.
        low: Lower bound (inclusive).
        high: Upper bound (inclusive).
        log: Search on a log scale.
        integer: Integer-valued.
        doc: What it is, with units.
    """

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ConfigError(
                f"bounds of {self.name!r} must be finite, but got "
                f"(low={self.low}, high={self.high})."
            )
        if not self.low <= self.high:
            raise ConfigError(
                f"`low <= high` must hold for {self.name!r}, but got "
                f"(low={self.low}, high={self.high})."
            )
        if self.log and self.low <= 0:
            raise ConfigError(
                f"{self.name!r} is searched on a log scale, so `low > 0` must hold, "
                f"but got low={self.low}."
            )

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution of this dimension."""
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)


_COMMON = (
    Dimension("clip", 0.05, 5.0, log=True, doc="per-example gradient clipping norm C"),
    Dimension("lr", 0.01, 10.0, log=True, doc="SGD learning rate"),
    Dimension("batch_size", 64, 2048, log=True, integer=True,
              doc="expected batch size (Poisson sampling rate q = batch_size / n_train)"),
    Dimension("epochs", 1, 10, integer=True,
              doc="passes over the training split (steps = epochs / q)"),
)
_EPSILON = Dimension(
    "target_epsilon", 0.05, 10.0, log=True,
    doc="privacy budget epsilon of the training run at the study's delta",
)
_NOISE = Dimension("noise_multiplier", 0.3, 20.0, log=True, doc="noise multiplier sigma")
_MLP = (
    Dimension("hidden", 8, 256, log=True, integer=True,
              doc="width of each hidden layer of the MLP"),
    Dimension("depth", 1, 3, integer=True, doc="number of hidden layers of the MLP"),
)


_KNOBS = (
    Dimension("fair_weight", 1e-4, 30.0, log=True,
              doc="fair-loss weight lambda (mean log-loss per unit of between-group rate "
                  "std); below 1e-3 is off"),
    Dimension("reweigh", 0.0, 1.0,
              doc="Kamiran-Calders reweighing strength alpha (weights^alpha); below 0.05 is off"),
    Dimension("fair_target", 0.0, 0.25,
              doc="gap the fair target steers the training decisions to (Lagrangian, from "
                  "privatised decision rates); 0.2 and above is off"),
)
_THRESHOLDS = Dimension(
    "group_thresholds", 0.005, 0.3, log=True,
    doc="target gap of private per-group decision thresholds; 0.2 and above is off "
        "(needs the sensitive attribute at prediction time)",
)


#: Target epsilons of the default configurations a new study trains first
#: (:meth:`SearchSpace.anchors`): the limits users ask about most.
ANCHOR_EPSILONS = (0.5, 1.0, 3.0)
#: The anchor level that gets a second default with the smallest batch (the most
#: steps): on COMPAS at epsilon 1, batch 64 and 28 epochs reach 0.680 test accuracy
#: against 0.671 for batch 128 (bench/RESULTS.md, "Small data").
SMALL_BATCH_EPSILON = 1.0

#: The public training-row count the default epochs and batch bounds are set for
#: (Adult's). Smaller data sets get more epochs and smaller batches, so that a run
#: still takes enough steps: see ``_scaled`` and bench/RESULTS.md ("small data").
REFERENCE_N = 26_000
#: Most epochs searched on the smallest data sets.
MAX_EPOCHS = 60


def _scaled(d: Dimension, n_train: int) -> Dimension:
    """A dimension's bounds for a data set of ``n_train`` public training rows.

    * ``batch_size``: at most a quarter of the rows; at least ``n / 40`` (16 to
      64), so small data sets can take more, smaller steps;
    * ``epochs``: up to ``10 * sqrt(REFERENCE_N / n)`` (10 on Adult, about 28 on
      COMPAS, ``MAX_EPOCHS`` on German credit), on a log scale when wide: with
      640 rows and a batch of 64, 10 epochs are only 100 steps, too few for
      DP-SGD to move past the constant predictor.

    Everything here depends on the public count only (DESIGN.md rule 8).
    """
    if d.name == "batch_size":
        high = min(d.high, max(8, n_train // 4))
        low = min(d.low, max(16, n_train // 40), high)
        return replace(d, low=low, high=high)
    if d.name == "epochs":
        high = int(min(MAX_EPOCHS, max(d.high, round(d.high * math.sqrt(REFERENCE_N / n_train)))))
        return replace(d, high=high, log=high > 2 * d.high)
    return d


@dataclass(frozen=True)
class SearchSpace:
    """The searched dimensions and how privacy is parametrised.

    Attributes:
        dimensions: The dimensions, in a fixed order.
        parametrisation: ``"epsilon"`` (search target epsilon, solve sigma) or
            ``"noise"`` (search sigma, compute epsilon).
    """

    dimensions: tuple[Dimension, ...]
    parametrisation: str = "epsilon"

    def __post_init__(self) -> None:
        if self.parametrisation not in PARAMETRISATIONS:
            raise unknown_name("parametrisation", self.parametrisation, PARAMETRISATIONS)
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names):
            raise ConfigError(f"search dimensions must have distinct names, but got {names}.")
        privacy = "target_epsilon" if self.parametrisation == "epsilon" else "noise_multiplier"
        if privacy not in names:
            raise ConfigError(
                f"the {self.parametrisation!r} parametrisation needs a {privacy!r} dimension."
            )

    @classmethod
    def default(
        cls,
        model: str = "logreg",
        parametrisation: str = "epsilon",
        *,
        n_train: int | None = None,
        knobs: bool = True,
        group_thresholds: bool = True,
    ) -> SearchSpace:
        """The documented default space for a built-in model.

        Args:
            model: ``"logreg"`` or ``"mlp"``.
            parametrisation: ``"epsilon"`` or ``"noise"``.
            n_train: The public training-row count; when given, the expected
                batch size is capped at a quarter of it (small data sets such as
                German credit).
            knobs: Search the fairness knobs (DP-SGD models only).
            group_thresholds: Include the group-thresholds knob (False when the
                sensitive attribute may not be used at prediction time).
        """
        privacy = _EPSILON if parametrisation == "epsilon" else _NOISE
        extra = _MLP if model == "mlp" else ()
        common: tuple[Dimension, ...] = _COMMON
        if n_train is not None:
            common = tuple(_scaled(d, n_train) for d in _COMMON)
        fair: tuple[Dimension, ...] = ()
        if knobs:
            fair = (*_KNOBS, _THRESHOLDS) if group_thresholds else _KNOBS
        return cls((privacy, *common, *extra, *fair), parametrisation)

    def __getitem__(self, name: str) -> Dimension:
        for d in self.dimensions:
            if d.name == name:
                return d
        raise unknown_name("search dimension", name, [d.name for d in self.dimensions])

    @property
    def names(self) -> tuple[str, ...]:
        """Dimension names, in order."""
        return tuple(d.name for d in self.dimensions)

    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna distributions keyed by dimension name."""
        return {d.name: d.distribution() for d in self.dimensions}

    @property
    def epsilon_max(self) -> float | None:
        """Upper bound of the searched epsilon (None in the noise parametrisation)."""
        if self.parametrisation != "epsilon":
            return None
        return self["target_epsilon"].high

    def with_bounds(self, overrides: Mapping[str, Mapping[str, Any]]) -> SearchSpace:
        """A copy with some bounds replaced.

        Args:
            overrides: ``{name: {"low": .., "high": ..}}``, as read from the
                ``[space]`` table of a config file.

        Raises:
            ConfigError: On an unknown dimension or key, or invalid bounds.
        """
        dims = {d.name: d for d in self.dimensions}
        for name, bounds in overrides.items():
            if name not in dims:
                raise unknown_name("search dimension", name, dims)
            if not isinstance(bounds, Mapping):
                raise ConfigError(
                    f"[space.{name}] must be a table with `low` and/or `high`, but got {bounds!r}."
                )
            bad = set(bounds) - {"low", "high"}
            if bad:
                raise ConfigError(
                    f"[space.{name}] accepts `low` and `high`, but got {sorted(bad)}."
                )
            try:
                new: dict[str, Any] = {k: float(v) for k, v in bounds.items()}
            except (TypeError, ValueError):
                raise ConfigError(
                    f"[space.{name}] bounds must be numbers, but got {dict(bounds)!r}."
                ) from None
            dims[name] = replace(dims[name], **new)
        return replace(self, dimensions=tuple(dims[d.name] for d in self.dimensions))

    def anchors(self, levels: tuple[float, ...] = ANCHOR_EPSILONS) -> list[dict[str, Any]]:
        """Documented default configurations, one per target epsilon in ``levels``.

        The runner trains them first in a new study (``--no-anchors`` turns
        this off). They are public, data-independent DP-SGD defaults: clipping
        norm 1, learning rate 0.5, a batch a quarter of the way up the
        batch-size range (log scale) and the largest epochs, i.e. many small
        steps, fairness knobs off, a 64-unit one-layer MLP;
        each value clamped to the space's bounds, and levels outside the
        searched epsilon range moved to its edge (duplicates dropped). With 30
        trials spread over epsilon in [0.05, 10] and seven or more dimensions,
        a search can leave the epsilon limits users ask about (1, 3) without a
        single reasonable configuration; on German credit such a default at
        epsilon 1 reaches 0.777 test accuracy where a 30-trial search found
        nothing above the constant predictor, and on COMPAS at epsilon 1 the
        test accuracy rises from 0.660 (batch 232, 14 epochs) to 0.671 (batch
        128, 28 epochs) with more steps (bench/RESULTS.md, "Small data").
        The level ``SMALL_BATCH_EPSILON`` gets a second default with the
        smallest batch of the range. Empty in the noise parametrisation.
        """
        if self.parametrisation != "epsilon":
            return []
        out: list[dict[str, Any]] = []
        wanted = [(float(level), 0.25) for level in levels]
        if SMALL_BATCH_EPSILON in levels:
            wanted.append((SMALL_BATCH_EPSILON, 0.0))
        for level, batch_at in wanted:
            params = self.default_at(level, batch_at=batch_at)
            if params not in out:
                out.append(params)
        return out

    def default_at(self, level: float, *, batch_at: float) -> dict[str, Any]:
        """One default configuration at target ``level``, its batch ``batch_at`` up the range.

        ``batch_at`` is the position on the batch-size range, log scale: 0 the
        smallest batch, 1 the largest. Knobs are off (see :meth:`anchors`).
        """
        base = {"clip": 1.0, "lr": 0.5, "hidden": 64, "depth": 1}
        params: dict[str, Any] = {}
        for d in self.dimensions:
            if d.name == "target_epsilon":
                value = level
            elif d.name == "batch_size":
                value = d.low ** (1 - batch_at) * d.high ** batch_at  # log-scale position
            elif d.name == "epochs":
                value = d.high
            elif d.name in base:
                value = base[d.name]
            elif d.name in ("group_thresholds", "fair_target"):
                value = d.high  # the loosest target: off on the default bounds
            else:
                value = d.low  # fair_weight and reweigh: off
            value = min(max(value, d.low), d.high)
            params[d.name] = int(round(value)) if d.integer else float(value)
        return params

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> SearchSpace:
        """The space :meth:`to_dict` described (as a study stores it).

        Raises:
            ConfigError: If the description is malformed.
        """
        try:
            dims = tuple(Dimension(str(d["name"]), float(d["low"]), float(d["high"]),
                                   log=bool(d["log"]), integer=bool(d["integer"]))
                         for d in stored["dimensions"])
            return cls(dims, str(stored["parametrisation"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"a stored search space is malformed ({err!r}).") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (stored in the study's user attributes)."""
        return {
            "parametrisation": self.parametrisation,
            "dimensions": [
                {"name": d.name, "low": d.low, "high": d.high, "log": d.log, "integer": d.integer}
                for d in self.dimensions
            ],
        }
