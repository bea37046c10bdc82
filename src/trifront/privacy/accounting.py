"""Privacy accounting for Poisson-subsampled Gaussian DP-SGD: ε for σ, and σ for ε.

Every number here is at the add-or-remove-one neighbouring relation, for
``steps`` compositions of the Poisson-subsampled Gaussian mechanism (each
example in a batch with probability ``sample_rate``, noise standard deviation
``noise_multiplier`` times the clipping norm).

Three accountants are accepted (:data:`ACCOUNTANTS`); all report a sound
upper bound of ε. Timings below are per value on 2 shared cores, for q in
[0.002, 0.05], steps in [100, 20 000], σ in [0.3, 20], δ = 1e-5:

* ``"pld"`` (the default, :data:`DEFAULT_ACCOUNTANT`): Google's
  ``dp_accounting`` privacy-loss distribution of the Poisson-subsampled
  Gaussian, connect-the-dots, pessimistic estimate, both adjacency directions.
  Its discretisation interval is 1e-4 x ε_RDP, so the rounding bias stays
  below ~0.15 % of ε (measured: at most 0.1 % above the PRV point estimate and
  never above the PRV certified lower bound x 1.01). 0.02-0.3 s.
* ``"prv"``: numerical composition of privacy-loss random variables (Gopi et
  al. 2021) with Opacus' building blocks; the reported ε is the PRV *upper*
  bound, i.e. what ``opacus.accountants.PRVAccountant.get_epsilon`` returns
  for the same error parameters. The error parameter is 0.4 % of ε, so the
  certified slack (upper minus lower bound) is below 1 % of ε, except when ε
  is so small that this would need more than :data:`MAX_PRV_GRID` grid points
  (ε below ~0.3 at 20 000 steps); the slack is then about 2e-3 absolute.
  When even the coarsest safe grid does not fit (ε in the hundreds), the RDP
  value is reported. 0.1-1 s, up to 2.5 s for tiny ε.
* ``"rdp"``: Rényi DP (Opacus' analysis). Sound but loose (5-30 % above the
  tight value at typical settings, far more at tiny ε); :func:`account`
  always records it as the cross-check. About 0.01 s.

``"gdp"`` is refused: the Gaussian-DP central-limit approximation is not an
upper bound and can under-report ε.

**Extra Gaussian statistics.** A fairness knob may release statistics of the
training data (group counts, group score sums, score histograms) with the
Gaussian mechanism. Each release ``j`` has an L2 sensitivity ``Δ_j`` (add or
remove one example) and noise of standard deviation ``s_j``; its *noise
multiplier* is ``σ_j = s_j / Δ_j``. :func:`account`, :func:`epsilon` and
:func:`noise_for_epsilon` take them as ``extra_gaussians=(σ_1, σ_2, ...)`` and
compose them with the DP-SGD run (adaptively: a release may depend on the
model trained so far). Gaussian mechanisms compose *exactly* into one Gaussian
mechanism of noise multiplier ``(Σ_j σ_j^-2)^-1/2`` (their privacy-loss
distributions are Gaussian, and sums of Gaussians are Gaussian; equivalently
μ-GDP with ``μ² = Σ μ_j²``), so each accountant composes the subsampled
Gaussian of DP-SGD with that single Gaussian: PLD as a ``ComposedDpEvent``,
PRV as a heterogeneous composition (a Gaussian is a "subsampled" Gaussian at
q = 1), RDP by adding ``α / (2 σ²)`` at every order.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from trifront.errors import ConfigError, PrivacyError, unknown_name

__all__ = [
    "ACCOUNTANTS",
    "DEFAULT_ACCOUNTANT",
    "MAX_PRV_GRID",
    "MAX_NOISE_MULTIPLIER",
    "PrivacySpend",
    "account",
    "check_delta",
    "combined_noise_multiplier",
    "epsilon",
    "gaussian_epsilon",
    "gaussian_noise_for_epsilon",
    "noise_for_epsilon",
    "sampling_schedule",
]

ACCOUNTANTS: tuple[str, ...] = ("prv", "pld", "rdp")
"""Names of the accepted accountants."""

DEFAULT_ACCOUNTANT = "pld"
"""The accountant used unless another is asked for: sound, the tightest and the fastest."""

MAX_PRV_GRID = 2_000_000
"""Most grid points a PRV discretisation may use (memory about 10 x 8 bytes each)."""

MAX_NOISE_MULTIPLIER = 1e4
"""Largest σ :func:`noise_for_epsilon` will return; a target needing more is unreachable."""

MIN_NOISE_MULTIPLIER = 0.1
"""Smallest σ :func:`noise_for_epsilon` searches (ε there is in the hundreds)."""

_PRV_REL_ERROR = 0.004  # PRV eps_error as a fraction of ε: slack (upper - lower) ~ 0.8 % of ε.
_PRV_MAX_ERROR = 0.1  # Opacus' domain-size rule is only vouched for with eps_error < 1.
_DELTA_ERROR_FRACTION = 1e-3  # delta_error = delta / 1000, Opacus' default.
_PLD_REL_INTERVAL = 1e-4  # PLD discretisation interval of the privacy loss, per unit of ε_RDP.
_PLD_MIN_INTERVAL = 1e-7
_PLD_MAX_INTERVAL = 1e-2
_RDP_ORDERS = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))
_MAX_SOLVER_CALLS = 40

_REFUSED = {
    "gdp": (
        "the 'gdp' accountant is refused: its Gaussian-DP central-limit approximation "
        "is not an upper bound and can under-report epsilon; use one of "
        f"{', '.join(ACCOUNTANTS)} ('prv' is the default)."
    ),
}


# --------------------------------------------------------------------------- validation


def _check_accountant(accountant: str) -> str:
    if accountant in _REFUSED:
        raise ConfigError(_REFUSED[accountant])
    if accountant not in ACCOUNTANTS:
        raise unknown_name("accountant", str(accountant), ACCOUNTANTS)
    return accountant


def _check_sample_rate(sample_rate: float) -> float:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real):
        raise PrivacyError(f"`sample_rate` must be a number, but got {sample_rate!r}.")
    q = float(sample_rate)
    if not 0.0 < q <= 1.0:
        raise PrivacyError(f"`0 < sample_rate <= 1` must hold, but got sample_rate={q}.")
    return q


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise PrivacyError(f"`steps` must be an integer >= 0, but got steps={steps!r}.")
    return int(steps)


def _check_delta_range(delta: float) -> float:
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
        raise PrivacyError(f"`delta` must be a number, but got {delta!r}.")
    d = float(delta)
    if not 0.0 < d < 1.0:
        raise PrivacyError(f"`0 < delta < 1` must hold, but got delta={d}.")
    return d


def _check_noise(noise_multiplier: float) -> float:
    if isinstance(noise_multiplier, bool) or not isinstance(noise_multiplier, numbers.Real):
        raise PrivacyError(f"`noise_multiplier` must be a number, but got {noise_multiplier!r}.")
    s = float(noise_multiplier)
    if math.isnan(s) or s < 0.0:
        raise PrivacyError(f"`noise_multiplier >= 0` must hold, but got noise_multiplier={s}.")
    return s


def check_delta(*, delta: float, n_train: int) -> None:
    """Refuse a δ that does not protect individuals of a data set of ``n_train`` rows.

    Args:
        delta: The δ of (ε, δ)-DP, a probability.
        n_train: Number of training examples.

    Raises:
        PrivacyError: Unless ``0 < delta < 1/n_train``; the message names both values.
    """
    if isinstance(n_train, bool) or not isinstance(n_train, numbers.Integral) or n_train < 1:
        raise PrivacyError(f"`n_train` must be an integer >= 1, but got n_train={n_train!r}.")
    bound = 1.0 / n_train
    ok = isinstance(delta, numbers.Real) and not isinstance(delta, bool) and 0.0 < delta < bound
    if not ok:
        raise PrivacyError(
            f"`0 < delta < 1/n_train` must hold, but got delta={delta} with "
            f"n_train={n_train} (1/n_train={bound:.3g})."
        )


def sampling_schedule(*, n_train: int, batch_size: int, epochs: int) -> tuple[float, int]:
    """Poisson sampling rate and number of DP-SGD steps for an expected batch size.

    Args:
        n_train: Number of training examples.
        batch_size: Expected batch size, in examples (Poisson sampling: each
            example is in a batch with probability ``batch_size / n_train``).
        epochs: Number of passes over the data, in expectation.

    Returns:
        ``(q, steps)``: ``q = batch_size / n_train`` and
        ``steps = max(1, round(epochs / q))``.

    Raises:
        ConfigError: If a value is not a positive integer or ``batch_size > n_train``.
    """
    for name, value in (("n_train", n_train), ("batch_size", batch_size), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ConfigError(f"`{name}` must be an integer >= 1, but got {name}={value!r}.")
    if batch_size > n_train:
        raise ConfigError(
            f"`batch_size <= n_train` must hold, but got batch_size={batch_size} "
            f"with n_train={n_train}."
        )
    q = batch_size / n_train
    return q, max(1, round(epochs / q))


# --------------------------------------------------------------------------- accountants


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

    sigma = _check_noise(noise_multiplier)
    delta = _check_delta_range(delta)
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

    delta = _check_delta_range(delta)
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


def _rdp_epsilon(sigma: float, q: float, steps: int, delta: float, extra: float) -> float:
    from opacus.accountants.analysis import rdp as rdp_analysis

    orders = list(_RDP_ORDERS)
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


class _GridTooLarge(Exception):
    """A PRV grid fine enough would not fit in MAX_PRV_GRID points."""


def _prv_epsilon(sigma: float, q: float, steps: int, delta: float, extra: float) -> float:
    # First guess of the scale from RDP (an upper bound, usually 5-30 % above);
    # refine once if the certified slack exceeds 1 % of the estimate.
    scale = _rdp_epsilon(sigma, q, steps, delta, extra)
    eps_error = min(_PRV_MAX_ERROR, _PRV_REL_ERROR * scale)
    try:
        lower, estimate, upper, used = _prv_bounds(sigma, q, steps, delta, eps_error, extra)
        target_error = _PRV_REL_ERROR * max(estimate, 0.0)
        if upper - lower > 0.01 * upper and used == eps_error > target_error:
            lower, estimate, upper, _ = _prv_bounds(sigma, q, steps, delta, target_error, extra)
    except _GridTooLarge:
        return scale  # ε in the hundreds: the RDP bound is sound and as good as any
    return max(upper, 0.0)


def _pld_epsilon(sigma: float, q: float, steps: int, delta: float, extra: float) -> float:
    import dp_accounting
    from dp_accounting.pld import PLDAccountant

    # The pessimistic rounding adds a bias that grows with the interval; scaling
    # the interval with ε (RDP is an upper bound of it) keeps it below ~0.15 %.
    scale = _rdp_epsilon(sigma, q, steps, delta, extra)
    interval = min(_PLD_MAX_INTERVAL, max(_PLD_MIN_INTERVAL, _PLD_REL_INTERVAL * scale))
    event: Any = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )
    if math.isfinite(extra):
        event = dp_accounting.ComposedDpEvent([event, dp_accounting.GaussianDpEvent(extra)])
    acc = PLDAccountant(value_discretization_interval=interval)
    acc.compose(event)
    return max(float(acc.get_epsilon(delta)), 0.0)


_ENGINES = {"prv": _prv_epsilon, "pld": _pld_epsilon, "rdp": _rdp_epsilon}


@functools.lru_cache(maxsize=4096)
def _epsilon_cached(
    sigma: float, q: float, steps: int, delta: float, accountant: str, extra: float = math.inf
) -> float:
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

    Args:
        noise_multiplier: σ, the noise standard deviation divided by the
            clipping norm (dimensionless, ``>= 0``; 0 means no noise).
        sample_rate: q, the Poisson sampling probability of each example per
            step, in ``(0, 1]``.
        steps: Number of DP-SGD steps (integer ``>= 0``).
        delta: δ, in ``(0, 1)``.
        accountant: One of :data:`ACCOUNTANTS`.
        extra_gaussians: Noise multipliers (noise std / L2 sensitivity under
            add-or-remove-one) of Gaussian releases of the same training data,
            composed with the run (see the module docstring).

    Returns:
        ε (natural-log units) at ``delta``: ``math.inf`` if ``noise_multiplier``
        is 0 and steps > 0; without extra statistics, ``0.0`` if ``steps`` is 0
        or σ is infinite.

    Raises:
        PrivacyError: If a number is out of range, or the accountant fails.
        ConfigError: If the accountant is unknown or refused (``"gdp"``).
    """
    accountant = _check_accountant(accountant)
    sigma = _check_noise(noise_multiplier)
    q = _check_sample_rate(sample_rate)
    steps = _check_steps(steps)
    delta = _check_delta_range(delta)
    extra = combined_noise_multiplier(extra_gaussians)
    if steps == 0 or math.isinf(sigma):
        if math.isinf(extra):
            return 0.0
        # The statistics alone (DP-SGD adds no privacy loss): exact for PLD and
        # PRV (the analytic Gaussian mechanism), the RDP bound for "rdp".
        if accountant == "rdp":
            return _epsilon_cached(math.inf, q, 0, delta, accountant, extra)
        return gaussian_epsilon(noise_multiplier=extra, delta=delta)
    if sigma == 0.0:
        return math.inf
    return _epsilon_cached(sigma, q, steps, delta, accountant, extra)


