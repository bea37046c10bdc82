"""The fast DP-SGD engine: per-example gradients in closed form, no DataLoader.

For the built-in models only (:class:`~trifront.models.LogisticRegression` and
:class:`~trifront.models.MLP`). The whole training split stays in memory as
tensors. Each step:

1. takes a Poisson batch (drawn for a whole epoch at once by geometric
   skipping, :func:`~trifront.privacy.sampling.poisson_batches`);
2. runs the forward pass and the per-example logit gradient of the whole
   per-example loss ``w_i BCE(z_i, y_i) + a_i sigmoid(z_i)``:
   ``delta_i = w_i (p_i - y_i) + a_i p_i (1 - p_i)`` with ``p_i = sigmoid(z_i)``
   (``a_i``: the fair-loss coefficient, refreshed each epoch, see
   :class:`~trifront.privacy.dpsgd.FairTerm`). Each example's loss depends on
   its own logit only, so its gradient is ``delta_i`` times the gradient of
   ``z_i``, and clipping ``delta_i`` clips the whole per-example gradient;
3. computes each example's gradient norm without forming the gradient. For a
   linear layer with input ``a_i`` and output gradient ``g_i`` the per-example
   gradient is the outer product ``g_i a_i^T`` (plus ``g_i`` for the bias), of
   squared norm ``||g_i||^2 (||a_i||^2 + 1)``. For logistic regression and one
   hidden layer this is known in closed form before the backward pass (see
   :class:`~trifront.privacy.fast_kernels.FlatNet`), so ``delta`` itself is
   clipped and back-propagated; deeper networks back-propagate first and
   rescale each layer;
4. clips with ``c_i = min(1, C / (||g_i|| + 1e-6))`` over the whole parameter
   vector (Opacus' factor) and forms the clipped sum as matrix products
   ``a^T (c * g)``;
5. adds ``N(0, (sigma C)^2)`` per coordinate, divides by ``q n`` and takes an
   SGD (momentum) step on a flat copy of the parameters, written back to the
   model at the end (their tail average with ``tail_average > 0``).

Without ``max_grad_norm`` the same loop runs with ``c_i = 1`` and no noise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from trifront.errors import ConfigError
from trifront.models.modules import MLP, LogisticRegression
from trifront.privacy.dpsgd import (
    FairTerm,
    RunRecord,
    StepObserver,
    TailAverage,
    TrainConfig,
    epoch_starts,
)
from trifront.privacy.fast_kernels import FlatNet
from trifront.privacy.sampling import poisson_batches, poisson_indices

__all__ = [
    "SUPPORTED_MODELS",
    "clipped_grad_sum",
    "clipped_per_example_grads",
    "poisson_batches",
    "poisson_indices",
    "run",
]

SUPPORTED_MODELS: tuple[type[nn.Module], ...] = (LogisticRegression, MLP)
"""Model classes the fast engine trains (exact types, not subclasses)."""

_NOISE_BLOCK_NUMBERS = 1 << 20
"""Most Gaussian numbers drawn per call (noise for several steps at once)."""


def _check_model(model: nn.Module) -> list[nn.Linear]:
    if type(model) not in SUPPORTED_MODELS:
        names = ", ".join(cls.__name__ for cls in SUPPORTED_MODELS)
        raise ConfigError(
            f"the fast engine trains only the built-in models ({names}), but got "
            f"{type(model).__name__}; use engine='opacus' for other models."
        )
    return model.linear_layers()  # type: ignore[operator]


def clipped_grad_sum(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    max_grad_norm: float,
    sample_weight: torch.Tensor | None = None,
    fair_coef: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """The fast engine's clipped per-example gradient sum on one fixed batch (no noise).

    Runs the gradient computation of a training step (forward, hand-derived
    per-example gradients, clipping) without updating the model.

    Args:
        model: A built-in model (:data:`SUPPORTED_MODELS`).
        X: Batch features, shape ``b x d``.
        y: Batch labels in ``{0, 1}``, shape ``(b,)``.
        max_grad_norm: Clipping norm ``C``.
        sample_weight: Optional per-example loss weights, shape ``(b,)``.
        fair_coef: Optional fair-loss coefficients ``a_i`` (loss term
            ``a_i sigmoid(z_i)``), shape ``(b,)``.

    Returns:
        One tensor per parameter (``model.parameters()`` order and shapes):
        ``sum_i min(1, C / (||g_i|| + 1e-6)) g_i``.

    Raises:
        ConfigError: If the model is not a built-in model.
    """
    net = FlatNet(_check_model(model), max_grad_norm)
    with torch.no_grad():
        X = X.to(net.theta.dtype)
        w = None if sample_weight is None else sample_weight.to(X.dtype)
        a = None if fair_coef is None else fair_coef.to(X.dtype)
        net.step_grad(X, y.to(X.dtype), w, None, a)
    return net.grads_as_params()


# The same arguments as clipped_grad_sum on purpose: it runs it once per example.
def clipped_per_example_grads(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    max_grad_norm: float,
    sample_weight: torch.Tensor | None = None,
    fair_coef: torch.Tensor | None = None,
) -> torch.Tensor:
    """Each example's clipped gradient, flattened (a slow helper for tests and audits).

    Runs the training step's computations once per example, so row ``i``
    depends on example ``i`` alone.

    Args:
        model: A built-in model.
        X: Features, shape ``b x d``.
        y: Labels in ``{0, 1}``, shape ``(b,)``.
        max_grad_norm: Clipping norm ``C``.
        sample_weight: Optional per-example loss weights, shape ``(b,)``.
        fair_coef: Optional fair-loss coefficients, shape ``(b,)``.

    Returns:
        Clipped per-example gradients, shape ``b x P`` (``P`` = number of parameters,
        in ``model.parameters()`` order).
    """
    rows = []
    for i in range(len(X)):
        w = None if sample_weight is None else sample_weight[i : i + 1]
        a = None if fair_coef is None else fair_coef[i : i + 1]
        parts = clipped_grad_sum(model, X[i : i + 1], y[i : i + 1], max_grad_norm, w, a)
        rows.append(torch.cat([p.reshape(-1) for p in parts]))
    return torch.stack(rows)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_thread(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with one torch intra-op thread, restoring the count afterwards.

    A step is ~0.1 ms of small operations: more threads only add synchronisation.
    Measured: the report's test re-evaluation of the 24-trial demo study took
    177 s with torch's default 2 threads on a busy 2-core machine, 15.5 s with 1.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        threads = torch.get_num_threads()
        if threads == 1:
            return fn(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


# The same signature as opacus_engine.run on purpose: engines.train calls either one.
@_one_thread
def run(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    sample_weight: torch.Tensor | None,
    config: TrainConfig,
    *,
    sample_rate: float,
    steps: int,
    sampling_generator: torch.Generator,
    noise_generator: torch.Generator,
    fair: FairTerm | None = None,
    expected_batch_size: float | None = None,
    observe: StepObserver | None = None,
    adaptive: FairTerm | None = None,
) -> RunRecord:
    """Train a built-in model in place with the fast engine.

    Args:
        model: A built-in model; its parameters are updated at the end.
        X: Training features, shape ``n x d``, in the model's dtype.
        y: Labels in ``{0, 1}``, shape ``(n,)``.
        sample_weight: Optional per-example loss weights, shape ``(n,)``.
        config: The training spec.
        sample_rate: Poisson rate ``q``.
        steps: Number of steps.
        expected_batch_size: The divisor of the noisy gradient sum, ``q`` times
            the *public* row count (None: ``q * len(X)``, for a public ``n``).
            A divisor computed from the private count would scale every update
            by a function of the data.
        sampling_generator: Generator of the batches.
        noise_generator: Generator of the Gaussian noise.
        fair: Optional fair-loss term, refreshed at the steps of
            :func:`~trifront.privacy.dpsgd.epoch_starts`.
        observe: Optional white-box view of each step's noisy sum (audits only).
        adaptive: Optional refreshed loss weights (multiplying ``sample_weight``),
            refreshed at the same steps as ``fair``.

    Returns:
        The per-step losses and batch sizes, and whether training diverged.

    Raises:
        ConfigError: If the model is not a built-in model.
    """
    clip = config.max_grad_norm
    net = FlatNet(_check_model(model), clip)
    n = len(X)
    ebs = sample_rate * n if expected_batch_size is None else float(expected_batch_size)
    noise_std = config.noise_multiplier * clip if clip is not None else 0.0
    step_size = config.lr / ebs
    momentum = config.momentum
    buf = torch.zeros_like(net.theta) if momentum > 0 else None
    per_epoch = math.ceil(1 / sample_rate)
    # Noise is drawn for many steps per call (cheaper per number), at most ~4 MB at once.
    noise_rows = max(1, min(per_epoch, _NOISE_BLOCK_NUMBERS // net.theta.numel()))
    noise = torch.empty(noise_rows, net.theta.numel(), dtype=net.theta.dtype)
    losses: list[torch.Tensor] = []
    sizes: list[int] = []
    diverged = False
    average = TailAverage([net.theta], steps=steps, share=config.tail_average)

    with torch.no_grad():
        x_const = net.input_constant(X)  # once, gathered per batch
        coef = None
        weight = sample_weight
        refreshed = fair is not None or adaptive is not None
        refresh_at = set(epoch_starts(steps, sample_rate)) if refreshed else set()
        for first in range(0, steps, per_epoch):
            block = min(per_epoch, steps - first)
            indices, offsets = poisson_batches(n, sample_rate, block, sampling_generator)
            for k in range(block):
                lo, hi = offsets[k], offsets[k + 1]
                idx = indices[lo:hi]
                if first + k in refresh_at:
                    logits = net.logits(X)
                    if fair is not None:
                        coef = fair.refresh(logits).to(X.dtype)
                    if adaptive is not None:
                        dyn = adaptive.refresh(logits).to(X.dtype)
                        weight = dyn if sample_weight is None else sample_weight * dyn
                yb = y.index_select(0, idx)
                wb = None if weight is None else weight.index_select(0, idx)
                ab = None if coef is None else coef.index_select(0, idx)
                z = net.step_grad(
                    X.index_select(0, idx),
                    yb,
                    wb,
                    None if x_const is None else x_const.index_select(0, idx),
                    ab,
                )
                if noise_std > 0:
                    row = (first + k) % noise_rows
                    if row == 0:
                        noise.normal_(0.0, noise_std, generator=noise_generator)
                    net.grad.add_(noise[row])
                if observe is not None:
                    observe(first + k, net.grads_as_params())
                if buf is not None:
                    buf.mul_(momentum).add_(net.grad)
                    net.theta.add_(buf, alpha=-step_size)
                else:
                    net.theta.add_(net.grad, alpha=-step_size)
                average.add(first + k)
                loss = binary_cross_entropy_with_logits(z, yb, weight=wb, reduction="sum")
                if ab is not None:
                    loss = loss + (ab * torch.sigmoid(z)).sum()
                losses.append(loss)
                sizes.append(hi - lo)
            if not (
                bool(torch.isfinite(torch.stack(losses[-block:])).all())
                and bool(torch.isfinite(net.theta).all())
            ):
                diverged = True
                break
        if not diverged:
            average.write()
    net.write_back()
    return RunRecord(
        losses=torch.stack(losses).double() / ebs,
        batch_sizes=torch.tensor(sizes, dtype=torch.int64),
        diverged=diverged,
    )
