"""The PLD backend (the default): a vectorised privacy-loss distribution.

The privacy-loss distribution of ``steps`` Poisson-subsampled Gaussians,
connect-the-dots, pessimistic, both adjacency directions, composed with one
plain Gaussian (the fairness knobs' statistics): Google's ``dp_accounting``
algorithm, run in numpy (:mod:`trifront.privacy.accounting.pld_grid`), so it
reports the same ε as ``dp_accounting.pld.PLDAccountant`` on the same grid (to
~1e-9 relative) in milliseconds instead of 0.1-1 s.

The grid step is a fifth of the standard deviation of one step's privacy loss
(of the extra Gaussian's, if that is smaller): the pessimistic bias of
connect-the-dots grows with the square of the step in units of that spread,
not with the step in units of ε. Measured against dp_accounting on a grid 10x
finer, over σ in [0.3, 30], q in [1e-4, 0.2], steps in [1, 1e5]: at most
~0.4 % above (the old rule, a step of 1e-4 x ε_RDP, was 36 % above at σ = 20,
q = 1e-4, 1e5 steps, where RDP overstates ε 30-fold). About 2-20 ms per
value. The composed ``steps``-fold distribution is cached, so the DP-SGD run
alone and the run with its statistics share it.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from trifront.privacy.accounting import pld_grid

__all__ = ["pld_epsilon", "pld_interval"]

_STEP_FRACTION = 0.2  # grid step / std of one step's privacy loss
_MAX_POINTS = 2_000_000  # most grid points of one step's PMF
_ROUNDOFF = 1e-4  # relative margin added to ε for the round-off of FFT compositions
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(120)
_GH_W = _GH_W / _GH_W.sum()


def _step_loss_std(sigma: float, q: float) -> float:
    """Std of one step's privacy loss (remove direction), by Gauss-Hermite quadrature."""
    log_keep = math.log1p(-q) if q < 1.0 else -math.inf

    def loss(x: np.ndarray) -> np.ndarray:
        return np.logaddexp(log_keep, math.log(q) + (-2.0 * x - 1.0) / (2.0 * sigma * sigma))

    l0, l1 = loss(_GH_X * sigma), loss(_GH_X * sigma - 1.0)
    mean = (1.0 - q) * (_GH_W @ l0) + q * (_GH_W @ l1)
    second = (1.0 - q) * (_GH_W @ l0**2) + q * (_GH_W @ l1**2)
    return math.sqrt(max(float(second - mean * mean), 0.0))


def pld_interval(sigma: float, q: float, extra: float = math.inf) -> float:
    """The grid step of the privacy loss for one run (see the module docstring)."""
    spread = _step_loss_std(sigma, q)
    if math.isfinite(extra):
        spread = min(spread, 1.0 / extra)  # a Gaussian's loss has std 1/σ
    interval = max(_STEP_FRACTION * spread, 1e-12)
    bounds = pld_grid._Loss(sigma, sampling_prob=q).connect_dots_bounds()
    width = float(bounds.epsilon_upper - bounds.epsilon_lower)
    return max(interval, width / _MAX_POINTS)


@functools.lru_cache(maxsize=16)
def _composed(sigma: float, q: float, steps: int, interval: float) -> tuple[pld_grid.Pmf, ...]:
    directions = (pld_grid.REMOVE,) if q == 1.0 else (pld_grid.REMOVE, pld_grid.ADD)
    return tuple(pld_grid.self_compose(pld_grid.gaussian_step(sigma, q, d, interval), steps)
                 for d in directions)


def pld_epsilon(sigma: float, q: float, steps: int, delta: float, extra: float) -> float:
    """PLD ε (pessimistic) of ``steps`` subsampled Gaussians and one extra Gaussian.

    A backend of :mod:`.backends` (same arguments as ``rdp.rdp_epsilon``, with
    ``sigma`` finite and ``steps > 0``); ε is the larger of the two adjacency
    directions.
    """
    interval = pld_interval(sigma, q, extra)
    eps = 0.0
    for pmf in _composed(sigma, q, steps, interval):
        if math.isfinite(extra):
            pmf = pld_grid.compose(pmf, pld_grid.gaussian_step(extra, 1.0, pld_grid.REMOVE,
                                                               interval))
        eps = max(eps, pld_grid.epsilon_for_delta(pmf, interval, delta))
    # FFT compositions carry round-off of up to ~2e-5 of ε (dp_accounting's too: its
    # ε is not monotone in the grid step at that level); round up past it.
    return eps * (1.0 + _ROUNDOFF)
