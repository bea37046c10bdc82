"""σ for ε: the noise multiplier that spends a target ε (calibration).

:func:`noise_for_epsilon` inverts :func:`~trifront.privacy.accounting.backends.epsilon`
with the same accountant, so the returned σ never overshoots the target and is
tight within ``rtol``. With extra Gaussian statistics
(:mod:`trifront.privacy.accounting.gaussian`) it solves σ for what the
statistics leave of the target. The search is a safeguarded secant on
(log σ, log ε), warm-started from the RDP answer (milliseconds per call) and
bracketed by bisection: 3-8 accountant calls, the slow accountant only about
2-3 times. Answers are cached on the exact inputs.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence

from trifront.errors import ConfigError, PrivacyError
from trifront.privacy.accounting.backends import WARM_START, cached_epsilon, epsilon
from trifront.privacy.accounting.checks import (
    DEFAULT_ACCOUNTANT,
    check_accountant,
    check_delta_range,
    check_sample_rate,
    check_steps,
)
from trifront.privacy.accounting.gaussian import combined_noise_multiplier

__all__ = ["MAX_NOISE_MULTIPLIER", "MIN_NOISE_MULTIPLIER", "noise_for_epsilon"]

MAX_NOISE_MULTIPLIER = 1e4
"""Largest σ :func:`noise_for_epsilon` will return; a target needing more is unreachable."""

MIN_NOISE_MULTIPLIER = 0.1
"""Smallest σ :func:`noise_for_epsilon` searches (ε there is in the hundreds)."""

_MAX_SOLVER_CALLS = 40


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
    statistics meets the target (see
    :func:`~trifront.privacy.accounting.backends.epsilon`).

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
        accountant: One of :data:`~trifront.privacy.accounting.checks.ACCOUNTANTS`.
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
    accountant = check_accountant(accountant)
    q = check_sample_rate(sample_rate)
    steps = check_steps(steps)
    delta = check_delta_range(delta)
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
        return cached_epsilon(sigma, q, steps, delta, accountant, extra)

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
    if accountant not in ("rdp", WARM_START):
        # Warm start from RDP over integer orders (vectorised, ~1 ms per call):
        # its σ is usually 5-30 % above the answer (RDP overestimates ε), and
        # its local slope guides the first secant step, so the main accountant
        # is called ~2-3 times instead of 4-6. Only the start changes: the
        # acceptance test and the bracket below use the main accountant alone.
        try:
            x = math.log(_solve(target, delta, q, steps, WARM_START, rtol, extra))
            e0 = cached_epsilon(math.exp(x), q, steps, delta, WARM_START, extra)
            e1 = cached_epsilon(math.exp(x + 0.05), q, steps, delta, WARM_START, extra)
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
