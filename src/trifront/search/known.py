"""Known objectives: objectives that are functions of the params, not learned.

When the target epsilon is searched, epsilon is a known, deterministic function
of the params; the sampler then fits no GP for it and computes it exactly
inside the acquisition. ``known_function`` turns a ``KnownObjective`` into a
differentiable function of unit-cube inputs: by autograd when it accepts
tensors, else point by point with finite differences (``PointwiseKnown``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
from optuna.distributions import FloatDistribution

from trifront.objectives import OBJECTIVES
from trifront.search.encoding import Space
from trifront.search.model import ModelUnavailable
from trifront.search.transforms import to_hv_torch

__all__ = ["KnownObjective", "PointwiseKnown", "known_function", "known_target_epsilon"]

KnownObjective = Callable[[dict[str, Any]], Any]
"""A known objective: params -> value in natural units.

Called first with a dict of ``batch_shape x n`` tensors (continuous relaxation:
int dims unrounded) so that the acquisition optimiser gets autograd gradients; a
function that cannot take tensors is called once per point with valid (rounded)
params, and differentiated by central finite differences along float dims.
"""


class PointwiseKnown(torch.autograd.Function):
    """A point-by-point known objective with a finite-difference gradient.

    Forward: ``evaluate(X)`` for ``X`` of shape ``batch_shape x n x d`` gives
    ``batch_shape x n``. Backward: central differences (step ``1e-4`` in the unit
    cube, one-sided at the bounds) along the continuous dims ``smooth``; zero
    along int and stepped dims, which are rounded anyway.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        X: torch.Tensor,
        evaluate: Callable[[torch.Tensor], torch.Tensor],
        smooth: list[int],
    ) -> torch.Tensor:
        ctx.save_for_backward(X)
        ctx.evaluate, ctx.smooth = evaluate, smooth
        return evaluate(X.detach())

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        (X,) = ctx.saved_tensors
        X = X.detach()
        grad = torch.zeros_like(X)
        for j in ctx.smooth:
            up, down = X.clone(), X.clone()
            up[..., j] = (X[..., j] + 1e-4).clamp(max=1.0)
            down[..., j] = (X[..., j] - 1e-4).clamp(min=0.0)
            width = up[..., j] - down[..., j]
            grad[..., j] = (ctx.evaluate(up) - ctx.evaluate(down)) / width
        return grad * grad_out.unsqueeze(-1), None, None


def known_target_epsilon(params: Mapping[str, Any]) -> Any:
    """The known privacy objective of the epsilon parametrisation.

    The trial solves sigma so that the accounted epsilon is at most the target
    and within 1% of it, so the target is the objective up to that tolerance.
    Returned as given (no ``float()``): the sampler calls it on tensors to get
    gradients of the acquisition through it.
    """
    return params["target_epsilon"]


def known_function(
    func: KnownObjective, *, index: int, space: Space, probe: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Known objective ``index`` as a differentiable function of unit ``X``.

    ``X`` is ``batch_shape x n x d``; the result ``batch_shape x n`` is in
    hypervolume form. Tensor-friendly functions are evaluated on all points
    at once and differentiated by autograd; others are evaluated point by
    point on valid (rounded) params, with central finite differences.

    Args:
        func: The known objective, params -> natural-unit value.
        index: Its objective index (0 accuracy, 1 epsilon, 2 unfairness).
        space: The unit-cube encoding of the params.
        probe: Unit inputs (``n x d``) tried first, to choose between the two
            ways of evaluating ``func``.

    Raises:
        ModelUnavailable: If ``func`` raises or is not finite at ``probe``
            point by point.
    """

    def vectorised(X: torch.Tensor) -> torch.Tensor:
        value = torch.as_tensor(func(space.to_param_tensors(X)), dtype=X.dtype)
        return to_hv_torch(index, value)

    def evaluate(X: torch.Tensor) -> torch.Tensor:
        rows = X.reshape(-1, X.shape[-1]).numpy()
        out = torch.tensor([float(func(p)) for p in space.to_params_rows(rows)], dtype=X.dtype)
        return to_hv_torch(index, out.reshape(X.shape[:-1]))

    smooth = [
        j for j, d in enumerate(space.dists) if isinstance(d, FloatDistribution) and d.step is None
    ]

    def pointwise(X: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, PointwiseKnown.apply(X, evaluate, smooth))

    try:
        y = vectorised(probe)
        ok = y.shape == probe.shape[:-1] and bool(torch.isfinite(y).all())
    except Exception:  # noqa: BLE001 - any failure means "not tensor-friendly"
        ok = False
    if ok:
        return vectorised
    try:
        y = pointwise(probe)
    except Exception as err:
        raise ModelUnavailable(f"known objective {OBJECTIVES[index]} raised {err!r}") from err
    if not torch.isfinite(y).all():
        raise ModelUnavailable(f"known objective {OBJECTIVES[index]} is not finite")
    return pointwise
