"""The secret number of runs: its distribution has the stated mean, gamma as dp-accounting's."""

import math

import numpy as np
import pytest
from dp_accounting.rdp import rdp_privacy_accountant as rdp

from trifront.errors import ConfigError
from trifront.privtune import RunCount


@pytest.mark.parametrize("shape", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("mean", [1.5, 5.0, 10.0, 20.0])
def test_gamma_matches_the_library_solution(shape, mean):
    ours = RunCount(mean, shape).gamma
    theirs = rdp._gamma_truncated_negative_binomial(shape, mean)
    assert ours == pytest.approx(theirs, rel=1e-6)
    assert rdp._truncated_negative_binomial_mean(ours, shape) == pytest.approx(mean, rel=1e-8)


@pytest.mark.parametrize("shape", [0.0, 1.0, 3.0, math.inf])
def test_pmf_sums_to_one_with_the_stated_mean(shape):
    count = RunCount(10.0, shape)
    ks = np.arange(0, 3000)
    p = np.array([count.pmf(int(k)) for k in ks])
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    assert float((ks * p).sum()) == pytest.approx(10.0, rel=1e-6)
    if not math.isinf(shape):
        assert p[0] == 0.0  # truncated: at least one run


@pytest.mark.parametrize("shape", ["logarithmic", "geometric", "poisson", "2.5"])
def test_draws_have_the_configured_mean(shape):
    count = RunCount.parse(10, shape)
    rng = np.random.default_rng(1)
    draws = np.array([count.draw(rng) for _ in range(20_000)])
    se = draws.std() / math.sqrt(len(draws))
    assert abs(draws.mean() - 10.0) < 4 * se
    assert draws.min() >= (0 if shape == "poisson" else 1)
    # and the empirical law is the pmf, not only its mean
    for k in (1, 2, 5):
        assert np.mean(draws == k) == pytest.approx(count.pmf(k), abs=0.015)


def test_mean_one_is_a_single_run():
    count = RunCount(1.0, 1.0)
    rng = np.random.default_rng(0)
    assert {count.draw(rng) for _ in range(50)} == {1}


@pytest.mark.parametrize(("mean", "shape", "message"), [
    (0.5, 1.0, "mean_trials >= 1"), (math.nan, 1.0, "mean_trials >= 1"),
    (5.0, -0.1, "shape >= 0"), (5.0, "binomial", "logarithmic"),
])
def test_bad_parameters_are_refused(mean, shape, message):
    with pytest.raises(ConfigError, match=message):
        RunCount.parse(mean, shape)
