"""The privacy cost of a whole study: every Gaussian each run released is composed.

Hand-made studies (no training): the trials record the fairness knobs' privatised
statistics the way the trial pipeline does, and the totals are checked against an
independent computation with Opacus' RDP analysis.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import optuna
import pytest
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent
from optuna.distributions import FloatDistribution, IntDistribution

from trifront.analysis.tuning import tuning_privacy
from trifront.privacy.dpsgd import epoch_starts
from trifront.problem import Problem
from trifront.study import ATTR_KEY

N_TRAIN = 24_000
DELTA = 1e-5
Q = 512 / N_TRAIN
STEPS = round(2 / Q)  # 2 epochs: 94 steps
# Opacus' default orders and a few large ones, as the report uses.
ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [80, 128, 256]
DISTRIBUTIONS = {
    "target_epsilon": FloatDistribution(0.05, 10.0, log=True),
    "clip": FloatDistribution(0.05, 5.0, log=True),
    "lr": FloatDistribution(0.01, 10.0, log=True),
    "batch_size": IntDistribution(64, 2048, log=True),
    "epochs": IntDistribution(1, 10),
    "fair_weight": FloatDistribution(0.0, 10.0),
    "reweigh": FloatDistribution(0.0, 1.0),
    "group_thresholds": FloatDistribution(0.001, 1.0, log=True),
}

# (epsilon, sigma, counts z, sums z, histograms z, fair_weight, reweigh, thresholds) per
# trial; z = 0: that statistic was not released. Epsilons are the composed ones.
TRIALS = [
    (1.00, 1.20, 9.0, 14.0, 0.0, 1.0, 0.0, 1.0),   # lambda: counts + per-epoch sums
    (2.00, 0.90, 6.0, 0.0, 0.0, 0.0, 0.5, 1.0),    # alpha: counts
    (0.80, 1.50, 0.0, 0.0, 4.0, 0.0, 0.0, 0.05),   # group thresholds: histograms
    (1.50, 1.10, 7.0, 11.0, 5.0, 2.0, 0.3, 0.02),  # all three
    (0.60, 1.60, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),    # plain DP-SGD
]
REEVALUATIONS = {0: 3, 3: 2}  # trial -> cached test re-evaluation runs


def _params(eps: float, lam: float, alpha: float, gap: float) -> dict:
    return {"target_epsilon": eps, "clip": 1.0, "lr": 0.5, "batch_size": 512, "epochs": 2,
            "fair_weight": lam, "reweigh": alpha, "group_thresholds": gap}


def _attrs(sigma: float, counts: float, sums: float, hist: float, *, eps_sgd: float,
           eps_stats: float) -> dict:
    return {"seed": 0, "noise_multiplier": sigma, "sample_rate": Q, "steps": STEPS,
            "n_train": N_TRAIN, "delta": DELTA, "accountant": "pld",
            "epsilon_sgd": eps_sgd, "epsilon_stats": eps_stats,
            "stats_noise_counts": counts, "stats_noise_sums": sums,
            "stats_noise_histograms": hist}


def _study(trials=TRIALS, reevaluations=REEVALUATIONS, *, sgd_only: bool = False
           ) -> optuna.Study:
    """A trifront-looking study whose trials released knob statistics.

    ``sgd_only``: the recorded epsilon is that of DP-SGD alone, not the composition.
    """
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.set_user_attr(ATTR_KEY, {"problem": asdict(Problem()), "seed": 0})
    for eps, sigma, counts, sums, hist, lam, alpha, gap in trials:
        stats = 0.0 if counts == sums == hist == 0 else 0.4 * eps
        eps_sgd = 0.8 * eps if stats else eps
        study.add_trial(optuna.trial.create_trial(
            params=_params(eps, lam, alpha, gap), distributions=DISTRIBUTIONS,
            values=[0.8, eps_sgd if sgd_only else eps, 0.05],
            user_attrs=_attrs(sigma, counts, sums, hist, eps_sgd=eps_sgd, eps_stats=stats),
        ))
    for number, k in reevaluations.items():
        t = study.trials[number]
        runs = [{"seed": s, "accuracy": 0.8, "unfairness": 0.05, "epsilon": t.values[1],
                 "train_seconds": 0.1} for s in range(k)]
        study.set_user_attr(f"test_eval:{number}", {"params": t.params, "runs": runs})
    return study


def _independent_rdp_epsilon(runs: list[tuple[float, list[float]]], delta: float) -> float:
    """Sum of Opacus RDP curves of DP-SGD and a/(2 z^2) per Gaussian release."""
    total = np.zeros(len(ORDERS))
    for sigma, gaussians in runs:
        total += compute_rdp(q=Q, noise_multiplier=sigma, steps=STEPS, orders=ORDERS)
        for z in gaussians:
            total += np.array(ORDERS) / (2.0 * z * z)
    eps, _ = get_privacy_spent(orders=ORDERS, rdp=total, delta=delta)
    return float(eps)


def _releases(counts: float, sums: float, hist: float) -> list[float]:
    n_sums = len(epoch_starts(STEPS, Q)) if sums > 0 else 0
    return [counts] * (counts > 0) + [sums] * n_sums + [hist] * (hist > 0)


def test_the_sums_are_released_once_per_refresh():
    # An epoch is ceil(1/q) = 47 steps, refreshed 4 times: every 12 steps, 8 in 94 steps.
    assert len(epoch_starts(STEPS, Q)) == 8


def test_rdp_total_composes_every_knob_statistic_of_search_and_reevaluation_runs():
    tp = tuning_privacy(_study())
    assert (tp.n_search_runs, tp.n_reevaluation_runs, tp.n_unknown) == (5, 5, 0)
    runs = [(sigma, _releases(c, s, h)) for _, sigma, c, s, h, *_ in TRIALS]
    runs += [runs[n] for n, k in REEVALUATIONS.items() for _ in range(k)]
    expected = _independent_rdp_epsilon(runs, tp.delta_total)
    assert tp.rdp_epsilon == pytest.approx(expected, rel=1e-9)
    # The statistics matter: leaving them out gives a clearly smaller total.
    without = _independent_rdp_epsilon([(sigma, []) for sigma, _ in runs], tp.delta_total)
    assert tp.rdp_epsilon > without * 1.1


def test_basic_composition_sums_the_composed_epsilons():
    tp = tuning_privacy(_study())
    eps = [t[0] for t in TRIALS]
    assert tp.basic_epsilon == pytest.approx(sum(eps) + 3 * eps[0] + 2 * eps[3])
    assert tp.largest_single_epsilon == 2.0


def test_basic_composition_adds_the_statistics_when_the_recorded_epsilon_omits_them():
    tp = tuning_privacy(_study(reevaluations={}, sgd_only=True))
    # DP-SGD alone (0.8 eps) plus the statistics alone (0.4 eps) where knobs released any.
    expected = sum(1.2 * t[0] if t[2] or t[3] or t[4] else t[0] for t in TRIALS)
    assert tp.basic_epsilon == pytest.approx(expected)


def test_public_statistics_are_not_composed_and_are_noted():
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.set_user_attr(ATTR_KEY, {"problem": asdict(Problem(public_statistics=True)),
                                   "seed": 0})
    attrs = _attrs(1.2, 0.0, 0.0, 0.0, eps_sgd=1.0, eps_stats=0.0) | {"public_statistics": True}
    study.add_trial(optuna.trial.create_trial(
        params=_params(1.0, 1.0, 0.0, 1.0), distributions=DISTRIBUTIONS,
        values=[0.8, 1.0, 0.05], user_attrs=attrs,
    ))
    tp = tuning_privacy(study)
    assert tp.rdp_epsilon == pytest.approx(_independent_rdp_epsilon([(1.2, [])], DELTA), rel=1e-9)
    assert any("declared public" in n for n in tp.notes)


def test_a_failed_trial_is_composed_with_the_statistics_its_configuration_releases():
    from trifront.fairness.knobs import Knobs
    from trifront.trial import plan_privacy

    problem = Problem()
    params = _params(1.0, 1.0, 0.5, 0.05)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.set_user_attr(ATTR_KEY, {"problem": asdict(problem), "seed": 0})
    study.add_trial(optuna.trial.create_trial(  # records the public row count
        params=_params(0.6, 0.0, 0.0, 1.0), distributions=DISTRIBUTIONS,
        values=[0.8, 0.6, 0.05], user_attrs=_attrs(1.6, 0.0, 0.0, 0.0, eps_sgd=0.6,
                                                    eps_stats=0.0),
    ))
    study.add_trial(optuna.trial.create_trial(  # diverged: nothing recorded but the seed
        params=params, distributions=DISTRIBUTIONS, state=optuna.trial.TrialState.FAIL,
        user_attrs={"seed": 1, "fail_reason": "training diverged"},
    ))
    tp = tuning_privacy(study, include_reevaluation=False)
    assert (tp.n_search_runs, tp.n_unknown) == (2, 0)
    assert tp.basic_epsilon == pytest.approx(0.6 + 1.0)
    plan = plan_privacy(problem, params, Knobs.from_params(params), n_public=N_TRAIN)
    assert len(plan.stats.gaussians) == 2 + len(epoch_starts(STEPS, Q))
    expected = _independent_rdp_epsilon(
        [(1.6, []), (plan.noise_multiplier, list(plan.stats.gaussians))], tp.delta_total
    )
    assert tp.rdp_epsilon == pytest.approx(expected, rel=1e-9)


def test_a_study_without_runs_costs_nothing():
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.set_user_attr(ATTR_KEY, {"problem": asdict(Problem()), "seed": 0})
    tp = tuning_privacy(study)
    assert tp.n_runs == 0 and tp.rdp_epsilon == 0.0 and math.isfinite(tp.basic_epsilon)
