"""One run's noise, solved so that the whole private-tuning study spends at most E.

Every run of a study is the same mechanism (the selection theorem's
precondition): the same public schedule (q from the fixed batch size and the
public row count, T from the fixed epochs), the same DP-SGD σ, and the same
Gaussian releases, whatever the run's drawn hyperparameters:

* the knobs' statistics, every kind the prior can switch on (a run whose
  drawn knobs read fewer of them still pays for all; post-processing);
* the validation counts (its selection score) and the test counts (what is
  released about it), one Gaussian each (:mod:`trifront.privtune.scoring`).

The budget is split as in an ordinary trial, through a per-run target ε_run:
the statistics get ``stats_share * ε_run`` (:func:`allocate`), the two score
releases together ``SCORE_SHARE * ε_run``, and σ is solved for the composed
ε_run with the PLD accountant. ε_run is then the largest value for which
dp-accounting's RDP accountant, on ``RepeatAndSelectDpEvent(run, mean,
shape)``, gives a study ε of at most E (bisection; the study ε only grows with
ε_run). The shares only decide how the noise is divided: the guarantee is the
final accountant call on the noise actually used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from trifront.errors import PrivacyError
from trifront.fairness.private_stats import StatsPlan, allocate
from trifront.privacy.accounting import (
    gaussian_noise_for_epsilon,
    noise_for_epsilon,
    study_epsilon,
)
from trifront.privacy.dpsgd import epoch_starts
from trifront.privtune.count import RunCount

__all__ = ["SCORE_SHARE", "RunPlan", "solve_run_plan"]

#: Share of ε_run given to the two score releases (validation and test) together.
#: In Gaussian terms this costs about SCORE_SHARE² of the run's μ², so DP-SGD
#: keeps most of the budget while a validation accuracy on Adult is noised by a
#: few tenths of a point (bench/RESULTS.md, "Private tuning").
SCORE_SHARE = 0.3


@dataclass(frozen=True)
class RunPlan:
    """The mechanism every run of a private-tuning study is.

    Attributes:
        sample_rate: q.
        steps: T.
        noise_multiplier: DP-SGD's σ.
        stats: The knobs' statistics (noise multipliers).
        score_noise: Noise multiplier of the validation counts and of the test
            counts (one Gaussian each).
        run_epsilon: The per-run target ε_run the shares were taken of (PLD).
        epsilon: The study's ε (RDP, repeat and select).
        delta: δ.
        count: The distribution of the number of runs.
    """

    sample_rate: float
    steps: int
    noise_multiplier: float
    stats: StatsPlan
    score_noise: float
    run_epsilon: float
    epsilon: float
    delta: float
    count: RunCount

    @property
    def extra_gaussians(self) -> tuple[float, ...]:
        """Every Gaussian of one run besides DP-SGD, for the accountant."""
        return (*self.stats.gaussians, self.score_noise, self.score_noise)

    def recompute_epsilon(self) -> float:
        """The study ε of this plan, from a fresh accountant call."""
        return study_epsilon(
            noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate,
            steps=self.steps, extra_gaussians=self.extra_gaussians, delta=self.delta,
            mean=self.count.mean, shape=self.count.shape,
        )

    def per_run(self) -> dict[str, Any]:
        """The JSON of one run's mechanism (``study_privacy.json``'s ``per_run``)."""
        return {
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "steps": self.steps,
            "extra_gaussians": list(self.extra_gaussians),
            "extra_gaussians_are": (
                ["statistics:counts"] * (self.stats.counts < math.inf)
                + ["statistics:sums"] * (self.stats.n_sums if self.stats.sums < math.inf else 0)
                + ["statistics:histograms"] * (self.stats.histograms < math.inf)
                + ["validation counts", "test counts"]
            ),
        }


def _plan_at(
    run_epsilon: float, *, q: float, steps: int, delta: float, stats_share: float,
    releases: dict[str, Any], accountant: str,
) -> tuple[float, StatsPlan, float]:
    stats = allocate(stats_epsilon=stats_share * run_epsilon, delta=delta, **releases)
    pair = gaussian_noise_for_epsilon(target_epsilon=SCORE_SHARE * run_epsilon, delta=delta)
    score = pair * math.sqrt(2.0)  # two equal Gaussians compose to the pair's multiplier
    sigma = noise_for_epsilon(target_epsilon=run_epsilon, delta=delta, sample_rate=q,
                              steps=steps, accountant=accountant,
                              extra_gaussians=(*stats.gaussians, score, score))
    return sigma, stats, score


def solve_run_plan(
    *, study_epsilon_target: float, delta: float, count: RunCount, sample_rate: float,
    steps: int, counts: bool, fair_weight: bool, histograms: bool, stats_share: float,
    accountant: str = "pld",
) -> RunPlan:
    """The noise of every run so that the study's ε at ``delta`` is at most the target.

    Args:
        study_epsilon_target: E, ``> 0``.
        delta: δ.
        count: The distribution of the number of runs.
        sample_rate, steps: The public schedule of every run.
        counts, fair_weight, histograms: Which statistics the prior's knobs can
            read (the (group, label) counts; the fair term's sums, one per
            refresh; the score histograms of the group thresholds).
        stats_share: Share of ε_run given to those statistics.
        accountant: The accountant σ is solved with for one run.

    Raises:
        PrivacyError: If even a tiny per-run budget exceeds E (E too small for
            this mean), or E is not a positive finite number.
    """
    E = float(study_epsilon_target)
    if not (E > 0 and math.isfinite(E)):
        raise PrivacyError(f"`study_epsilon > 0` must hold and be finite, but got {E}.")
    n_sums = len(epoch_starts(steps, sample_rate)) if fair_weight else 0
    releases = {"counts": counts or fair_weight, "n_sums": n_sums, "histograms": histograms}
    def spent(run_eps: float) -> tuple[float, tuple[float, StatsPlan, float]]:
        sigma, stats, score = _plan_at(run_eps, q=sample_rate, steps=steps, delta=delta,
                                       stats_share=stats_share, releases=releases,
                                       accountant=accountant)
        eps = study_epsilon(noise_multiplier=sigma, sample_rate=sample_rate, steps=steps,
                            extra_gaussians=(*stats.gaussians, score, score), delta=delta,
                            mean=count.mean, shape=count.shape)
        return eps, (sigma, stats, score)

    lo, hi = E / 200.0, E
    eps_lo, best = spent(lo)
    if eps_lo > E:
        raise PrivacyError(
            f"study_epsilon={E:g} is too small for a mean of {count.mean:g} runs: even a "
            f"per-run epsilon of {lo:.3g} costs {eps_lo:.3g}; raise it or lower --mean-trials."
        )
    for _ in range(30):
        if hi / lo < 1.002:
            break
        mid = math.sqrt(lo * hi)
        eps_mid, plan_mid = spent(mid)
        if eps_mid <= E:
            lo, eps_lo, best = mid, eps_mid, plan_mid
        else:
            hi = mid
    sigma, stats, score = best
    return RunPlan(sample_rate=float(sample_rate), steps=int(steps),
                   noise_multiplier=float(sigma), stats=stats, score_noise=float(score),
                   run_epsilon=float(lo), epsilon=float(eps_lo), delta=float(delta),
                   count=count)
