"""The RDP backend: Rényi DP of the Poisson-subsampled Gaussian (Opacus' analysis).

Sound but loose: 5-30 % above the tight value at typical settings, far more at
tiny ε. The PRV backend uses it as its first guess of the scale of ε (an upper
bound). 7-70 ms per value (Opacus' fractional orders). :func:`rdp_integer_epsilon`
is the same bound at the integer orders 2-256, vectorised (under 1 ms):
:func:`~trifront.privacy.accounting.account` records it as the cross-check and
the σ solver starts from it.

An extra Gaussian release of noise multiplier ``σ_x`` (see
:mod:`trifront.privacy.accounting.gaussian`) adds ``α / (2 σ_x²)`` at every
order ``α``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["RDP_ORDERS", "rdp_epsilon", "rdp_integer_epsilon"]

RDP_ORDERS = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))
"""The Rényi orders α at which the curves are computed and converted to ε."""


def rdp_epsilon(sigma: float, q: float, steps: int, delta: float, extra: float) -> float:
    """RDP ε of ``steps`` subsampled Gaussians composed with one Gaussian.

    Args:
        sigma: DP-SGD noise multiplier (``inf``: the steps add nothing).
        q: Poisson sampling rate.
        steps: Number of DP-SGD steps (0: the steps add nothing).
        delta: δ.
        extra: Noise multiplier of the extra Gaussian (``inf``: none).

    Returns:
        ε at ``delta``. Inputs are assumed checked.
    """
    from opacus.accountants.analysis import rdp as rdp_analysis

    orders = list(RDP_ORDERS)
    if steps > 0 and math.isfinite(sigma):
        rdp = np.asarray(rdp_analysis.compute_rdp(
            q=q, noise_multiplier=sigma, steps=steps, orders=orders
        ), dtype=float)
    else:
        rdp = np.zeros(len(orders))
    if math.isfinite(extra):
        rdp = rdp + np.asarray(orders) / (2.0 * extra * extra)
    with warnings.catch_warnings():
        # Opacus warns when the best order is at the edge of the grid (large σ):
        # the value is then looser, still sound, and RDP is only the cross-check.
        warnings.simplefilter("ignore", UserWarning)
        eps, _ = rdp_analysis.get_privacy_spent(orders=orders, rdp=rdp, delta=delta)
    return float(eps)


_INT_ORDERS = np.arange(2, 257, dtype=float)
_K = np.arange(257, dtype=float)
with np.errstate(invalid="ignore"):
    # log C(α, k) for every integer order α (rows) and k = 0..256 (columns; -inf for k > α).
    _LOG_BINOM = np.where(
        _K[None, :] <= _INT_ORDERS[:, None],
        np.vectorize(math.lgamma)(_INT_ORDERS + 1.0)[:, None]
        - np.vectorize(math.lgamma)(_K + 1.0)[None, :]
        - np.vectorize(math.lgamma)(np.maximum(_INT_ORDERS[:, None] - _K[None, :], 0.0) + 1.0),
        -np.inf,
    )


def rdp_integer_epsilon(sigma: float, q: float, steps: int, delta: float, extra: float) -> float:
    """RDP ε over the integer orders 2-256 only, vectorised (sub-millisecond).

    The bound of :func:`rdp_epsilon` on another grid of orders (Mironov et al.
    2019, the closed form of Opacus' ``_compute_log_a_for_int_alpha``, equal to
    Opacus' ``compute_rdp`` at these orders): sound, looser at large ε (no
    fractional orders), tighter at tiny ε (higher orders). The σ solver uses it
    as its warm start and :func:`~trifront.privacy.accounting.account` records
    it as the cross-check; it never decides a reported ε. Arguments as for
    :func:`rdp_epsilon` (σ finite and ``> 0`` or ``inf``).
    """
    if q == 1.0:
        log_a = _INT_ORDERS * (_INT_ORDERS - 1.0) / (2.0 * sigma * sigma)
    else:
        a, k = _INT_ORDERS[:, None], _K[None, :]
        terms = (_LOG_BINOM + k * math.log(q) + (a - k) * math.log1p(-q)
                 + (k * k - k) / (2.0 * sigma * sigma))
        top = terms.max(axis=1)
        log_a = top + np.log(np.exp(terms - top[:, None]).sum(axis=1))
    rdp = steps * log_a / (_INT_ORDERS - 1.0)
    if math.isfinite(extra):
        rdp = rdp + _INT_ORDERS / (2.0 * extra * extra)
    # Opacus' get_privacy_spent (Balle et al. 2020, Theorem 21), inline: importing
    # Opacus costs a worker seconds on its first trial.
    a = _INT_ORDERS
    eps = rdp - (math.log(delta) + np.log(a)) / (a - 1.0) + np.log((a - 1.0) / a)
    return float(np.nanmin(eps)) if not np.isnan(eps).all() else math.inf
