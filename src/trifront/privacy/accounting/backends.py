"""ε of a DP-SGD run: dispatch to one of three backends, with a cache.

Three accountants are accepted (:data:`~trifront.privacy.accounting.checks.ACCOUNTANTS`);
all report a sound upper bound of ε. Timings are per value on 2 shared cores,
for q in [0.002, 0.05], steps in [100, 20 000], σ in [0.3, 20], δ = 1e-5:

* ``"pld"`` (the default, :data:`~trifront.privacy.accounting.checks.DEFAULT_ACCOUNTANT`):
  Google's ``dp_accounting`` privacy-loss distribution (connect-the-dots,
  pessimistic), vectorised in numpy; at most ~0.5 % above dp_accounting on a
  10x finer grid. 2-20 ms. See :mod:`trifront.privacy.accounting.pld`.
* ``"prv"``: numerical composition of privacy-loss random variables with
  Opacus' building blocks; the certified upper bound, slack below 1 % of ε.
  0.1-1 s, up to 2.5 s for tiny ε. See :mod:`trifront.privacy.accounting.prv`.
* ``"rdp"``: Rényi DP (Opacus' analysis). Sound but loose (5-30 % above the
  tight value). 7-70 ms. The cross-check recorded beside every ε is the same
  bound at the integer orders 2-256, vectorised (under 1 ms). See
  :mod:`trifront.privacy.accounting.rdp`.

``"gdp"`` is refused (:mod:`trifront.privacy.accounting.checks`). Extra
Gaussian statistics are composed as one Gaussian
(:mod:`trifront.privacy.accounting.gaussian`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

from trifront.errors import PrivacyError
from trifront.privacy.accounting.checks import (
    DEFAULT_ACCOUNTANT,
    check_accountant,
    check_delta_range,
    check_noise,
    check_sample_rate,
    check_steps,
)
from trifront.privacy.accounting.gaussian import combined_noise_multiplier, gaussian_epsilon
from trifront.privacy.accounting.pld import pld_epsilon
from trifront.privacy.accounting.prv import prv_epsilon
from trifront.privacy.accounting.rdp import rdp_epsilon, rdp_integer_epsilon

__all__ = ["WARM_START", "cached_epsilon", "epsilon"]

WARM_START = "rdp-integer"
"""Internal backend of the σ solver's warm start (never a reported ε, not an accountant)."""

_ENGINES: dict[str, Callable[[float, float, int, float, float], float]] = {
    "prv": prv_epsilon, "pld": pld_epsilon, "rdp": rdp_epsilon, WARM_START: rdp_integer_epsilon,
}


@functools.lru_cache(maxsize=4096)
def cached_epsilon(
    sigma: float, q: float, steps: int, delta: float, accountant: str, extra: float = math.inf
) -> float:
    """ε from one backend, cached on the exact inputs (assumed checked).

    Args:
        sigma: DP-SGD noise multiplier.
        q: Poisson sampling rate.
        steps: Number of DP-SGD steps.
        delta: δ.
        accountant: One of the accepted accountants.
        extra: Noise multiplier of the composed extra Gaussian (``inf``: none).

    Raises:
        PrivacyError: If the backend fails or returns NaN.
    """
    try:
        value = _ENGINES[accountant](sigma, q, steps, delta, extra)
    except (RuntimeError, ValueError, FloatingPointError) as err:
        raise PrivacyError(
            f"the {accountant!r} accountant cannot bound epsilon for noise_multiplier={sigma}, "
            f"sample_rate={q}, steps={steps}, delta={delta}, extra Gaussian noise "
            f"multiplier={extra}: {err}"
        ) from err
    if math.isnan(value):
        raise PrivacyError(
            f"the {accountant!r} accountant returned NaN for noise_multiplier={sigma}, "
            f"sample_rate={q}, steps={steps}, delta={delta}."
        )
    return value


def epsilon(
    *,
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: str = DEFAULT_ACCOUNTANT,
    extra_gaussians: Sequence[float] = (),
) -> float:
    """ε of a DP-SGD run (composed with extra Gaussian statistics), as a sound upper bound.

    Every number is at the add-or-remove-one neighbouring relation, for
    ``steps`` compositions of the Poisson-subsampled Gaussian mechanism.

    Args:
        noise_multiplier: σ, the noise standard deviation divided by the
            clipping norm (dimensionless, ``>= 0``; 0 means no noise).
        sample_rate: q, the Poisson sampling probability of each example per
            step, in ``(0, 1]``.
        steps: Number of DP-SGD steps (integer ``>= 0``).
        delta: δ, in ``(0, 1)``.
        accountant: One of :data:`~trifront.privacy.accounting.checks.ACCOUNTANTS`.
        extra_gaussians: Noise multipliers (noise std / L2 sensitivity under
            add-or-remove-one) of Gaussian releases of the same training data,
            composed with the run (see :mod:`trifront.privacy.accounting.gaussian`).

    Returns:
        ε (natural-log units) at ``delta``: ``math.inf`` if ``noise_multiplier``
        is 0 and steps > 0; without extra statistics, ``0.0`` if ``steps`` is 0
        or σ is infinite.

    Raises:
        PrivacyError: If a number is out of range, or the accountant fails.
        ConfigError: If the accountant is unknown or refused (``"gdp"``).
    """
    if accountant != WARM_START:  # the internal integer-order RDP passes unchecked
        accountant = check_accountant(accountant)
    sigma = check_noise(noise_multiplier)
    q = check_sample_rate(sample_rate)
    steps = check_steps(steps)
    delta = check_delta_range(delta)
    extra = combined_noise_multiplier(extra_gaussians)
    if steps == 0 or math.isinf(sigma):
        if math.isinf(extra):
            return 0.0
        # The statistics alone (DP-SGD adds no privacy loss): exact for PLD and
        # PRV (the analytic Gaussian mechanism), the RDP bound for "rdp".
        if accountant in ("rdp", WARM_START):
            return cached_epsilon(math.inf, q, 0, delta, accountant, extra)
        return gaussian_epsilon(noise_multiplier=extra, delta=delta)
    if sigma == 0.0:
        return math.inf
    return cached_epsilon(sigma, q, steps, delta, accountant, extra)
