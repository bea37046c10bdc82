"""Trials as the model sees them: params <-> unit cube, and the training data.

``Space`` maps the numeric dims of the sampler's relative search space to the
unit cube and back; ``training_data`` turns an Optuna study's trials into unit
inputs and model-form outcomes (``transforms``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from trifront.objectives import OBJECTIVES
from trifront.search.transforms import to_model_np

__all__ = ["Space", "training_data"]


@dataclass(frozen=True)
class Space:
    """The numeric dims of the relative search space, sorted by name.

    Unit coordinates are ``(t(x) - t(low)) / (t(high) - t(low))`` with ``t = log``
    for log-scale dims and the identity otherwise.
    """

    names: tuple[str, ...]
    dists: tuple[FloatDistribution | IntDistribution, ...]

    @classmethod
    def from_distributions(cls, space: Mapping[str, BaseDistribution]) -> Space:
        names = tuple(sorted(space))
        return cls(names, tuple(space[n] for n in names))  # type: ignore[misc]

    @property
    def dim(self) -> int:
        return len(self.names)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        log = np.array([d.log for d in self.dists], dtype=bool)
        low = np.array([math.log(d.low) if d.log else d.low for d in self.dists], dtype=float)
        high = np.array([math.log(d.high) if d.log else d.high for d in self.dists], dtype=float)
        return low, high, log

    def to_unit(self, params: Mapping[str, Any]) -> np.ndarray:
        """Params -> unit-cube point of shape ``d``."""
        lo, hi, log = self._bounds()
        x = np.array(
            [
                math.log(params[n]) if d.log else float(params[n])
                for n, d in zip(self.names, self.dists, strict=True)
            ]
        )
        return np.clip((x - lo) / (hi - lo), 0.0, 1.0)

    def to_params(self, u: np.ndarray) -> dict[str, Any]:
        """Unit-cube point (shape ``d``) -> valid params: rounded to steps, clipped."""
        return self.to_params_rows(np.asarray(u, dtype=float).reshape(1, -1))[0]

    def to_params_rows(self, U: np.ndarray) -> list[dict[str, Any]]:
        """Unit-cube points ``n x d`` -> ``n`` valid params dicts (rounded, clipped)."""
        lo, hi, log = self._bounds()
        t = lo + np.clip(U, 0.0, 1.0) * (hi - lo)
        x = np.where(log, np.exp(t), t)
        for j, dist in enumerate(self.dists):
            if dist.step is not None:
                x[:, j] = dist.low + np.round((x[:, j] - dist.low) / dist.step) * dist.step
        x = np.clip(x, [d.low for d in self.dists], [d.high for d in self.dists])
        columns = [
            np.round(x[:, j]).astype(int).tolist()
            if isinstance(d, IntDistribution)
            else x[:, j].tolist()
            for j, d in enumerate(self.dists)
        ]
        return [dict(zip(self.names, row, strict=True)) for row in zip(*columns, strict=True)]

    def to_param_tensors(self, X: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unit-cube ``batch_shape x n x d`` -> {name: ``batch_shape x n``}, unrounded."""
        lo, hi, log = self._bounds()
        lo_t, hi_t = X.new_tensor(lo), X.new_tensor(hi)
        t = lo_t + X * (hi_t - lo_t)
        return {
            name: (t[..., i].exp() if log[i] else t[..., i]) for i, name in enumerate(self.names)
        }


def training_data(
    space: Space, trials: Sequence[FrozenTrial], *, known: Collection[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit inputs ``n x d`` and model-form outcomes ``n x 3`` of usable trials,
    and the unit inputs ``p x d`` of the pending (RUNNING) trials.

    A COMPLETE trial is usable when it has every dim of ``space`` and three
    values whose model forms are finite for the learned objectives (those not
    in ``known``, the indices of the known objectives).
    """
    xs, ys, pending = [], [], []
    for t in trials:
        if not all(n in t.params for n in space.names):
            continue
        if t.state == TrialState.RUNNING:
            pending.append(space.to_unit(t.params))
            continue
        if t.values is None or len(t.values) != len(OBJECTIVES):
            continue
        v = np.asarray(t.values, dtype=float)
        y = np.array([to_model_np(i, v[i : i + 1])[0] for i in range(len(OBJECTIVES))])
        learned = [i for i in range(len(OBJECTIVES)) if i not in known]
        if not np.isfinite(y[learned]).all():
            continue
        xs.append(space.to_unit(t.params))
        ys.append(y)
    d = space.dim
    return (
        np.array(xs).reshape(-1, d),
        np.array(ys).reshape(-1, len(OBJECTIVES)),
        np.array(pending).reshape(-1, d),
    )
