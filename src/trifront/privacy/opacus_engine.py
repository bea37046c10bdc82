"""The reference DP-SGD engine: Opacus' own parts, used as documented.

Per-example gradients come from ``opacus.GradSampleModule``; clipping and noise
from ``opacus.optimizers.DPOptimizer`` (``secure_mode=False``); batches from
Opacus' Poisson sampler ``UniformWithReplacementSampler`` behind a DataLoader
whose collate function yields correctly shaped empty batches (what
``DPDataLoader`` builds, with the number of steps set to the whole run instead
of one epoch). It works for any model Opacus supports; it is the yardstick the
fast engine is tested against.

Opacus is imported lazily, so ``import trifront`` stays light for workers that
use only the fast engine.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data._utils.collate import default_collate

from trifront.privacy.dpsgd import (
    FairTerm,
    RunRecord,
    StepObserver,
    TailAverage,
    TrainConfig,
    epoch_starts,
    params_finite,
)

_OPACUS_ATTRS = ("grad_sample", "summed_grad", "_forward_counter", "_processed")


@contextlib.contextmanager
def _quiet_hooks() -> Iterator[None]:
    """Silence torch's notice that Opacus' backward hooks see no input gradients.

    Opacus' hooks only need the gradients w.r.t. module outputs, so the notice
    (a UserWarning from torch, not Opacus) is expected and harmless here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Full backward hook is firing", category=UserWarning
        )
        yield


