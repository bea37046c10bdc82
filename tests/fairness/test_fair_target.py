"""The fair target: a Lagrangian method driven by privatised decision rates.

What must hold: every per-example value depends on the example's own cell and
on released statistics only (DESIGN.md privacy rule 3); each refresh is one
Gaussian release, counted in epsilon (rule 2: its cost is composed); the
multipliers move the right way and only past the target; and the method does
steer the measured gap, without the sensitive attribute as an input.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import torch

from trifront.errors import ConfigError
from trifront.fairness.knobs import (
    ADAPT_LOG_WEIGHT,
    ADAPT_STEP,
    FAIR_TARGET_CHANNELS,
    FairTarget,
    Knobs,
    adapt_multipliers,
    net_push,
    target_coefficients,
    target_weights,
)
from trifront.fairness.metrics import FAIRNESS_METRICS
from trifront.privacy.dpsgd import epoch_starts
from trifront.problem import Problem
from trifront.trial import evaluate, plan_privacy

FAST = {"target_epsilon": 1.0, "clip": 2.0, "lr": 2.0, "batch_size": 512, "epochs": 4}
COUNTS = np.array([[6000.0, 1000.0], [10000.0, 5000.0]])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_metric_has_a_channel():
    assert set(FAIR_TARGET_CHANNELS) == set(FAIRNESS_METRICS)
    assert set(FAIR_TARGET_CHANNELS.values()) == {"weights", "coefficients"}


def test_off_zone_and_validation():
    assert Knobs.from_params({"fair_target": 0.2}).off
    k = Knobs.from_params({"fair_target": 0.0})
    assert k.fair_target == 0.0 and k.needs_counts and k.sums_per_refresh == 1
    assert Knobs.from_params({"fair_target": 0.01, "fair_weight": 1.0}).sums_per_refresh == 2
    with pytest.raises(ConfigError, match="fair_target"):
        Knobs.from_params({"fair_target": -0.1})


def test_multipliers_push_the_over_predicted_group_down_and_relax_when_slack():
    # group 1 decides positive for 60 % of its rows, group 0 for 10 %: gap 0.5
    sums = np.array([[0.1 * 6000, 0.1 * 1000], [0.6 * 10000, 0.6 * 5000]])
    zero = np.zeros((2, 2, 2))
    lam = adapt_multipliers(zero, COUNTS, sums, target=0.05, metric="demographic_parity")
    push = net_push(lam)
    assert np.all(push[1] > 0) and np.all(push[0] < 0)  # 1: push down; 0: push up
    assert push[1, 0] == push[1, 1]  # one condition: both labels of a group alike
    # two groups: each one's deviation is the signed gap, so the pushes are equal and opposite
    assert push[1, 0] == pytest.approx(-push[0, 0]) == pytest.approx(ADAPT_STEP * (0.5 - 0.05))
    w = target_weights(push, COUNTS)
    assert w[1, 0] > 1 > w[1, 1] and w[0, 1] > 1 > w[0, 0]
    assert float((w * COUNTS).sum() / COUNTS.sum()) == pytest.approx(1.0)
    # Within the target the multipliers shrink back (never below 0), so the gap settles
    # at the target instead of being pushed past it.
    fair = np.array([[0.3 * 6000, 0.3 * 1000], [0.31 * 10000, 0.31 * 5000]])
    relaxed = adapt_multipliers(lam, COUNTS, fair, target=0.05, metric="demographic_parity")
    assert np.all(np.abs(net_push(relaxed)) < np.abs(push))
    assert relaxed.min() >= 0.0
    big = adapt_multipliers(lam, COUNTS, sums, target=0.0, metric="demographic_parity",
                            step=1e6)
    assert big.max() == ADAPT_LOG_WEIGHT


def test_equalized_odds_moves_each_label_by_its_own_rate():
    # false-positive rates differ (0.1 vs 0.3), true-positive rates agree (0.7 vs 0.7)
    sums = np.array([[0.1 * 6000, 0.7 * 1000], [0.3 * 10000, 0.7 * 5000]])
    lam = adapt_multipliers(np.zeros((2, 2, 2)), COUNTS, sums, target=0.0,
                            metric="equalized_odds")
    push = net_push(lam)
    assert push[1, 0] > 0 > push[0, 0]
    assert push[0, 1] == push[1, 1] == 0.0
    coef = target_coefficients(push, COUNTS, metric="equalized_odds")
    assert coef[1, 0] > 0 > coef[0, 0] and coef[0, 1] == coef[1, 1] == 0.0


@pytest.mark.parametrize("metric", FAIRNESS_METRICS)
def test_a_refresh_gives_one_value_per_cell_from_the_released_sums(metric):
    rng = np.random.default_rng(3)
    s, y = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    counts = np.bincount(s * 2 + y, minlength=4).reshape(2, 2).astype(float)
    term = FairTarget(target=0.0, metric=metric, s=s, y=y, counts=counts, sums_std=0.0,
                      generator=torch.Generator())
    z = torch.from_numpy(rng.normal(size=300) + 1.5 * s)  # group 1 decided positive more
    out = term.refresh(z)
    for g in range(2):
        for lab in range(2):
            cell = out[torch.from_numpy((s == g) & (y == lab))]
            assert torch.all(cell == cell[0])
    # The same decisions give the same values, whatever the logits' magnitudes.
    again = FairTarget(target=0.0, metric=metric, s=s, y=y, counts=counts, sums_std=0.0,
                       generator=torch.Generator())
    assert torch.equal(again.refresh(torch.sign(z) * 1e-3 + 3 * torch.sign(z)), out)
    assert term.refreshes == 1


def test_each_refresh_is_one_release_counted_in_epsilon():
    problem = Problem(stats_share=0.4)
    params = {**FAST, "fair_target": 0.01}
    plan = plan_privacy(problem, params, Knobs.from_params(params), n_public=26_000)
    k = len(epoch_starts(plan.steps, plan.sample_rate))
    assert plan.stats.n_sums == k and plan.stats.counts < float("inf")
    both = {**params, "fair_weight": 0.5}
    assert plan_privacy(problem, both, Knobs.from_params(both),
                        n_public=26_000).stats.n_sums == 2 * k
    r = evaluate(problem, params, seed=0)
    assert r.epsilon_stats == pytest.approx(0.4, rel=1e-5) and 0.99 <= r.epsilon <= 1.0
    assert r.knob_fair_target == 0.01 and r.stats_noise_sums > 0


@pytest.mark.parametrize(("metric", "off_above"), [("demographic_parity", 0.1),
                                                  ("equalized_odds", 0.06)])
def test_the_target_lowers_the_gap_without_the_sensitive_input(metric, off_above):
    """On Adult at epsilon 1, three runs each: plain DP-SGD vs the fair target at 0."""
    problem = Problem(fairness=metric, sensitive_input=False)
    plain = [evaluate(problem, FAST, seed=s, split="test") for s in range(3)]
    fair = [evaluate(problem, {**FAST, "fair_target": 0.0}, seed=s, split="test")
            for s in range(3)]
    gap_plain = statistics.fmean(r.unfairness for r in plain)
    gap_fair = statistics.fmean(r.unfairness for r in fair)
    assert gap_plain > off_above
    assert gap_fair < gap_plain / 2
    assert statistics.fmean(r.accuracy for r in fair) > 0.8  # not a constant predictor
