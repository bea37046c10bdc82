"""Test-only hand-made studies: trifront-looking studies with cached test runs, no training.

Not part of trifront. Tests import it by name (``tests/`` is on ``sys.path``
through its ``conftest.py``).
"""

from __future__ import annotations

import math
from dataclasses import asdict

import optuna
from optuna.distributions import FloatDistribution, IntDistribution

from trifront.analysis.reevaluate import NONPRIVATE_KEY, VAL_SCORING, reevaluation_seeds
from trifront.analysis.references import Reference
from trifront.problem import Problem
from trifront.space import SearchSpace
from trifront.study import ATTR_KEY

DISTRIBUTIONS = {
    "target_epsilon": FloatDistribution(0.05, 10.0, log=True),
    "clip": FloatDistribution(0.05, 5.0, log=True),
    "lr": FloatDistribution(0.01, 10.0, log=True),
    "batch_size": IntDistribution(64, 2048, log=True),
    "epochs": IntDistribution(1, 10),
}

# (val accuracy, epsilon, val gap, test accuracy mean, test gap mean) per trial.
# On validation trial 2 looks best under (eps <= 1, gap <= 0.05); on test it is trial 1.
TRIALS = [
    (0.80, 0.30, 0.030, 0.795, 0.030),   # 0
    (0.82, 0.90, 0.040, 0.825, 0.035),   # 1
    (0.83, 0.95, 0.045, 0.815, 0.060),   # 2: fails the gap limit on test
    (0.85, 5.00, 0.180, 0.850, 0.180),   # 3
    (0.70, 2.00, 0.300, 0.700, 0.300),   # 4: dominated
]
N_TRAIN = 24_000


def _params(i: int, eps: float) -> dict:
    return {"target_epsilon": eps, "clip": 1.0 + i / 10, "lr": 0.5, "batch_size": 512,
            "epochs": 2}


def make_study(name: str = "hand", *, storage: str | None = None, seeds: int = 3,
               cache: bool = True, trials=TRIALS,
               attrs: dict[int, dict] | None = None) -> optuna.Study:
    """A trifront-looking study with cached test re-evaluations (nothing to train).

    ``attrs`` adds user attributes to chosen trials: ``{trial number: {key: value}}``.
    """
    study = optuna.create_study(study_name=name, storage=storage,
                                directions=["maximize", "minimize", "minimize"])
    problem = Problem()
    study.set_user_attr(ATTR_KEY, {
        "problem": asdict(problem), "space": SearchSpace.default().to_dict(),
        "reference_point": [0.76, 10.0, 0.5], "majority_rate": 0.76, "seed": 0,
        "sampler": "random", "version": "test", "objectives": ["accuracy", "epsilon",
                                                               "unfairness"],
    })
    q = 512 / N_TRAIN
    for i, (acc, eps, gap, _, _) in enumerate(trials):
        study.add_trial(optuna.trial.create_trial(
            params=_params(i, eps), distributions=DISTRIBUTIONS, values=[acc, eps, gap],
            user_attrs={"seed": 100 * i, "noise_multiplier": 1.0, "sample_rate": q,
                        "steps": round(2 / q), "n_train": N_TRAIN, "delta": 1e-5,
                        **(attrs or {}).get(i, {})},
        ))
    if cache:
        for t in study.trials:
            vacc, _, vgap, tacc, tgap = trials[t.number]
            # Validation holds twice the runs: recommend confirms its leaders with as many more.
            for split, acc, gap, n in (("test", tacc, tgap, seeds), ("val", vacc, vgap,
                                                                      2 * seeds)):
                runs = [{"seed": s, "accuracy": acc + d, "unfairness": gap + d / 2, "epsilon":
                         t.values[1], "train_seconds": 0.1}
                        for s, d in zip(reevaluation_seeds(study, t, n),
                                        (-0.002, 0.0, 0.002) * 2, strict=False)]
                scoring = {"scoring": VAL_SCORING} if split == "val" else {}
                study.set_user_attr(f"{split}_eval:{t.number}",
                                    {"params": t.params, "runs": runs, **scoring})
        best = max(study.trials, key=lambda t: t.values[0])
        params = {**best.params, "target_epsilon": math.inf}
        runs = [{"seed": s, "accuracy": 0.86, "unfairness": 0.19, "epsilon": math.inf,
                 "train_seconds": 0.1} for s in reevaluation_seeds(study, best, seeds)]
        study.set_user_attr(NONPRIVATE_KEY, {"params": params, "runs": runs,
                                             "trial": best.number})
        # The tuned references, as the report caches them (nothing to train).
        tuned = Reference("non-private (tuned)", "hand-made", {"C": 1.0}, 0.855, 0.86, 0.19)
        study.set_user_attr("reference:tuned", tuned.to_dict())
        for limit, acc in ((0.02, 0.83), (0.05, 0.84)):
            fair = Reference(f"non-private fair, gap ≤ {limit:g}", "hand-made",
                             {"C": 1.0, "limit": limit}, acc, acc, limit, limit=limit)
            study.set_user_attr(f"reference:fair:{limit:g}", fair.to_dict())
    return study