def _weighted_loss_terms(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor | None,
    a: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-example losses ``w_i * BCE(f(x_i), y_i) + a_i * sigmoid(f(x_i))``, shape ``(b,)``.

    ``a_i`` is the optional fair-loss coefficient (:class:`~trifront.privacy.dpsgd.FairTerm`);
    Opacus differentiates (and clips) the whole per-example loss.
    """
    z = model(x).reshape(-1)
    terms = binary_cross_entropy_with_logits(z, y, reduction="none")
    if w is not None:
        terms = terms * w
    if a is not None:
        terms = terms + a * torch.sigmoid(z)
    return terms


def _strip_opacus(model: nn.Module) -> None:
    """Remove the attributes Opacus leaves on parameters, and their gradients."""
    for p in model.parameters():
        for attr in _OPACUS_ATTRS:
            if hasattr(p, attr):
                delattr(p, attr)
        p.grad = None


@_quiet_hooks()
def clipped_grad_sum(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    max_grad_norm: float,
    sample_weight: torch.Tensor | None = None,
    fair_coef: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Opacus' clipped per-example gradient sum on one fixed batch (no noise).

    Per-example gradients of ``w_i * BCE(f(x_i), y_i) + a_i * sigmoid(f(x_i))``
    from ``GradSampleModule``,
    clipped and summed by ``DPOptimizer.clip_and_accumulate``. The model is left
    unchanged (no hooks, no gradients).

    Args:
        model: Any module Opacus supports, mapping ``b x d`` to logits ``(b,)``.
        X: Batch features, shape ``b x d``.
        y: Batch labels in ``{0, 1}``, shape ``(b,)``.
        max_grad_norm: Clipping norm ``C``.
        sample_weight: Optional per-example loss weights, shape ``(b,)``.
        fair_coef: Optional fair-loss coefficients ``a_i``, shape ``(b,)``.

    Returns:
        One tensor per parameter (in ``model.parameters()`` order, each of that
        parameter's shape): ``sum_i min(1, C / (||g_i|| + 1e-6)) g_i``.
    """
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    gsm = GradSampleModule(model, loss_reduction="sum")
    try:
        params = [p for p in model.parameters() if p.requires_grad]
        opt = DPOptimizer(
            torch.optim.SGD(params, lr=0.0),
            noise_multiplier=0.0,
            max_grad_norm=max_grad_norm,
            expected_batch_size=1,
            loss_reduction="sum",
        )
        opt.zero_grad(set_to_none=True)
        _weighted_loss_terms(gsm, X, y.to(X.dtype), sample_weight, fair_coef).sum().backward()
        opt.clip_and_accumulate()
        out = [p.summed_grad.detach().clone().view_as(p) for p in params]  # type: ignore[attr-defined]
    finally:
        gsm.cleanup()
        _strip_opacus(model)
    return out


def _poisson_loader(
    X: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    idx: torch.Tensor,
    *,
    sample_rate: float,
    steps: int,
    generator: torch.Generator,
) -> DataLoader:
    """A DataLoader of ``steps`` Poisson batches (possibly empty) of ``(x, y, w, index)``."""
    from opacus.data_loader import wrap_collate_with_empty
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    sampler = UniformWithReplacementSampler(
        num_samples=len(X), sample_rate=sample_rate, generator=generator, steps=steps
    )
    collate = wrap_collate_with_empty(
        collate_fn=default_collate,
        sample_empty_shapes=[(0, *X.shape[1:]), (0,), (0,), (0,)],
        dtypes=[X.dtype, y.dtype, w.dtype, idx.dtype],
    )
    # The loader's own generator only seeds worker processes (none here); a
    # private one keeps the global torch random state untouched.
    return DataLoader(
        TensorDataset(X, y, w, idx),
        batch_sampler=sampler,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(0),
    )


@_quiet_hooks()
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
    """Train ``model`` in place with Opacus (or plain torch when non-private).

    Args:
        model: The module to train; its own parameters are updated.
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
        sampling_generator: Generator of the batch masks.
        noise_generator: Generator of the Gaussian noise.
        fair: Optional fair-loss term, refreshed with the logits of all of ``X``
            at the steps of :func:`~trifront.privacy.dpsgd.epoch_starts`.
        observe: Optional white-box view of each step's noisy sum (audits only):
            the gradient the optimiser stepped with, times ``q n``.
        adaptive: Optional refreshed loss weights (multiplying ``sample_weight``),
            refreshed at the same steps as ``fair``.

    Returns:
        The per-step losses and batch sizes, and whether training diverged.
    """
    n = len(X)
    ebs = sample_rate * n if expected_batch_size is None else float(expected_batch_size)
    w = torch.ones_like(y) if sample_weight is None else sample_weight
    loader = _poisson_loader(
        X, y, w, torch.arange(n), sample_rate=sample_rate, steps=steps,
        generator=sampling_generator,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    base = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    per_epoch = math.ceil(1 / sample_rate)
    losses: list[float] = []
    sizes: list[int] = []
    diverged = False
    average = TailAverage(params, steps=steps, share=config.tail_average)

    gsm = None
    if config.private:
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        gsm = GradSampleModule(model, loss_reduction="sum")
        # GradSampleModule(sum) gives per-example gradients of the summed loss;
        # DPOptimizer(mean) then divides the noisy clipped sum by q * n.
        opt: torch.optim.Optimizer = DPOptimizer(
            base,
            noise_multiplier=config.noise_multiplier,
            max_grad_norm=float(config.max_grad_norm),  # type: ignore[arg-type]
            expected_batch_size=ebs,  # type: ignore[arg-type]
            loss_reduction="mean",
            generator=noise_generator,
            secure_mode=False,
        )
        net: nn.Module = gsm
    else:
        opt = base
        net = model
    try:
        coef = None
        dyn = None
        refreshed = fair is not None or adaptive is not None
        refresh_at = set(epoch_starts(steps, sample_rate)) if refreshed else set()
        for step, (xb, yb, wb, ib) in enumerate(loader):
            if step in refresh_at:
                with torch.no_grad():  # no grad: Opacus' hooks record nothing
                    logits = model(X).reshape(-1)
                if fair is not None:
                    coef = fair.refresh(logits).to(X.dtype)
                if adaptive is not None:
                    dyn = adaptive.refresh(logits).to(X.dtype)
            if dyn is not None:
                wb = wb * dyn[ib]
            opt.zero_grad(set_to_none=True)
            ab = None if coef is None else coef[ib]
            total = _weighted_loss_terms(net, xb, yb, wb, ab).sum()
            if config.private:
                total.backward()
            else:
                (total / ebs).backward()
            opt.step()
            average.add(step)
            if observe is not None:  # p.grad: the noisy sum over q n (DPOptimizer)
                observe(step, [p.grad.detach() * ebs if p.grad is not None
                               else torch.zeros_like(p) for p in params])
            value = total.item() / ebs
            losses.append(value)
            sizes.append(len(xb))
            if not math.isfinite(value) or (
                (step + 1) % per_epoch == 0 and not params_finite(model)
            ):
                diverged = True
                break
    finally:
        if gsm is not None:
            gsm.cleanup()
        _strip_opacus(model)
    diverged = diverged or not params_finite(model)
    if not diverged:
        average.write()
    return RunRecord(
        losses=torch.tensor(losses, dtype=torch.float64),
        batch_sizes=torch.tensor(sizes, dtype=torch.int64),
        diverged=diverged,
    )
