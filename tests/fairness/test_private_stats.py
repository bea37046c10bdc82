"""Privatised statistics of the fairness knobs: sensitivity, calibrated noise, composed cost."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from trifront.errors import PrivacyError
from trifront.fairness.private_stats import (
    STAT_WEIGHTS,
    StatsPlan,
    allocate,
    noisy_cell_counts,
    noisy_cell_sums,
    noisy_histograms,
    stats_generator,
)
from trifront.fairness.thresholds import EDGES
from trifront.privacy.accounting import (
    account,
    combined_noise_multiplier,
    epsilon,
    gaussian_epsilon,
    gaussian_noise_for_epsilon,
    noise_for_epsilon,
)

DELTA = 1e-5
ALARM = 1e-6


def _data(n: int = 500, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, n), rng.integers(0, 2, n), rng.normal(-1.0, 2.0, n)


# ------------------------------------------------------------------- sensitivity (add/remove)


@pytest.mark.parametrize("j", [0, 17, 499])
def test_removing_one_example_moves_each_statistic_by_at_most_one(j: int) -> None:
    s, y, z = _data()
    keep = np.arange(len(s)) != j
    g = torch.Generator()
    p = 1 / (1 + np.exp(-z))
    for release in (
        lambda s, y, z: noisy_cell_counts(s, y, n_groups=3, std=0.0, generator=g),
        lambda s, y, z: noisy_cell_sums(1 / (1 + np.exp(-z)), s, y, n_groups=3, std=0.0,
                                        generator=g),
        lambda s, y, z: noisy_histograms(z, s, y, n_groups=3, edges=EDGES, std=0.0,
                                         generator=g),
    ):
        diff = release(s, y, z) - release(s[keep], y[keep], z[keep])
        assert np.linalg.norm(diff) <= 1.0 + 1e-12
        assert np.count_nonzero(diff) == (1 if diff.any() else 0)  # one coordinate only
    assert p.max() <= 1


def test_sums_clip_values_to_enforce_the_sensitivity() -> None:
    s, y = np.array([0, 1]), np.array([1, 1])
    out = noisy_cell_sums(np.array([5.0, -3.0]), s, y, n_groups=2, std=0.0,
                          generator=torch.Generator())
    assert out[0, 1] == 1.0 and out[1, 1] == 0.0


# ------------------------------------------------------------------------- calibrated noise


@pytest.mark.parametrize("std", [0.5, 7.0])
def test_histogram_noise_has_the_calibrated_std(std: float) -> None:
    """(noisy - exact) / std is N(0, 1): chi-square test on the variance, z-test on the mean."""
    s, y, z = _data(300)
    exact = noisy_histograms(z, s, y, n_groups=3, edges=EDGES, std=0.0,
                             generator=torch.Generator())
    g = stats_generator(3)
    draws = np.concatenate([
        (noisy_histograms(z, s, y, n_groups=3, edges=EDGES, std=std, generator=g) - exact).ravel()
        for _ in range(40)
    ]) / std
    k = len(draws)
    chi2 = float((draws**2).sum())
    lo, hi = stats.chi2.ppf(ALARM / 2, k), stats.chi2.isf(ALARM / 2, k)
    assert lo < chi2 < hi
    assert abs(draws.mean()) < stats.norm.isf(ALARM / 2) / math.sqrt(k)
    # independent coordinates: neighbouring bins uncorrelated
    r = np.corrcoef(draws[:-1], draws[1:])[0, 1]
    assert abs(r) < stats.norm.isf(ALARM / 2) / math.sqrt(k)


def test_counts_and_sums_noise_has_the_calibrated_std() -> None:
    s, y, z = _data(200)
    g = stats_generator(4)
    exact = noisy_cell_counts(s, y, n_groups=3, std=0.0, generator=g)
    draws = np.concatenate([
        (noisy_cell_counts(s, y, n_groups=3, std=13.0, generator=g) - exact).ravel() / 13.0
        for _ in range(3000)
    ])
    chi2 = float((draws**2).sum())
    assert stats.chi2.ppf(ALARM / 2, len(draws)) < chi2 < stats.chi2.isf(ALARM / 2, len(draws))


def test_stats_generator_is_seeded_and_independent_of_training_generators() -> None:
    a = torch.randn(5, generator=stats_generator(1))
    b = torch.randn(5, generator=stats_generator(1))
    c = torch.randn(5, generator=stats_generator(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ----------------------------------------------------------------------------- budget


def test_gaussian_mechanism_known_values() -> None:
    # Analytic Gaussian mechanism (Balle & Wang 2018) at delta = 1e-5.
    assert gaussian_epsilon(noise_multiplier=7.031826682614558, delta=DELTA) == pytest.approx(
        0.5, rel=1e-7
    )
    sigma = gaussian_noise_for_epsilon(target_epsilon=0.5, delta=DELTA)
    assert sigma == pytest.approx(7.0318266826, rel=1e-8)
    assert gaussian_epsilon(noise_multiplier=sigma, delta=DELTA) <= 0.5 + 1e-12
    assert combined_noise_multiplier([20.0, 20.0]) == pytest.approx(20 / math.sqrt(2))
    assert combined_noise_multiplier([]) == math.inf


@pytest.mark.parametrize(
    ("counts", "n_sums", "hist"), [(True, 0, False), (True, 8, False), (False, 0, True),
                                   (True, 32, True)]
)
def test_allocated_statistics_alone_spend_exactly_their_budget(counts, n_sums, hist) -> None:
    plan = allocate(stats_epsilon=0.3, delta=DELTA, counts=counts, n_sums=n_sums,
                    histograms=hist)
    assert len(plan.gaussians) == counts + n_sums + hist
    combined = combined_noise_multiplier(plan.gaussians)
    assert gaussian_epsilon(noise_multiplier=combined, delta=DELTA) == pytest.approx(0.3, rel=1e-7)
    # PLD accounts the statistics alone at the same value (pessimistic rounding only)
    alone = epsilon(noise_multiplier=math.inf, sample_rate=0.01, steps=0, delta=DELTA,
                    extra_gaussians=plan.gaussians)
    assert alone == pytest.approx(0.3, rel=1e-6)
    # shares of mu^2 follow the documented weights
    mu2 = {k: (getattr(plan, k) ** -2 if getattr(plan, k) < math.inf else 0.0)
           for k in ("counts", "sums", "histograms")}
    mu2["sums"] *= n_sums
    total = sum(mu2.values())
    used = {k: STAT_WEIGHTS[k] for k, v in mu2.items() if v > 0}
    for k in used:
        assert mu2[k] / total == pytest.approx(used[k] / sum(used.values()), rel=1e-9)


def test_nothing_released_costs_nothing() -> None:
    plan = allocate(stats_epsilon=0.3, delta=DELTA, counts=False, n_sums=0, histograms=False)
    assert plan == StatsPlan() and plan.gaussians == ()
    public = allocate(stats_epsilon=math.inf, delta=DELTA, counts=True, n_sums=3,
                      histograms=True)
    assert public.public and public.gaussians == () and public.noise("counts") == 0.0


@pytest.mark.parametrize("accountant", ["pld", "prv", "rdp"])
def test_statistics_cost_appears_in_the_composed_epsilon(accountant: str) -> None:
    sgd = dict(noise_multiplier=1.5, sample_rate=0.02, steps=250, delta=DELTA)
    plain = account(**sgd, accountant=accountant)
    spend = account(**sgd, accountant=accountant, extra_gaussians=(20.0, 20.0))
    assert spend.epsilon_sgd == pytest.approx(plain.epsilon, rel=1e-9)
    assert spend.epsilon > plain.epsilon  # the statistics cost something
    assert spend.epsilon <= spend.epsilon_sgd + spend.epsilon_stats  # composition is subadditive
    assert spend.epsilon_rdp >= spend.epsilon * (1 - 1e-3)
    if accountant == "pld":
        # Known values (measured with dp_accounting on a fine grid): SGD alone 0.96464,
        # statistics alone 0.23355, composed 1.00012; the PLD backend's grid keeps it
        # within 0.5 % above (measured 0.96733 and 1.00281).
        assert 0.96464 * (1 - 2e-4) <= spend.epsilon_sgd <= 0.96464 * 1.005
        assert spend.epsilon_stats == pytest.approx(0.233546, abs=1e-5)
        assert 1.00012 * (1 - 2e-4) <= spend.epsilon <= 1.00012 * 1.005
    # the two releases of sigma = 20 are one Gaussian of sigma = 20 / sqrt(2)
    merged = account(**sgd, accountant=accountant, extra_gaussians=(20 / math.sqrt(2),))
    assert merged.epsilon == pytest.approx(spend.epsilon, rel=1e-9)


def test_sigma_is_solved_for_what_is_left_after_the_statistics() -> None:
    q, steps = 0.02, 250
    extras = (5.0,)
    sigma = noise_for_epsilon(target_epsilon=1.0, delta=DELTA, sample_rate=q, steps=steps,
                              extra_gaussians=extras)
    plain = noise_for_epsilon(target_epsilon=1.0, delta=DELTA, sample_rate=q, steps=steps)
    assert sigma > plain
    spent = epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=DELTA,
                    extra_gaussians=extras)
    assert 0.99 <= spent <= 1.0
    with pytest.raises(PrivacyError, match="statistics alone spend"):
        noise_for_epsilon(target_epsilon=0.3, delta=DELTA, sample_rate=q, steps=steps,
                          extra_gaussians=(2.0,))
