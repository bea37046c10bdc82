"""The plain Gaussian mechanism: composing several, and its exact ε.

A fairness knob may release statistics of the training data (group counts,
group score sums, score histograms) with the Gaussian mechanism. Each release
``j`` has an L2 sensitivity ``Δ_j`` (add or remove one example) and noise of
standard deviation ``s_j``; its *noise multiplier* is ``σ_j = s_j / Δ_j``.
:func:`~trifront.privacy.accounting.account`,
:func:`~trifront.privacy.accounting.epsilon` and
:func:`~trifront.privacy.accounting.noise_for_epsilon` take them as
``extra_gaussians=(σ_1, σ_2, ...)`` and compose them with the DP-SGD run
(adaptively: a release may depend on the model trained so far).

Gaussian mechanisms compose *exactly* into one Gaussian mechanism of noise
multiplier ``(Σ_j σ_j^-2)^-1/2`` (:func:`combined_noise_multiplier`: their
privacy-loss distributions are Gaussian, and sums of Gaussians are Gaussian;
equivalently μ-GDP with ``μ² = Σ μ_j²``), so each accountant composes the
subsampled Gaussian of DP-SGD with that single Gaussian: PLD as a
``ComposedDpEvent``, PRV as a heterogeneous composition (a Gaussian is a
"subsampled" Gaussian at q = 1), RDP by adding ``α / (2 σ²)`` at every order.
The statistics alone have the exact ε of the analytic Gaussian mechanism
(Balle & Wang 2018): :func:`gaussian_epsilon`, and its inverse
:func:`gaussian_noise_for_epsilon`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from trifront.errors import PrivacyError
from trifront.privacy.accounting.checks import check_delta_range, check_noise

__all__ = ["combined_noise_multiplier", "gaussian_epsilon", "gaussian_noise_for_epsilon"]


def combined_noise_multiplier(noise_multipliers: Sequence[float]) -> float:
    """The one Gaussian mechanism equivalent to composing several.

    Args:
        noise_multipliers: Noise multipliers ``σ_j`` (noise std / L2 sensitivity),
            each ``> 0``; ``math.inf`` entries (no release) are ignored.

    Returns:
        ``(Σ_j σ_j^-2)^-1/2``; ``math.inf`` for an empty sequence (nothing released).

    Raises:
        PrivacyError: If an entry is not a number ``> 0``.
    """
    total = 0.0
    for value in noise_multipliers:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise PrivacyError(f"a noise multiplier must be a number, but got {value!r}.")
        s = float(value)
        if math.isnan(s) or s <= 0.0:
            raise PrivacyError(f"`noise_multiplier > 0` must hold, but got {s}.")
        total += 1.0 / (s * s)
    return math.inf if total == 0.0 else 1.0 / math.sqrt(total)


def _gaussian_delta(eps: float, sigma: float) -> float:
    """Exact δ(ε) of the Gaussian mechanism (Balle & Wang 2018, Theorem 8)."""
    from scipy.stats import norm

    mu = 1.0 / sigma
    return float(norm.cdf(-eps / mu + mu / 2.0) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2.0))


def gaussian_epsilon(*, noise_multiplier: float, delta: float) -> float:
    """Exact ε of one Gaussian mechanism at ``delta`` (the analytic Gaussian mechanism).

    Args:
        noise_multiplier: σ = noise std / L2 sensitivity, ``> 0`` (``inf``: nothing
            released, ε = 0).
        delta: δ, in ``(0, 1)``.

    Returns:
        The smallest ε with ``δ(ε) <= delta``, to 1e-9 relative accuracy (rounded up).
    """
    from scipy.optimize import brentq

    sigma = check_noise(noise_multiplier)
    delta = check_delta_range(delta)
    if math.isinf(sigma):
        return 0.0
    if sigma == 0.0:
        return math.inf
    if _gaussian_delta(0.0, sigma) <= delta:
        return 0.0
    hi = 1.0
    while _gaussian_delta(hi, sigma) > delta:
        hi *= 2.0
    root = brentq(lambda e: _gaussian_delta(e, sigma) - delta, 0.0, hi, xtol=1e-12, rtol=1e-10)
    return float(root) * (1.0 + 1e-9)


def gaussian_noise_for_epsilon(*, target_epsilon: float, delta: float) -> float:
    """The noise multiplier of one Gaussian mechanism that is exactly (ε, δ)-DP.

    Args:
        target_epsilon: ε, ``> 0``.
        delta: δ, in ``(0, 1)``.

    Returns:
        σ with ``gaussian_epsilon(σ) <= target_epsilon`` (σ is rounded up by 1e-9).
    """
    from scipy.optimize import brentq

    delta = check_delta_range(delta)
    eps = float(target_epsilon)
    if not (eps > 0.0 and math.isfinite(eps)):
        raise PrivacyError(f"`0 < target_epsilon < inf` must hold, but got {target_epsilon}.")
    lo, hi = 1e-3, 1.0
    while _gaussian_delta(eps, hi) > delta:
        hi *= 2.0
    root = brentq(
        lambda log_s: _gaussian_delta(eps, math.exp(log_s)) - delta,
        math.log(lo), math.log(hi), xtol=1e-12,
    )
    return math.exp(root) * (1.0 + 1e-9)
