"""The vectorised PLD backend against dp_accounting: same algorithm, sound and tight ε."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trifront.privacy.accounting import pld_grid
from trifront.privacy.accounting.pld import pld_epsilon, pld_interval
from trifront.privacy.accounting.rdp import rdp_integer_epsilon

DELTA = 1e-5


def _dp_accounting(sigma: float, q: float, steps: int, extra: float, interval: float) -> float:
    """ε from dp_accounting's own PLD (connect-the-dots, pessimistic) on the given grid."""
    from dp_accounting.pld.privacy_loss_distribution import from_gaussian_mechanism

    pld = from_gaussian_mechanism(sigma, sampling_prob=q, value_discretization_interval=interval)
    pld = pld.self_compose(steps)
    if math.isfinite(extra):
        pld = pld.compose(from_gaussian_mechanism(extra, value_discretization_interval=interval))
    return float(pld.get_epsilon_for_delta(DELTA))


@pytest.mark.parametrize(("sigma", "q"), [(0.3, 0.2), (1.2, 0.004), (30.0, 1e-4), (3.0, 1.0)])
@pytest.mark.parametrize("adjacency", [pld_grid.ADD, pld_grid.REMOVE])
def test_vectorised_delta_equals_dp_accountings_loop(sigma, q, adjacency):
    from dp_accounting.pld.privacy_loss_mechanism import GaussianPrivacyLoss

    theirs = GaussianPrivacyLoss(sigma, sampling_prob=q, adjacency_type=adjacency)
    ours = pld_grid._Loss(sigma, sampling_prob=q, adjacency_type=adjacency)
    bounds = theirs.connect_dots_bounds()
    eps = np.linspace(bounds.epsilon_lower, bounds.epsilon_upper, 501)
    expected = np.asarray(theirs.get_delta_for_epsilon(eps))
    np.testing.assert_allclose(ours.get_delta_for_epsilon(eps), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("sigma", "q", "steps", "extra"),
                         [(1.2, 0.004, 506, 3.0), (5.37, 0.0114, 792, math.inf),
                          (3.0, 0.1, 1, math.inf), (1.0, 1.0, 5, 2.0)])
def test_same_grid_gives_dp_accountings_epsilon(sigma, q, steps, extra):
    interval = 1e-3
    pmfs = [pld_grid.self_compose(pld_grid.gaussian_step(sigma, q, d, interval), steps)
            for d in ((pld_grid.REMOVE,) if q == 1.0 else (pld_grid.REMOVE, pld_grid.ADD))]
    if math.isfinite(extra):
        gauss = pld_grid.gaussian_step(extra, 1.0, pld_grid.REMOVE, interval)
        pmfs = [pld_grid.compose(p, gauss) for p in pmfs]
    ours = max(pld_grid.epsilon_for_delta(p, interval, DELTA) for p in pmfs)
    assert ours == pytest.approx(_dp_accounting(sigma, q, steps, extra, interval), rel=1e-8)


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    log_sigma=st.floats(math.log(0.3), math.log(30.0)),
    log_q=st.floats(math.log(1e-4), math.log(0.2)),
    log_steps=st.floats(0.0, math.log(1e5)),
    extra=st.sampled_from([math.inf, 1.5, 5.0]),
)
def test_epsilon_is_sound_and_tight_against_dp_accounting(log_sigma, log_q, log_steps, extra):
    """Never below dp_accounting's PLD on a 1e-4 grid (or 4x finer than ours), <= 1 % above.

    Huge ε (RDP above 20) are left out: dp_accounting needs minutes there.
    """
    sigma, q, steps = math.exp(log_sigma), math.exp(log_q), max(1, round(math.exp(log_steps)))
    assume(rdp_integer_epsilon(sigma, q, steps, DELTA, extra) <= 20.0)
    ours = pld_epsilon(sigma, q, steps, DELTA, extra)
    fine = min(1e-4, pld_interval(sigma, q, extra) / 4)
    reference = _dp_accounting(sigma, q, steps, extra, fine)
    assert ours >= reference * (1 - 1e-9)
    assert ours <= reference * 1.01 + 1e-6  # 1e-6 absolute: ε ~ 1e-5 is 0 for any purpose


@pytest.mark.parametrize(("sigma", "q", "steps", "extra"),
                         [(1.5, 0.04, 2250, math.inf), (0.55, 0.01, 500, 3.0),
                          (30.0, 1e-4, 1, math.inf), (0.5, 1.0, 10, math.inf)])
def test_integer_order_rdp_equals_opacus_at_those_orders(sigma, q, steps, extra):
    from opacus.accountants.analysis import rdp as opacus_rdp

    orders = list(range(2, 257))
    rdp = np.asarray(opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps,
                                            orders=orders))
    if math.isfinite(extra):
        rdp = rdp + np.asarray(orders) / (2 * extra * extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Opacus: best order at the grid's edge
        expected, _ = opacus_rdp.get_privacy_spent(orders=orders, rdp=rdp, delta=DELTA)
    got = rdp_integer_epsilon(sigma, q, steps, DELTA, extra)
    assert got == pytest.approx(expected, rel=1e-9)
    assert got >= pld_epsilon(sigma, q, steps, DELTA, extra) * (1 - 1e-6)

