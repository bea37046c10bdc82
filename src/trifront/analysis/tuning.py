"""The privacy cost of the search itself: composing every run's releases on the data.

A trial's epsilon covers *one* training run. A study trains many models on the
same training rows, and the report retrains some of them; an adversary who sees
everything the study produced (all models, or just the chosen one, since the
choice depends on all of them) faces the composition of all those runs.

Each run releases Gaussian mechanisms on the training rows: the DP-SGD steps
(Poisson-subsampled Gaussian of noise multiplier sigma, rate q, T steps), and
the fairness knobs' privatised statistics (:mod:`trifront.fairness.private_stats`),
each a plain Gaussian mechanism of L2 sensitivity 1 whose noise multiplier z the
trial records: the (group, label) counts once (``stats_noise_counts``), the
soft-prediction sums at every refresh of the fair loss
(``stats_noise_sums``, ``len(epoch_starts(T, q))`` releases), the score
histograms once (``stats_noise_histograms``); 0 means not released (or declared
public). A trial that recorded nothing (failed early, still running) is
re-planned from its parameters with :func:`trifront.trial.plan_privacy`, the
plan the trial itself ran. A test re-evaluation retrains the same configuration,
so it releases the same statistics again.

Two estimates are computed, both at ``delta_total = n_runs x delta``:

* **basic composition**: ``epsilon_total = sum of epsilon_i``, where
  ``epsilon_i`` is the run's recorded epsilon: the composition of its DP-SGD
  steps and its statistics (``epsilon_sgd + epsilon_stats`` if the recorded
  value turns out to cover DP-SGD alone). Sound even though each trial's
  settings were chosen after seeing earlier results (basic composition holds
  under fully adaptive choice of the parameters). Loose.
* **RDP composition**: the Renyi-DP curves of every Gaussian release of every
  run (the subsampled Gaussian of DP-SGD, and ``a / (2 z^2)`` at order ``a``
  for each statistic) are summed order by order and converted to epsilon at
  ``delta_total``. Much tighter, but strictly valid only if the runs' settings
  had been fixed in advance (or the total Renyi budget declared before the
  search, as a Renyi filter); an adaptive search did neither, so read it as an
  estimate, not a guarantee.

Not covered by either: the validation rows (used without privacy to score and
choose configurations), the test rows (used without privacy by the report), the
non-private reference model (no guarantee at all), statistics declared public
(exact, not privatised; noted), and any run whose settings were not recorded
(counted, and reported as unknown).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from trifront.analysis.reevaluate import NONPRIVATE_KEY, RUN_CACHE_PREFIXES
from trifront.privacy import epsilon as account_epsilon
from trifront.privacy.dpsgd import epoch_starts
from trifront.study import study_problem

if TYPE_CHECKING:
    from trifront.problem import Problem
    from trifront.trial import PrivacyPlan

__all__ = ["TuningPrivacy", "tuning_privacy"]

_ORDERS = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [80, 128, 256])
_STAT_KEYS = ("stats_noise_counts", "stats_noise_sums", "stats_noise_histograms")


@dataclass(frozen=True)
class TuningPrivacy:
    """Conservative privacy cost of a whole study (search + re-evaluation).

    Attributes:
        n_runs: Runs on the training rows that were composed (each: its DP-SGD
            steps and the statistics its fairness knobs released).
        n_search_runs: Of those, search trials (completed, failed or running).
        n_reevaluation_runs: Of those, test re-evaluation runs of the report.
        n_unknown: Runs whose settings could not be recovered (not composed).
        delta: The per-run delta.
        delta_total: ``n_runs x delta``: the delta both totals are stated at.
        basic_epsilon: Sum of the runs' epsilons (basic composition).
        rdp_epsilon: Epsilon of the RDP composition at ``delta_total``.
        largest_single_epsilon: The largest epsilon of one run (what a single
            released model costs at most).
        notes: Plain-language caveats.
    """

    n_runs: int
    n_search_runs: int
    n_reevaluation_runs: int
    n_unknown: int
    delta: float
    delta_total: float
    basic_epsilon: float
    rdp_epsilon: float
    largest_single_epsilon: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class _Run:
    """What one run released: DP-SGD (sigma, q, steps) and its statistics."""

    sigma: float
    q: float
    steps: int
    epsilon: float
    stats: tuple[float, ...] = ()  # noise multiplier z of each statistic release
    public_stats: bool = False


def _recorded_releases(attrs: Mapping[str, Any], *, q: float, steps: int
                       ) -> tuple[float, ...] | None:
    """One noise multiplier per statistic release a trial recorded (None: not recorded)."""
    if not any(k in attrs for k in _STAT_KEYS):
        return None
    counts, sums, hist = (float(attrs.get(k) or 0.0) for k in _STAT_KEYS)
    n_sums = len(epoch_starts(steps, q)) if sums > 0 else 0
    return (counts,) * int(counts > 0) + (sums,) * n_sums + (hist,) * int(hist > 0)


def _releases_statistics(problem: Problem, params: Mapping[str, Any]) -> bool:
    """Whether a configuration's knobs release privatised statistics."""
    from trifront.fairness.knobs import Knobs

    knobs = Knobs.from_params(params)
    uses = knobs.needs_counts or knobs.group_thresholds is not None
    return uses and not problem.public_statistics