# --------------------------------------------------------------------------- σ for ε


def noise_for_epsilon(
    *,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str = DEFAULT_ACCOUNTANT,
    rtol: float = 0.01,
    extra_gaussians: Sequence[float] = (),
) -> float:
    """The noise multiplier σ that spends (almost exactly) ``target_epsilon``.

    With ``extra_gaussians`` (Gaussian statistics released from the same data),
    σ is solved for what is left: the *composed* ε of the run and the
    statistics meets the target (see :func:`epsilon`).

    The result never overshoots: ``epsilon(σ) <= target_epsilon`` with the same
    accountant, re-checked on the returned value, and it is tight:
    ``epsilon(σ) >= target_epsilon * (1 - rtol)``. The search is a safeguarded
    secant on (log σ, log ε), bracketed by bisection; it takes 3-8 accountant
    calls, and results are cached on the exact inputs.

    Args:
        target_epsilon: ε budget (natural-log units), ``> 0``. ``math.inf``
            means non-private training and returns ``0.0``: callers then train
            without clipping or noise.
        delta: δ, in ``(0, 1)``.
        sample_rate: Poisson sampling probability q, in ``(0, 1]``.
        steps: Number of DP-SGD steps (integer ``>= 0``). With 0 steps no data
            is touched and ``0.0`` is returned.
        accountant: One of :data:`ACCOUNTANTS`.
        rtol: Relative tightness, in ``(0, 0.5]``.
        extra_gaussians: Noise multipliers of Gaussian statistics composed with
            the run (noise std / L2 sensitivity).

    Returns:
        σ (dimensionless). If even :data:`MIN_NOISE_MULTIPLIER` spends less than
        the target (huge budgets), that σ is returned: it does not overshoot.

    Raises:
        PrivacyError: If ``target_epsilon`` is NaN or ``<= 0``, if it would need
            σ above :data:`MAX_NOISE_MULTIPLIER`, if the statistics alone spend
            the target, or another number is out of range.
        ConfigError: If the accountant is unknown or refused, or rtol is out of range.
    """
    accountant = _check_accountant(accountant)
    q = _check_sample_rate(sample_rate)
    steps = _check_steps(steps)
    delta = _check_delta_range(delta)
    if isinstance(target_epsilon, bool) or not isinstance(target_epsilon, numbers.Real):
        raise PrivacyError(f"`target_epsilon` must be a number, but got {target_epsilon!r}.")
    target = float(target_epsilon)
    if math.isnan(target) or target <= 0.0:
        raise PrivacyError(
            f"`target_epsilon > 0` must hold, but got target_epsilon={target} "
            "(use math.inf for non-private training)."
        )
    if not (isinstance(rtol, numbers.Real) and 0.0 < rtol <= 0.5):
        raise ConfigError(f"`0 < rtol <= 0.5` must hold, but got rtol={rtol!r}.")
    extra = combined_noise_multiplier(extra_gaussians)
    if math.isinf(target) or steps == 0:
        return 0.0
    if math.isfinite(extra):
        alone = epsilon(noise_multiplier=math.inf, sample_rate=q, steps=0, delta=delta,
                        accountant=accountant, extra_gaussians=(extra,))
        if alone >= target * (1.0 - rtol):
            raise PrivacyError(
                f"the statistics alone spend epsilon={alone:.4g} of target_epsilon={target:g} "
                f"(delta={delta:g}); nothing is left for DP-SGD. Give the statistics a "
                "smaller share or raise the target."
            )
    return _solve(target, delta, q, steps, accountant, float(rtol), extra)


