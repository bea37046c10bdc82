"""Private tuning: one (E, δ) guarantee for the model a study releases.

``trifront run --private-tuning --study-epsilon E`` runs a study whose released
output (the chosen model, its hyperparameters and noisy test metrics) is
(E, δ)-DP for every row of the file, by random stopping (Papernot & Steinke,
ICLR 2022): a secret, random number of runs, each the same mechanism with
hyperparameters drawn from a fixed prior, each scoring itself from noisy
counts, the best one released.

* :mod:`~trifront.privtune.count`: the distribution of the number of runs;
* :mod:`~trifront.privtune.prior`: the fixed prior of the candidates;
* :mod:`~trifront.privtune.scoring`: noisy counts and the scores read from them;
* :mod:`~trifront.privtune.budget`: one run's noise for a study budget E
  (the accountant: :func:`trifront.privacy.accounting.study_epsilon`);
* :mod:`~trifront.privtune.study`: the study itself and its outputs.
"""

from trifront.privtune.budget import RunPlan, solve_run_plan
from trifront.privtune.count import RunCount
from trifront.privtune.prior import Prior, default_prior

__all__ = ["Prior", "RunCount", "RunPlan", "default_prior", "solve_run_plan"]