def _replan(problem: Problem, params: Mapping[str, Any], n_train: int | None
            ) -> PrivacyPlan | None:
    """The privacy plan the trial ran, rebuilt from its parameters (None: impossible)."""
    from trifront.fairness.knobs import Knobs
    from trifront.trial import plan_privacy

    if n_train is None:
        return None
    try:
        return plan_privacy(problem, params, Knobs.from_params(params), n_public=n_train)
    except (KeyError, TypeError, ValueError):  # missing or invalid parameters
        return None


def _covering_epsilon(recorded: float, attrs: Mapping[str, Any], stats: tuple[float, ...]
                      ) -> float:
    """The recorded epsilon if it composes DP-SGD and the statistics, else their sum."""
    sgd, alone = attrs.get("epsilon_sgd"), attrs.get("epsilon_stats")
    if not stats or sgd is None or alone is None:
        return recorded
    sgd, alone = float(sgd), float(alone)
    if not (math.isfinite(sgd) and math.isfinite(alone)) or (recorded > sgd
                                                              and recorded >= alone):
        return recorded
    return max(recorded, sgd + alone)  # basic composition of the two parts


def _run_of(
    params: Mapping[str, Any], attrs: Mapping[str, Any], *, problem: Problem,
    n_train: int | None, epsilon: float | None,
) -> _Run | None:
    """The releases and the epsilon of one run, from what was recorded."""
    delta, accountant = problem.delta, problem.accountant
    sigma, q, steps = attrs.get("noise_multiplier"), attrs.get("sample_rate"), attrs.get("steps")
    stats = None if q is None or steps is None else _recorded_releases(
        attrs, q=float(q), steps=int(steps))
    public = bool(attrs.get("public_statistics", False))
    if stats is None and None not in (sigma, q, steps):
        try:
            if not _releases_statistics(problem, params):
                stats = ()
        except (TypeError, ValueError):
            return None
    if sigma is None or q is None or steps is None or stats is None:
        plan = _replan(problem, params, n_train)
        if plan is None:
            return None
        if q is None or steps is None:
            q, steps = plan.sample_rate, plan.steps
        sigma = plan.noise_multiplier if sigma is None else sigma
        stats = plan.stats.gaussians if stats is None else stats
        public = public or plan.stats.public
    if epsilon is None:
        if "target_epsilon" in params:  # sigma was solved so that the composition spends it
            epsilon = float(params["target_epsilon"])
        else:
            epsilon = account_epsilon(noise_multiplier=float(sigma), sample_rate=float(q),
                                      steps=int(steps), delta=delta, accountant=accountant,
                                      extra_gaussians=stats)
    else:
        epsilon = _covering_epsilon(float(epsilon), attrs, stats)
    return _Run(float(sigma), float(q), int(steps), float(epsilon), tuple(stats), public)


