"""The record of one run's privacy spend: :class:`PrivacySpend` and :func:`account`.

:func:`account` accounts a DP-SGD run and the Gaussian statistics released
with it (:mod:`trifront.privacy.accounting.gaussian`) with the main accountant,
records the RDP cross-check (always >= the main ε up to numerical noise), and
splits the budget into the run alone and the statistics alone. The cross-check
is RDP over the integer orders 2-256 (Opacus' ``compute_rdp`` at those orders,
vectorised: under a millisecond, where Opacus' fractional orders cost 7-70 ms,
more than the whole PLD accounting).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from trifront.privacy.accounting.backends import WARM_START, epsilon
from trifront.privacy.accounting.checks import DEFAULT_ACCOUNTANT

__all__ = ["PrivacySpend", "account"]


@dataclass(frozen=True)
class PrivacySpend:
    """The privacy spent by one DP-SGD run and its statistics, with the RDP cross-check.

    Attributes:
        noise_multiplier: σ (dimensionless).
        sample_rate: Poisson sampling probability q per step.
        steps: Number of DP-SGD steps.
        delta: δ of (ε, δ)-DP.
        epsilon: ε at ``delta`` from ``accountant`` (sound upper bound) of the
            DP-SGD run composed with the extra Gaussian statistics.
        accountant: Name of the main accountant (one of
            :data:`~trifront.privacy.accounting.checks.ACCOUNTANTS`).
        epsilon_rdp: The composed ε at ``delta`` from RDP over the integer
            orders 2-256; always >= ``epsilon`` up to numerical noise.
        epsilon_sgd: ε of the DP-SGD run alone (``accountant``).
        epsilon_stats: ε of the extra statistics alone (0.0 when there are none).
        extra_gaussians: Noise multipliers of the extra Gaussian statistics.
    """

    noise_multiplier: float
    sample_rate: float
    steps: int
    delta: float
    epsilon: float
    accountant: str
    epsilon_rdp: float
    epsilon_sgd: float = math.nan
    epsilon_stats: float = 0.0
    extra_gaussians: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (JSON-ready except for ``inf``)."""
        return asdict(self)


def account(
    *,
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: str = DEFAULT_ACCOUNTANT,
    extra_gaussians: Sequence[float] = (),
) -> PrivacySpend:
    """Account a DP-SGD run and its statistics with the main accountant and RDP.

    Args:
        noise_multiplier: σ (dimensionless, ``>= 0``).
        sample_rate: Poisson sampling probability q, in ``(0, 1]``.
        steps: Number of DP-SGD steps (integer ``>= 0``).
        delta: δ, in ``(0, 1)``.
        accountant: The main accountant, one of
            :data:`~trifront.privacy.accounting.checks.ACCOUNTANTS`.
        extra_gaussians: Noise multipliers (noise std / L2 sensitivity) of
            Gaussian statistics of the same training data, composed with the run.

    Returns:
        A :class:`PrivacySpend`: the composed ε, and the budget split
        (``epsilon_sgd``, ``epsilon_stats``).

    Raises:
        PrivacyError: If a number is out of range or the accountant fails.
        ConfigError: If the accountant is unknown or refused.
    """
    extras = tuple(float(s) for s in extra_gaussians)
    kw: dict[str, Any] = {"sample_rate": sample_rate, "steps": steps, "delta": delta}
    main = epsilon(noise_multiplier=noise_multiplier, accountant=accountant,
                   extra_gaussians=extras, **kw)
    rdp = epsilon(noise_multiplier=noise_multiplier, accountant=WARM_START,
                  extra_gaussians=extras, **kw)
    sgd = main if not extras else epsilon(
        noise_multiplier=noise_multiplier, accountant=accountant, **kw
    )
    stats = 0.0 if not extras else epsilon(
        noise_multiplier=math.inf, accountant=accountant, extra_gaussians=extras, **kw
    )
    return PrivacySpend(
        noise_multiplier=float(noise_multiplier),
        sample_rate=float(sample_rate),
        steps=int(steps),
        delta=float(delta),
        epsilon=main,
        accountant=accountant,
        epsilon_rdp=rdp,
        epsilon_sgd=sgd,
        epsilon_stats=stats,
        extra_gaussians=extras,
    )
