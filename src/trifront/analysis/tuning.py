"""The privacy cost of the search itself: composing every DP-SGD run on the data.

A trial's epsilon covers *one* training run. A study trains many models on the
same training rows, and the report retrains some of them; an adversary who sees
everything the study produced (all models, or just the chosen one, since the
choice depends on all of them) faces the composition of all those runs.

Two estimates are computed, both at ``delta_total = n_runs x delta``:

* **basic composition**: ``epsilon_total = sum of epsilon_i``. Sound even though
  each trial's settings were chosen after seeing earlier results (basic
  composition holds under fully adaptive choice of the parameters). Loose.
* **RDP composition**: the Renyi-DP curves of all runs (Poisson-subsampled
  Gaussian, each with its own sigma, q, steps) are summed order by order and
  converted to epsilon at ``delta_total``. Much tighter, but strictly valid
  only if the runs' settings had been fixed in advance (or the total Renyi
  budget declared before the search, as a Renyi filter); an adaptive search
  did neither, so read it as an estimate, not a guarantee.

Not covered by either: the validation rows (used without privacy to score and
choose configurations), the test rows (used without privacy by the report), the
non-private reference model (no guarantee at all), and any run whose settings
were not recorded (counted, and reported as unknown).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from trifront.analysis.reevaluate import CACHE_PREFIX, NONPRIVATE_KEY, study_problem
from trifront.privacy import epsilon as account_epsilon
from trifront.privacy import noise_for_epsilon, sampling_schedule

__all__ = ["TuningPrivacy", "tuning_privacy"]

_ORDERS = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [80, 128, 256])


@dataclass(frozen=True)
class TuningPrivacy:
    """Conservative privacy cost of a whole study (search + re-evaluation).

    Attributes:
        n_runs: DP-SGD runs on the training rows that were composed.
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
    sigma: float
    q: float
    steps: int
    epsilon: float


def _run_of(
    params: Mapping[str, Any], attrs: Mapping[str, Any], *, delta: float, accountant: str,
    n_train: int | None, epsilon: float | None,
) -> _Run | None:
    """The (sigma, q, steps, epsilon) of one run, from what was recorded."""
    sigma, q, steps = attrs.get("noise_multiplier"), attrs.get("sample_rate"), attrs.get("steps")
    if q is None or steps is None:
        if n_train is None or "batch_size" not in params or "epochs" not in params:
            return None
        q, steps = sampling_schedule(
            n_train=n_train, batch_size=int(params["batch_size"]), epochs=int(params["epochs"])
        )
    if sigma is None:
        if "noise_multiplier" in params:
            sigma = float(params["noise_multiplier"])
        elif "target_epsilon" in params and math.isfinite(float(params["target_epsilon"])):
            sigma = noise_for_epsilon(target_epsilon=float(params["target_epsilon"]), delta=delta,
                                      sample_rate=q, steps=int(steps), accountant=accountant)
        else:
            return None
    if epsilon is None:
        if "target_epsilon" in params:  # sigma was solved to spend at most the target
            epsilon = float(params["target_epsilon"])
        else:
            epsilon = account_epsilon(noise_multiplier=float(sigma), sample_rate=float(q),
                                      steps=int(steps), delta=delta, accountant=accountant)
    return _Run(float(sigma), float(q), int(steps), float(epsilon))


def _rdp_total(runs: list[_Run], delta: float) -> float:
    import numpy as np
    from opacus.accountants.analysis import rdp as rdp_analysis

    total = np.zeros(len(_ORDERS))
    for r in runs:
        total += np.asarray(rdp_analysis.compute_rdp(
            q=r.q, noise_multiplier=r.sigma, steps=r.steps, orders=list(_ORDERS)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # best order at the grid's edge
        eps, _ = rdp_analysis.get_privacy_spent(orders=list(_ORDERS), rdp=total, delta=delta)
    return float(eps)


def tuning_privacy(study: optuna.Study, *, include_reevaluation: bool = True) -> TuningPrivacy:
    """Compose every DP-SGD run a study made on its training rows.

    Search trials count whatever their state: a failed or interrupted trial
    still trained on the data (its epsilon is bounded by its target epsilon, or
    by its recorded spend). Cached test re-evaluation runs count when
    ``include_reevaluation`` (they are further trainings on the same rows).

    Args:
        study: A trifront study.
        include_reevaluation: Also compose the report's re-evaluation runs.

    Returns:
        The composed cost; see the module docstring for what it covers.
    """
    problem = study_problem(study)
    delta, accountant = problem.delta, problem.accountant
    trials = study.get_trials(deepcopy=False)
    n_train = next((int(t.user_attrs["n_train"]) for t in trials if "n_train" in t.user_attrs),
                   None)
    if n_train is None and trials:
        n_train = problem.data().n_train
    runs: list[_Run] = []
    unknown = 0
    n_search = 0
    for t in trials:
        if t.state not in (TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING):
            continue
        eps = float(t.values[1]) if t.state == TrialState.COMPLETE and t.values else None
        run = _run_of(t.params, t.user_attrs, delta=delta, accountant=accountant,
                      n_train=n_train, epsilon=eps)
        if run is None:
            unknown += 1
            continue
        runs.append(run)
        n_search += 1
    n_reeval = 0
    if include_reevaluation:
        by_number = {t.number: t for t in trials}
        for key, entry in study.user_attrs.items():
            if not key.startswith(CACHE_PREFIX) or key == NONPRIVATE_KEY:
                continue
            owner = by_number.get(int(key[len(CACHE_PREFIX):]))
            if owner is None or not owner.values:
                continue
            run = _run_of(owner.params, owner.user_attrs, delta=delta, accountant=accountant,
                          n_train=n_train, epsilon=float(owner.values[1]))
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
    if NONPRIVATE_KEY in study.user_attrs:
        notes.append("The non-private reference model has no privacy guarantee: it is shown "
                     "for comparison only and is not composed (its epsilon is infinite).")
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
