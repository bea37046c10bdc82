"""One run's noise is solved so that the study spends at most E, and close to it."""

import math

import pytest

from trifront.errors import PrivacyError
from trifront.privacy import sampling_schedule
from trifront.privacy.accounting import study_epsilon
from trifront.privtune import RunCount, solve_run_plan
from trifront.privtune.budget import SCORE_SHARE

Q, T = sampling_schedule(n_train=26_049, batch_size=362, epochs=5)


LOG10 = RunCount(10.0, 0.0)


def _solve(E, count=LOG10, **kw):
    args = {"counts": True, "fair_weight": False, "histograms": True, "stats_share": 0.5, **kw}
    return solve_run_plan(study_epsilon_target=E, delta=1e-5, count=count, sample_rate=Q,
                          steps=T, **args)


@pytest.mark.parametrize("E", [0.5, 2.0, 8.0])
def test_study_epsilon_is_at_most_and_close_to_the_target(E):
    plan = _solve(E)
    direct = study_epsilon(noise_multiplier=plan.noise_multiplier, sample_rate=Q, steps=T,
                           extra_gaussians=plan.extra_gaussians, delta=1e-5, mean=10.0,
                           shape=0.0)
    assert direct == pytest.approx(plan.epsilon, rel=1e-12)
    assert 0.98 * E <= plan.epsilon <= E


def test_every_gaussian_of_a_run_is_accounted():
    plan = _solve(2.0, fair_weight=True)
    stats = plan.stats
    assert stats.counts < math.inf and stats.histograms < math.inf
    assert stats.n_sums > 0 and stats.sums < math.inf
    # validation and test counts: two Gaussians of the score noise, after the statistics
    assert plan.extra_gaussians == (*stats.gaussians, plan.score_noise, plan.score_noise)
    names = plan.per_run()["extra_gaussians_are"]
    assert len(names) == len(plan.extra_gaussians)
    assert names[-2:] == ["validation counts", "test counts"]
    assert names.count("statistics:sums") == stats.n_sums


def test_more_budget_means_less_noise_and_more_runs_more_noise():
    assert _solve(4.0).noise_multiplier < _solve(2.0).noise_multiplier
    assert _solve(2.0, RunCount(20.0, 0.0)).noise_multiplier > _solve(2.0).noise_multiplier


def test_score_noise_takes_its_share():
    from trifront.privacy.accounting import gaussian_epsilon

    plan = _solve(2.0)
    pair = plan.score_noise / math.sqrt(2)
    assert gaussian_epsilon(noise_multiplier=pair, delta=1e-5) == pytest.approx(
        SCORE_SHARE * plan.run_epsilon, rel=1e-3)


def test_a_budget_too_small_for_the_mean_is_refused():
    with pytest.raises(PrivacyError, match="too small"):
        _solve(0.01, RunCount(50.0, 1.0))
