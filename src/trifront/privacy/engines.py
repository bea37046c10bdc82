"""Front door of DP-SGD training: :func:`train` picks an engine and logs the run."""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from trifront.errors import unknown_name
from trifront.privacy import fast_engine, opacus_engine
from trifront.privacy.accounting import sampling_schedule
from trifront.privacy.dpsgd import (
    FairTerm,
    StepObserver,
    TrainConfig,
    TrainLog,
    check_data,
    make_generators,
)

ENGINES: tuple[str, ...] = ("opacus", "fast")
"""Names accepted by :func:`train`: the Opacus reference and the fast vectorised engine."""

_RUNNERS = {"opacus": opacus_engine.run, "fast": fast_engine.run}


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    *,
    seed: int,
    engine: str = "fast",
    sample_weight: torch.Tensor | None = None,
    fair: FairTerm | None = None,
    n_public: int | None = None,
    observe: StepObserver | None = None,
    adaptive: FairTerm | None = None,
) -> TrainLog:
    """Train ``model`` in place with Poisson-subsampled DP-SGD (or plain SGD).

    Takes ``steps = round(epochs / q)`` steps at sampling rate
    ``q = batch_size / n_public`` (from
    :func:`~trifront.privacy.accounting.sampling_schedule`, the numbers the
    accountant uses); each step's batch is Poisson-sampled over the actual rows
    of ``X``. See :mod:`trifront.privacy.dpsgd` for the exact step. The same
    seed, data and config give the same model.

    Args:
        model: The module to train (``n x d`` -> logits ``(n,)``); updated in place.
        X: Training features, shape ``n x d`` (cast to the model's dtype).
        y: Labels in ``{0, 1}``, shape ``(n,)``.
        config: The training spec.
        seed: Seed of batch sampling and noise. It must be secret (DESIGN.md
            privacy rule 7): whoever knows it can replay the run and decide
            membership exactly. Callers draw it from the operating system.
        engine: ``"fast"`` (built-in models only) or ``"opacus"`` (the reference,
            any model Opacus supports).
        sample_weight: Optional per-example loss weights, shape ``(n,)``. Each
            per-example loss is multiplied by its weight *before* clipping, so the
            sensitivity stays ``C``.
        fair: Optional fair-loss term ``a_i sigmoid(z_i)`` added to each
            per-example loss (also before clipping), its coefficients refreshed
            several times per epoch from the current logits of all of ``X``
            (:class:`~trifront.privacy.dpsgd.FairTerm`). The term must privatise
            what it reads; its cost is the caller's to account.
        n_public: The public training-row count the schedule comes from
            (DESIGN.md privacy rule 8: q and T never depend on the private
            count). None uses ``len(X)``: only for callers whose row count is
            public (tests, benchmarks).
        observe: Optional white-box view of every step's noisy gradient sum
            (:class:`~trifront.privacy.dpsgd.StepObserver`), for audits.
        adaptive: Optional loss weights refreshed like ``fair`` (same
            protocol: ``refresh(logits)`` returns one weight per row), which
            multiply ``sample_weight`` before clipping. The term must
            privatise what it reads; its cost is the caller's to account.

    Returns:
        What happened; ``diverged=True`` (rather than an exception) when the loss
        or the parameters became non-finite.

    Raises:
        ConfigError: If ``engine`` is unknown, or ``"fast"`` is asked for a model
            it does not support, or the schedule is invalid for ``n``.
        DataError: If the data are malformed.
    """
    if engine not in ENGINES:
        raise unknown_name("engine", engine, ENGINES)
    if engine == "fast":
        fast_engine._check_model(model)
    param = next(model.parameters())
    X, y, sample_weight = check_data(X, y, sample_weight, param.dtype)
    n = len(X)
    n_schedule = n if n_public is None else int(n_public)
    q, steps = sampling_schedule(
        n_train=n_schedule, batch_size=config.batch_size, epochs=config.epochs
    )
    g_sample, g_noise = make_generators(seed)
    model.train()
    start = time.perf_counter()
    record = _RUNNERS[engine](
        model,
        X,
        y,
        sample_weight,
        config,
        sample_rate=q,
        steps=steps,
        sampling_generator=g_sample,
        noise_generator=g_noise,
        fair=fair,
        expected_batch_size=q * n_schedule,
        observe=observe,
        adaptive=adaptive,
    )
    seconds = time.perf_counter() - start
    losses = record.losses
    sizes = record.batch_sizes.double()
    last = losses[-math.ceil(1 / q) :]
    return TrainLog(
        engine=engine,
        n_train=n,
        steps=steps,
        steps_done=len(losses),
        sample_rate=q,
        expected_batch_size=q * n_schedule,
        noise_multiplier=float(config.noise_multiplier),
        max_grad_norm=None if config.max_grad_norm is None else float(config.max_grad_norm),
        seconds=seconds,
        mean_loss=float(losses.mean()) if len(losses) else math.nan,
        last_loss=float(last.mean()) if len(last) else math.nan,
        batch_size_mean=float(sizes.mean()) if len(sizes) else 0.0,
        batch_size_std=float(sizes.std()) if len(sizes) > 1 else 0.0,
        batch_size_min=int(record.batch_sizes.min()) if len(sizes) else 0,
        batch_size_max=int(record.batch_sizes.max()) if len(sizes) else 0,
        empty_batches=int((record.batch_sizes == 0).sum()),
        diverged=record.diverged,
    )
