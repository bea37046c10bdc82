"""Outcome transforms of the trifront sampler, per objective index.

Three forms of the objectives (accuracy, epsilon, unfairness):

* natural units: what a trial reports;
* model form, what the GPs model (maximisation): ``logit(accuracy)``,
  ``-log10 eps``, ``-gap``;
* hypervolume form, what the sampler's hypervolume is measured in (the form
  of ``objectives.to_maximisation``): accuracy, ``-log10 eps``, ``-gap``.

Only accuracy differs between the model and the hypervolume forms.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["model_to_hv_torch", "to_hv_torch", "to_model_np", "to_model_torch"]

_ACC_CLAMP = 1e-4


def to_model_np(index: int, v: np.ndarray) -> np.ndarray:
    """Natural-unit objective ``index`` -> model (maximisation) form, numpy ``n``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if index == 0:
            p = np.clip(v, _ACC_CLAMP, 1 - _ACC_CLAMP)
            return np.log(p) - np.log1p(-p)
        if index == 1:
            return np.where(v > 0, -np.log10(np.where(v > 0, v, 1.0)), np.nan)
        return -v


def to_model_torch(index: int, v: torch.Tensor) -> torch.Tensor:
    """Natural-unit objective ``index`` -> model (maximisation) form, torch, any shape."""
    if index == 0:
        return torch.logit(v.clamp(_ACC_CLAMP, 1 - _ACC_CLAMP))
    if index == 1:
        return -torch.log10(v)
    return -v


def to_hv_torch(index: int, v: torch.Tensor) -> torch.Tensor:
    """Natural-unit objective ``index`` -> hypervolume (maximisation) form, any shape.

    The form of ``objectives.to_maximisation``: accuracy, ``-log10 eps``, ``-gap``.
    """
    if index == 0:
        return v
    return to_model_torch(index, v)


def model_to_hv_torch(index: int, v: torch.Tensor) -> torch.Tensor:
    """Model form -> hypervolume form: only accuracy differs (logit -> probability)."""
    return torch.sigmoid(v) if index == 0 else v
