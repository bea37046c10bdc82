"""The fairness knobs: off means plain DP-SGD, the fair loss's gradient, reweighing, thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trifront.cli import main
from trifront.errors import ConfigError
from trifront.fairness import FAIRNESS_METRICS, unfairness
from trifront.fairness.knobs import (
    TAU,
    FairPenalty,
    Knobs,
    penalty_coefficients,
    reweighing_weights,
)
from trifront.fairness.private_stats import noisy_histograms
from trifront.fairness.thresholds import EDGES, choose_thresholds
from trifront.problem import Problem
from trifront.space import SearchSpace
from trifront.trial import evaluate

FAST = {"target_epsilon": 1.0, "clip": 2.0, "lr": 2.0, "batch_size": 1024, "epochs": 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------ off zones


def test_off_zones() -> None:
    assert Knobs.from_params({}).off
    assert Knobs.from_params({"fair_weight": 9e-4, "reweigh": 0.04, "group_thresholds": 0.2}).off
    k = Knobs.from_params({"fair_weight": 0.5, "reweigh": 0.3, "group_thresholds": 0.01})
    assert (k.fair_weight, k.reweigh, k.group_thresholds) == (0.5, 0.3, 0.01)
    assert Knobs.from_params({"reweigh": 2.5}).reweigh == 2.5  # over-correction allowed
    with pytest.raises(ConfigError, match="reweigh <= 4"):
        Knobs.from_params({"reweigh": 4.5})


def test_knobs_off_are_exactly_plain_dp_sgd() -> None:
    problem = Problem(reproducible=True)  # the same noise, so "exactly" can be checked
    plain = evaluate(problem, FAST, seed=3)
    off = evaluate(problem,
        {**FAST, "fair_weight": 1e-4, "reweigh": 0.0, "group_thresholds": 0.25}, seed=3
    )
    assert off.values == plain.values
    assert off.noise_multiplier == plain.noise_multiplier
    assert off.epsilon_stats == 0.0 and off.epsilon_sgd == off.epsilon
    assert not off.uses_sensitive_at_prediction and off.decision_thresholds is None


# ------------------------------------------------------------------ privacy of the knobs


@pytest.mark.parametrize(
    "knob", [{"fair_weight": 0.5}, {"reweigh": 1.0}, {"group_thresholds": 0.02}]
)
def test_each_knob_spends_its_share_inside_the_target(knob) -> None:
    problem = Problem(stats_share=0.4)
    r = evaluate(problem, {**FAST, **knob}, seed=0)
    assert r.epsilon <= 1.0 and r.epsilon >= 0.99
    assert r.epsilon_stats == pytest.approx(0.4, rel=1e-5)
    assert r.epsilon_sgd < r.epsilon < r.epsilon_sgd + r.epsilon_stats
    assert r.epsilon_rdp >= r.epsilon
    assert not r.public_statistics
    assert r.uses_sensitive_at_prediction == ("group_thresholds" in knob)
    plain = evaluate(problem, FAST, seed=0)
    assert r.noise_multiplier > plain.noise_multiplier  # sigma solved for what is left


def test_public_statistics_are_flagged_and_excluded_from_epsilon() -> None:
    r = evaluate(Problem(public_statistics=True), {**FAST, "group_thresholds": 0.02}, seed=0)
    plain = evaluate(Problem(), FAST, seed=0)
    assert r.public_statistics and r.epsilon_stats == 0.0
    assert r.noise_multiplier == plain.noise_multiplier
    assert r.stats_noise_histograms == 0.0


def test_group_thresholds_can_be_forbidden() -> None:
    with pytest.raises(ConfigError, match="sensitive attribute at prediction time"):
        evaluate(Problem(allow_group_thresholds=False), {**FAST, "group_thresholds": 0.02}, seed=0)
    assert "group_thresholds" not in SearchSpace.default("logreg", group_thresholds=False).names
    assert {"fair_weight", "reweigh", "group_thresholds"} <= set(SearchSpace.default().names)


def test_evaluate_cli_prints_the_budget_split(capsys) -> None:
    code = main(["evaluate", "--epsilon", "1", "--clip", "2", "--lr", "2", "--batch-size",
                 "1024", "--epochs", "2", "--group-thresholds", "0.02", "--fair-weight", "0.5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "epsilon_sgd=" in out and "epsilon_stats=" in out and "epsilon (composed)=" in out
    assert "sensitive attribute at prediction time" in out
    code = main(["evaluate", "--epsilon", "1", "--clip", "2", "--lr", "2", "--batch-size",
                 "1024", "--epochs", "2", "--reweigh", "1", "--public-statistics"])
    assert code == 0 and "NOT covered by epsilon" in capsys.readouterr().out


# ------------------------------------------------------------------------------ fair loss


@pytest.mark.parametrize("metric", FAIRNESS_METRICS)
def test_penalty_coefficients_are_the_gradient_of_lambda_p(metric: str) -> None:
    """(1/n) sum_i a_i p_i has the gradient of lambda * P(p) (exact statistics)."""
    rng = np.random.default_rng(0)
    n, lam = 60, 0.7
    s, y = rng.integers(0, 3, n), rng.integers(0, 2, n)
    p = rng.uniform(0, 1, n)
    counts = np.bincount(s * 2 + y, minlength=6).reshape(3, 2).astype(float)

    def big_p(pv: np.ndarray) -> float:
        conds = {"equal_opportunity": [(1,)], "equalized_odds": [(0,), (1,)]}.get(
            metric, [(0, 1)])
        total = 0.0
        for labels in conds:
            mask = np.isin(y, labels)
            n_g = np.array([np.sum(mask & (s == g)) for g in range(3)], float)
            r_g = np.array([pv[mask & (s == g)].sum() for g in range(3)]) / n_g
            mean = (n_g * r_g).sum() / n_g.sum()
            total += math.sqrt((n_g / n_g.sum() * (r_g - mean) ** 2).sum() + TAU**2)
        return lam * total

    sums = np.bincount(s * 2 + y, weights=p, minlength=6).reshape(3, 2)
    a = penalty_coefficients(counts, sums, weight=lam, metric=metric)[s, y]
    h = 1e-6
    for i in range(0, n, 7):
        e = np.zeros(n)
        e[i] = h
        fd = (big_p(p + e) - big_p(p - e)) / (2 * h)
        assert a[i] / n == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_fair_penalty_refresh_depends_on_privatised_sums_only() -> None:
    rng = np.random.default_rng(1)
    s, y = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    counts = np.bincount(s * 2 + y, minlength=4).reshape(2, 2).astype(float)
    pen = FairPenalty(weight=1.0, metric="demographic_parity", s=s, y=y, counts=counts,
                      sums_std=0.0, generator=torch.Generator())
    z = torch.from_numpy(rng.normal(size=200))
    coef = pen.refresh(z)
    # every example of a (group, label) cell gets the same coefficient
    for g in range(2):
        for lab in range(2):
            cell = coef[torch.from_numpy((s == g) & (y == lab))]
            assert torch.all(cell == cell[0])
    assert pen.refreshes == 1


def test_reweighing_makes_group_and_label_independent() -> None:
    counts = np.array([[7000.0, 900.0], [12000.0, 5000.0]])
    w = reweighing_weights(counts, strength=1.0)
    weighted = w * counts
    n = counts.sum()
    assert weighted.sum() == pytest.approx(n)
    joint = weighted / n
    assert joint == pytest.approx(np.outer(joint.sum(1), joint.sum(0)))
    assert reweighing_weights(counts, strength=0.0) == pytest.approx(np.ones((2, 2)))
    # alpha > 1 over-corrects: the Kamiran-Calders weights' powers, renormalised to mean 1,
    # so the under-represented cell (group 0, label 1) weighs more than at alpha = 1.
    w2 = reweighing_weights(counts, strength=2.0)
    kc = reweighing_weights(counts, strength=1.0) * 1.0
    raw = kc**2
    assert w2 == pytest.approx(raw * n / float((raw * counts).sum()))
    assert w2[0, 1] > w[0, 1] > 1.0


# ----------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize("metric", FAIRNESS_METRICS)
def test_threshold_gap_estimate_agrees_with_fairlearn(metric: str) -> None:
    """Exact histograms: the estimated gap of the chosen thresholds is Fairlearn's gap."""
    rng = np.random.default_rng(2)
    n = 4000
    s = rng.integers(0, 2, n)
    y = (rng.uniform(size=n) < np.where(s == 1, 0.35, 0.15)).astype(np.int64)
    z = rng.normal(np.where(y == 1, 1.0, -1.5) + 0.4 * s, 1.2)
    hist = noisy_histograms(z, s, y, n_groups=2, edges=EDGES, std=0.0,
                            generator=torch.Generator())
    thr = choose_thresholds(hist, target_gap=0.03, metric=metric)
    y_pred = thr.predict(z, s)
    assert thr.estimated_gap == pytest.approx(
        unfairness(y, y_pred, sensitive_features=s, metric=metric), abs=1e-9
    )
    assert thr.estimated_gap <= 0.03 + 1e-9
    assert thr.estimated_accuracy == pytest.approx(np.mean(y_pred == y), abs=1e-9)
    # the unconstrained 0.5 threshold is less fair here
    assert unfairness(y, (z >= 0).astype(int), sensitive_features=s, metric=metric) > 0.03