@functools.lru_cache(maxsize=1024)
def _solve(
    target: float,
    delta: float,
    q: float,
    steps: int,
    accountant: str,
    rtol: float,
    extra: float = math.inf,
) -> float:
    low_ok = target * (1.0 - rtol)
    aim = math.log(target * (1.0 - rtol / 2.0))
    calls = 0

    def f(sigma: float) -> float:
        nonlocal calls
        calls += 1
        return _epsilon_cached(sigma, q, steps, delta, accountant, extra)

    def fail(reason: str) -> PrivacyError:
        return PrivacyError(
            f"cannot solve noise_multiplier for target_epsilon={target}, delta={delta}, "
            f"sample_rate={q}, steps={steps}, accountant={accountant!r}, extra Gaussian "
            f"noise multiplier={extra:g}: {reason}"
        )

    # Secant on (log σ, log ε) through the last two points, safeguarded by the
    # bracket: `hi` spends <= target (feasible), `lo` spends > target.
    lo: tuple[float, float] | None = None  # (log σ, log ε)
    hi: tuple[float, float] | None = None
    x_max, x_min = math.log(MAX_NOISE_MULTIPLIER), math.log(MIN_NOISE_MULTIPLIER)
    last: list[tuple[float, float]] = []
    x = 0.0  # σ = 1 to start
    rdp_slope: float | None = None
    if accountant != "rdp":
        # Warm start from RDP (milliseconds per call): its σ is an upper bound of
        # the answer (RDP overestimates ε), usually within 10-30 %, and its local
        # slope guides the first secant step. The expensive accountant is then
        # called near the answer, where it is cheaper than at small σ, and ~2-3
        # times instead of 4-6. Only the start changes: the acceptance test and
        # the bracket below use the main accountant alone.
        try:
            x = math.log(_solve(target, delta, q, steps, "rdp", rtol, extra))
            e0 = _epsilon_cached(math.exp(x), q, steps, delta, "rdp", extra)
            e1 = _epsilon_cached(math.exp(x + 0.05), q, steps, delta, "rdp", extra)
            if 0.0 < e1 < e0:
                rdp_slope = (math.log(e1) - math.log(e0)) / 0.05
        except PrivacyError:
            x = 0.0
        x = min(max(x, x_min), x_max)
    while calls < _MAX_SOLVER_CALLS:
        sigma = math.exp(x)
        eps = f(sigma)
        if low_ok <= eps <= target:
            return sigma
        y = math.log(eps) if eps > 0.0 else -math.inf
        if eps > target:
            lo = (x, y) if lo is None or x > lo[0] else lo
            if x >= x_max:
                raise fail(f"it would need noise_multiplier > {MAX_NOISE_MULTIPLIER:g}.")
        else:
            hi = (x, y) if hi is None or x < hi[0] else hi
            if x <= x_min and lo is None:
                return sigma  # even the smallest σ searched spends less than the target
        last = [*last[-1:], (x, y)]
        if len(last) == 2 and all(math.isfinite(v) for _, v in last) and last[0][1] != last[1][1]:
            (x0, y0), (x1, y1) = last
            slope = (y1 - y0) / (x1 - x0)
        elif rdp_slope is not None and len(last) == 1:
            slope = rdp_slope
        else:
            slope = -1.5  # ε ~ 1/σ for large σ, steeper for small σ
        slope = min(slope, -0.2)  # ε decreases in σ; keep steps bounded
        nxt = x + (aim - y) / slope if math.isfinite(y) else x - 2.0
        if lo is not None and hi is not None:
            x0, x1 = lo[0], hi[0]
            margin = 0.02 * (x1 - x0)
            if not x0 + margin <= nxt <= x1 - margin:
                nxt = (x0 + x1) / 2.0
        x = min(max(nxt, x_min), x_max)
    if hi is not None:
        return math.exp(hi[0])  # feasible but not tight: never overshoot
    raise fail(f"no feasible noise_multiplier found in {_MAX_SOLVER_CALLS} accountant calls.")


# --------------------------------------------------------------------------- record


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
        accountant: Name of the main accountant (one of :data:`ACCOUNTANTS`).
        epsilon_rdp: The composed ε at ``delta`` from the RDP accountant; always
            >= ``epsilon`` up to numerical noise.
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
        accountant: The main accountant, one of :data:`ACCOUNTANTS`.
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
    rdp = epsilon(noise_multiplier=noise_multiplier, accountant="rdp",
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
