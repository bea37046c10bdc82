"""The surrogate model of the trifront sampler: one GP per learned objective.

``fit_gp`` fits a ``SingleTaskGP`` (Standardize, learned noise: DP-SGD is
noisy) to one objective, optionally warm-started from the previous fit;
``FIT_WARNINGS`` are the warnings silenced while fitting and optimising, and
``ModelUnavailable`` says why no model-based proposal can be made.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from typing import TypeVar

import torch

with warnings.catch_warnings():
    # botorch imports linear_operator, which applies torch.jit.script at import time;
    # torch 2.13 deprecates it. Not ours to fix, and harmless.
    warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", DeprecationWarning)
    from botorch.exceptions.warnings import (
        BadInitialCandidatesWarning,
        InputDataWarning,
        NumericsWarning,
        OptimizationWarning,
    )
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.input import Warp
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from gpytorch.utils.warnings import GPInputWarning
    from linear_operator.utils.warnings import NumericalWarning

__all__ = ["FIT_WARNINGS", "ModelUnavailable", "fit_gp"]

_Key = TypeVar("_Key", bound=Hashable)

# Warnings BoTorch / GPyTorch raise while fitting and optimising on small, noisy
# data (ill-conditioned covariance, L-BFGS stopping early, unstandardised data
# checks). They are not actionable for a caller and the result is still usable;
# anything that makes the result unusable raises and we fall back to Sobol.
FIT_WARNINGS: tuple[type[Warning], ...] = (
    OptimizationWarning,
    NumericsWarning,
    InputDataWarning,
    BadInitialCandidatesWarning,
    NumericalWarning,
    GPInputWarning,
)


class ModelUnavailable(Exception):
    """The model-based proposal cannot be made; the reason is the message."""


def fit_gp(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    input_warping: bool,
    warm_start: bool,
    states: dict[_Key, dict[str, torch.Tensor]],
    key: _Key,
) -> SingleTaskGP:
    """A ``SingleTaskGP`` (Standardize, learned noise) fitted to ``X``, ``y``.

    Shapes: ``X`` is ``n x d``, ``y`` is ``n x 1``.

    With ``warm_start``, the hyperparameters start from ``states[key]`` (the
    previous fit of the same objective and input dimension), so L-BFGS needs
    few steps; the outcome transform is always recomputed from ``y``. The
    fitted hyperparameters are stored in ``states[key]``.

    Args:
        X: Unit-cube inputs, ``n x d``.
        y: Model-form outcomes of one objective, ``n x 1``.
        input_warping: Learn a Kumaraswamy input warping per dimension.
        warm_start: Start from ``states[key]`` when it is there.
        states: Hyperparameters of previous fits, updated in place.
        key: Where this fit's hyperparameters live in ``states``.

    Returns:
        The fitted GP.
    """
    warp = None
    if input_warping:
        warp = Warp(d=X.shape[-1], indices=list(range(X.shape[-1])), bounds=None)
    model = SingleTaskGP(X, y, outcome_transform=Standardize(m=1), input_transform=warp)
    previous = states.get(key) if warm_start else None
    if previous is not None:
        try:
            model.load_state_dict(previous, strict=False)
        except RuntimeError:  # shapes changed: fit from the defaults
            states.pop(key, None)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    states[key] = {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if not k.startswith("outcome_transform") and "train" not in k
    }
    return model