def test_thresholds_hand_made_case() -> None:
    """Group 0 scores all just above -1, group 1 all just above 1; parity needs both in or out."""
    hist = np.zeros((2, 2, len(EDGES) + 1))
    b0 = np.searchsorted(EDGES, -0.99, side="right")
    b1 = np.searchsorted(EDGES, 1.01, side="right")
    hist[0, 1, b0] = 10  # group 0: 10 positives at z = -0.99
    hist[1, 1, b1] = 10  # group 1: 10 positives at z = 1.01
    hist[1, 0, 0] = 10  # group 1: 10 negatives far below
    thr = choose_thresholds(hist, target_gap=0.01, metric="demographic_parity")
    # best: everyone of group 0 positive (rate 1) is impossible with group 1 at rate 0.5,
    # so the rates must match at... group 0 rate in {0, 1}, group 1 in {0, 0.5, 1}.
    z = np.array([-0.99] * 10 + [1.01] * 10 + [-6.0] * 10)
    groups = np.array([0] * 10 + [1] * 20)
    pred = thr.predict(z, groups)
    rates = [pred[groups == g].mean() for g in (0, 1)]
    assert abs(rates[0] - rates[1]) <= 0.01
    assert thr.estimated_accuracy == pytest.approx(20 / 30)
    assert thr.probabilities[0] < 0.5 or thr.probabilities[1] > 0.5
