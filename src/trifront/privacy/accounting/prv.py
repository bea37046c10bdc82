"""The PRV backend: numerical composition of privacy-loss random variables.

Gopi et al. 2021, with Opacus' building blocks. The reported ε is the PRV
*upper* bound, i.e. what ``opacus.accountants.PRVAccountant.get_epsilon``
returns for the same error parameters. The error parameter is 0.4 % of ε, so
the certified slack (upper minus lower bound) is below 1 % of ε, except when ε
is so small that this would need more than :data:`MAX_PRV_GRID` grid points
(ε below ~0.3 at 20 000 steps); the slack is then about 2e-3 absolute. When
even the coarsest safe grid does not fit (ε in the hundreds), the RDP value is
reported. 0.1-1 s per value, up to 2.5 s for tiny ε (2 shared cores, q in
[0.002, 0.05], steps in [100, 20 000], σ in [0.3, 20], δ = 1e-5).

An extra Gaussian release is composed heterogeneously, as a "subsampled"
Gaussian at q = 1.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from trifront.privacy.accounting.rdp import rdp_epsilon

__all__ = ["MAX_PRV_GRID", "prv_epsilon"]

MAX_PRV_GRID = 2_000_000
"""Most grid points a PRV discretisation may use (memory about 10 x 8 bytes each)."""

_PRV_REL_ERROR = 0.004  # PRV eps_error as a fraction of ε: slack (upper - lower) ~ 0.8 % of ε.
_PRV_MAX_ERROR = 0.1  # Opacus' domain-size rule is only vouched for with eps_error < 1.
_DELTA_ERROR_FRACTION = 1e-3  # delta_error = delta / 1000, Opacus' default.


class _GridTooLarge(Exception):
    """A PRV grid fine enough would not fit in MAX_PRV_GRID points."""


def _prv_bounds(
    sigma: float, q: float, steps: int, delta: float, eps_error: float, extra: float
) -> tuple[float, float, float, float]:
    """PRV (lower, estimate, upper) ε and the eps_error actually used.

    The eps_error is raised if needed so the grid has at most MAX_PRV_GRID points.
    """
    from opacus.accountants.analysis import prv

    delta_error = delta * _DELTA_ERROR_FRACTION
    with warnings.catch_warnings(), np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        # The domain size comes from Opacus' RDP analysis, which warns when the best
        # order is at the edge of its grid (the domain is then wider: still safe).
        # log(1 - q) at q = 1 and exp(t) at the domain edges are inf/0 by design.
        warnings.simplefilter("ignore", UserWarning)
        rvs = [prv.PoissonSubsampledGaussianPRV(sample_rate=q, noise_multiplier=sigma)]
        counts = [steps]
        if math.isfinite(extra):  # a Gaussian mechanism is the q = 1 case
            rvs.append(prv.PoissonSubsampledGaussianPRV(sample_rate=1.0, noise_multiplier=extra))
            counts.append(1)
        spread = math.sqrt(sum(counts) * math.log(12.0 / delta_error) / 2.0)
        half_width = prv.compute_safe_domain_size(
            prvs=rvs, max_self_compositions=counts, eps_error=eps_error, delta_error=delta_error
        )
        # mesh = eps_error / spread (Gopi et al.), points = 2 * half_width / mesh.
        eps_error = max(eps_error, 2.0 * half_width * spread / MAX_PRV_GRID)
        if eps_error > _PRV_MAX_ERROR:
            raise _GridTooLarge
        domain = prv.Domain.create_aligned(-half_width, half_width, eps_error / spread)
        dprvs = [
            prv.discretize(prv.TruncatedPrivacyRandomVariable(rv, domain.t_min, domain.t_max),
                           domain)
            for rv in rvs
        ]
        composed = prv.compose_heterogeneous(dprvs=dprvs, num_self_compositions=counts)
        lower, estimate, upper = composed.compute_epsilon(delta, delta_error, eps_error)
    return float(lower), float(estimate), float(upper), eps_error


def prv_epsilon(sigma: float, q: float, steps: int, delta: float, extra: float) -> float:
    """PRV upper bound of ε for ``steps`` subsampled Gaussians and one extra Gaussian.

    A backend of :mod:`.backends` (same arguments as ``rdp.rdp_epsilon``, with
    ``sigma`` finite and ``steps > 0``); the RDP value when no safe grid fits.
    """
    # First guess of the scale from RDP (an upper bound, usually 5-30 % above);
    # refine once if the certified slack exceeds 1 % of the estimate.
    scale = rdp_epsilon(sigma, q, steps, delta, extra)
    eps_error = min(_PRV_MAX_ERROR, _PRV_REL_ERROR * scale)
    try:
        lower, estimate, upper, used = _prv_bounds(sigma, q, steps, delta, eps_error, extra)
        target_error = _PRV_REL_ERROR * max(estimate, 0.0)
        if upper - lower > 0.01 * upper and used == eps_error > target_error:
            lower, estimate, upper, _ = _prv_bounds(sigma, q, steps, delta, target_error, extra)
    except _GridTooLarge:
        return scale  # ε in the hundreds: the RDP bound is sound and as good as any
    return max(upper, 0.0)
