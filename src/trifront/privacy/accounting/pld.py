"""The PLD backend (the default): Google's ``dp_accounting`` privacy-loss distribution.

The privacy-loss distribution of the Poisson-subsampled Gaussian,
connect-the-dots, pessimistic estimate, both adjacency directions. Its
discretisation interval is 1e-4 x ε_RDP, so the rounding bias stays below
~0.15 % of ε (measured: at most 0.1 % above the PRV point estimate and never
above the PRV certified lower bound x 1.01). 0.02-0.3 s per value (2 shared
cores, q in [0.002, 0.05], steps in [100, 20 000], σ in [0.3, 20], δ = 1e-5).

An extra Gaussian release is composed as a ``ComposedDpEvent``.
"""

from __future__ import annotations

import math
from typing import Any

from trifront.privacy.accounting.rdp import rdp_epsilon

__all__ = ["pld_epsilon"]

_PLD_REL_INTERVAL = 1e-4  # PLD discretisation interval of the privacy loss, per unit of ε_RDP.
_PLD_MIN_INTERVAL = 1e-7
_PLD_MAX_INTERVAL = 1e-2


def pld_epsilon(sigma: float, q: float, steps: int, delta: float, extra: float) -> float:
    """PLD ε (pessimistic) of ``steps`` subsampled Gaussians and one extra Gaussian.

    Args:
        sigma: DP-SGD noise multiplier, finite and ``> 0``.
        q: Poisson sampling rate.
        steps: Number of DP-SGD steps, ``> 0``.
        delta: δ.
        extra: Noise multiplier of the extra Gaussian (``inf``: none).

    Returns:
        ε at ``delta``. Inputs are assumed checked.
    """
    import dp_accounting
    from dp_accounting.pld import PLDAccountant

    # The pessimistic rounding adds a bias that grows with the interval; scaling
    # the interval with ε (RDP is an upper bound of it) keeps it below ~0.15 %.
    scale = rdp_epsilon(sigma, q, steps, delta, extra)
    interval = min(_PLD_MAX_INTERVAL, max(_PLD_MIN_INTERVAL, _PLD_REL_INTERVAL * scale))
    event: Any = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )
    if math.isfinite(extra):
        event = dp_accounting.ComposedDpEvent([event, dp_accounting.GaussianDpEvent(extra)])
    acc = PLDAccountant(value_discretization_interval=interval)
    acc.compose(event)
    return max(float(acc.get_epsilon(delta)), 0.0)
