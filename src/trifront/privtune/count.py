"""The random number of runs K of a private-tuning study.

Papernot & Steinke (2022) draw ``K`` from a truncated negative binomial
``D_{η,γ}`` on ``{1, 2, ...}``:

* η > 0: ``P[K = k] = (1-γ)^k / (γ^-η - 1) * prod_{l<k} (l+η)/(l+1)``, mean
  ``η (1-γ) / (γ (1 - γ^η))`` (η = 1 is the geometric distribution);
* η = 0, the logarithmic distribution: ``P[K = k] = (1-γ)^k / (k log(1/γ))``,
  mean ``(1-γ) / (γ log(1/γ))``;

or from a Poisson distribution of mean μ (Theorem 6; ``K = 0`` is possible and
then nothing is released). A user states the mean and the shape; γ is solved
from the mean here (dp-accounting solves the same equation inside its
accountant, and a test checks that the two agree). K is drawn from the
study's secret generator and never stored outside the data owner's storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trifront.errors import ConfigError
from trifront.privacy.accounting import RUN_COUNT_SHAPES, parse_shape

__all__ = ["RunCount"]


def _tnb_mean(gamma: float, shape: float) -> float:
    if shape == 0:
        return (1 - gamma) / (gamma * math.log(1 / gamma))
    return shape * (1 - gamma) / (gamma * (1 - gamma**shape))


@dataclass(frozen=True)
class RunCount:
    """How many runs a private-tuning study makes: a distribution with a mean and a shape.

    Attributes:
        mean: ``E[K] >= 1``.
        shape: η ``>= 0``; ``inf`` is Poisson.
    """

    mean: float
    shape: float

    def __post_init__(self) -> None:
        if not (isinstance(self.mean, int | float) and math.isfinite(self.mean)
                and self.mean >= 1):
            raise ConfigError(f"`mean_trials >= 1` must hold, but got mean_trials={self.mean!r}.")
        if not (isinstance(self.shape, int | float) and self.shape >= 0):
            raise ConfigError(f"`shape >= 0` must hold (0 logarithmic, 1 geometric, inf "
                              f"Poisson), but got shape={self.shape!r}.")

    @classmethod
    def parse(cls, mean: float, shape: float | str) -> RunCount:
        """A run count from a mean and a shape given as a number or a name.

        Names: ``logarithmic`` (0), ``geometric`` (1), ``poisson`` (inf).
        """
        return cls(float(mean), parse_shape(shape))

    @property
    def name(self) -> str:
        """``logarithmic``, ``geometric``, ``poisson`` or ``truncated_negative_binomial``."""
        for name, value in RUN_COUNT_SHAPES.items():
            if self.shape == value:
                return name
        return "truncated_negative_binomial"

    @property
    def gamma(self) -> float:
        """γ of the truncated negative binomial with this mean (1.0 when the mean is 1)."""
        if math.isinf(self.shape):
            raise ConfigError("the Poisson distribution has no gamma parameter.")
        if self.mean == 1:
            return 1.0
        lo, hi = 1e-300, 1.0 - 1e-15  # the mean falls from inf to 1 as gamma grows
        for _ in range(200):
            mid = math.sqrt(lo * hi) if hi < 0.5 else 0.5 * (lo + hi)
            if _tnb_mean(mid, self.shape) > self.mean:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    def pmf(self, k: int) -> float:
        """``P[K = k]``."""
        if math.isinf(self.shape):
            return math.exp(-self.mean + k * math.log(self.mean) - math.lgamma(k + 1))
        if k < 1:
            return 0.0
        g = self.gamma
        if g == 1.0:
            return float(k == 1)
        if self.shape == 0:
            return (1 - g) ** k / (k * math.log(1 / g))
        eta = self.shape
        log_prod = math.lgamma(k + eta) - math.lgamma(eta) - math.lgamma(k + 1)
        return math.exp(k * math.log1p(-g) + log_prod) / (g**-eta - 1)

    def draw(self, rng: np.random.Generator) -> int:
        """One draw of K from ``rng`` (the study's secret generator)."""
        if math.isinf(self.shape):
            return int(rng.poisson(self.mean))
        g = self.gamma
        if g == 1.0:
            return 1
        if self.shape == 0:
            return int(rng.logseries(1 - g))
        while True:  # a negative binomial conditioned on K >= 1
            k = int(rng.negative_binomial(self.shape, g))
            if k >= 1:
                return k
