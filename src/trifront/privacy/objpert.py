"""A second DP mechanism: objective-perturbation logistic regression (diffprivlib).

diffprivlib's ``LogisticRegression`` (Chaudhuri, Monteleoni & Sarwate 2011,
the vector mechanism) perturbs the training objective once and is pure
epsilon-DP: delta = 0, which is (epsilon, delta)-DP for every delta, so it sits
on the same axis as DP-SGD's epsilon at the study's delta.

Its guarantee needs every row's L2 norm bounded by ``data_norm``; diffprivlib
clips rows to that norm. We take the bound from the data set's *public* schema
(each numeric feature lies in [0, 1], each one-hot block has norm at most 1),
never from the rows.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from trifront.datasets import Dataset
from trifront.errors import PrivacyError


def public_row_norm(ds: Dataset) -> float:
    """Largest possible L2 norm of an encoded row, from the card's schema alone.

    Each numeric feature is scaled into [0, 1] and each categorical block is a
    one-hot vector (norm <= 1), so the bound is sqrt(number of features).
    """
    return math.sqrt(len(ds.card.features))


def train_objective_perturbation(
    ds: Dataset, *, epsilon: float, regularisation: float, seed: int
) -> tuple[object, float]:
    """Fit diffprivlib's epsilon-DP logistic regression on the training split.

    Args:
        ds: The encoded data set.
        epsilon: Pure-DP budget (> 0, finite).
        regularisation: Inverse L2 strength ``C`` (sklearn's convention).
        seed: Seed of the mechanism's noise.

    Returns:
        The fitted classifier (``predict_proba``) and the seconds it took.

    Raises:
        PrivacyError: If epsilon is not positive and finite.
    """
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise PrivacyError(
            f"objective perturbation needs a finite `epsilon > 0`, but got epsilon={epsilon}."
        )
    from diffprivlib.models import LogisticRegression

    start = time.perf_counter()
    model = LogisticRegression(
        epsilon=float(epsilon),
        data_norm=public_row_norm(ds),
        C=float(regularisation),
        random_state=int(seed),
        max_iter=200,
    )
    with warnings.catch_warnings():
        # diffprivlib passes L-BFGS-B options that SciPy has deprecated, and
        # warns when its own optimiser stops at max_iter; neither touches privacy.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            from sklearn.exceptions import ConvergenceWarning

            warnings.simplefilter("ignore", ConvergenceWarning)
        except ImportError:  # pragma: no cover
            pass
        model.fit(ds.train.X.astype(np.float64), ds.train.y)
    return model, time.perf_counter() - start