def _rdp_total(runs: list[_Run], delta: float) -> float:
    """Epsilon at ``delta`` of the summed RDP curves of every release of every run."""
    import numpy as np
    from opacus.accountants.analysis import rdp as rdp_analysis

    orders = np.asarray(_ORDERS, dtype=float)
    total = np.zeros(len(_ORDERS))
    for r, k in Counter(runs).items():  # re-evaluation runs repeat a configuration
        curve = np.asarray(rdp_analysis.compute_rdp(
            q=r.q, noise_multiplier=r.sigma, steps=r.steps, orders=list(_ORDERS)), dtype=float)
        curve = curve + orders * sum(0.5 / (z * z) for z in r.stats)  # Gaussian: a / (2 z^2)
        total += k * curve
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # best order at the grid's edge
        eps, _ = rdp_analysis.get_privacy_spent(orders=list(_ORDERS), rdp=total, delta=delta)
    return float(eps)


def tuning_privacy(study: optuna.Study, *, include_reevaluation: bool = True) -> TuningPrivacy:
    """Compose every run a study made on its training rows: DP-SGD and the knobs' statistics.

    Search trials count whatever their state: a failed or interrupted trial
    still trained on the data (its epsilon is bounded by its target epsilon, or
    by its recorded spend). Cached test re-evaluation runs count when
    ``include_reevaluation`` (they are further trainings on the same rows, and
    release the same statistics again).

    Args:
        study: A trifront study.
        include_reevaluation: Also compose the report's re-evaluation runs.

    Returns:
        The composed cost; see the module docstring for what it covers.
    """
    problem = study_problem(study)
    delta = problem.delta
    trials = study.get_trials(deepcopy=False)
    n_train = next((int(t.user_attrs["n_train"]) for t in trials if "n_train" in t.user_attrs),
                   None)
    if n_train is None and trials:
        n_train = problem.data().n_train_public
    runs: list[_Run] = []
    unknown = 0
    n_search = 0
    for t in trials:
        if t.state not in (TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING):
            continue
        eps = float(t.values[1]) if t.state == TrialState.COMPLETE and t.values else None
        run = _run_of(t.params, t.user_attrs, problem=problem, n_train=n_train, epsilon=eps)
        if run is None:
            unknown += 1
            continue
        runs.append(run)
        n_search += 1
    n_reeval = 0
    if include_reevaluation:
        by_number = {t.number: t for t in trials}
        for key, entry in study.user_attrs.items():
            if not key.startswith(RUN_CACHE_PREFIXES) or key == NONPRIVATE_KEY:
                continue
            owner = by_number.get(int(key.split(":", 1)[1]))
            if owner is None or not owner.values:
                continue
            run = _run_of(owner.params, owner.user_attrs, problem=problem, n_train=n_train,
                          epsilon=float(owner.values[1]))
            k = len(entry.get("runs", []))
            if run is None:
                unknown += k
                continue
            runs.extend([run] * k)
            n_reeval += k
    notes = [
        "Basic composition is sound even for an adaptive search; the RDP figure assumes the "
        "runs' settings were fixed in advance and is an estimate, not a guarantee.",
        "Validation and test rows are used without privacy to score and choose "
        "configurations; no epsilon here protects them.",
    ]
    if NONPRIVATE_KEY in study.user_attrs or any(
            key.startswith("reference:") for key in study.user_attrs):
        notes.append("The non-private reference model has no privacy guarantee: it is shown "
                     "for comparison only and is not composed (its epsilon is infinite).")
    public = sum(r.public_stats for r in runs)
    if public:
        notes.append(f"{public} run(s) used fairness statistics declared public (exact, not "
                     "privatised): they are not composed, and no epsilon here covers them.")
    if unknown:
        notes.append(f"{unknown} run(s) had no recoverable settings and are not composed.")
    n = len(runs)
    if n == 0:
        return TuningPrivacy(0, 0, 0, unknown, delta, 0.0, 0.0, 0.0, 0.0, tuple(notes))
    delta_total = n * delta
    return TuningPrivacy(
        n_runs=n,
        n_search_runs=n_search,
        n_reevaluation_runs=n_reeval,
        n_unknown=unknown,
        delta=delta,
        delta_total=delta_total,
        basic_epsilon=float(sum(r.epsilon for r in runs)),
        rdp_epsilon=_rdp_total(runs, min(delta_total, 0.5)),
        largest_single_epsilon=float(max(r.epsilon for r in runs)),
        notes=tuple(notes),
    )
