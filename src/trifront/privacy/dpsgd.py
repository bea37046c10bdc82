"""What every DP-SGD engine shares: the training spec, the training log, the checks.

An engine trains a model in place with Poisson-subsampled DP-SGD:

* ``steps = round(epochs / q)`` steps with sampling rate ``q = batch_size / n``
  (both from :func:`trifront.privacy.accounting.sampling_schedule`, so the
  training and the accountant agree);
* at each step every example is in the batch with probability ``q``,
  independently (empty batches happen and still receive noise);
* every per-example gradient of the whole per-example loss
  ``w_i * BCE(f(x_i), y_i) + a_i * sigmoid(f(x_i))`` (``a_i``: the optional
  fair-loss coefficient, see :class:`FairTerm`; 0 without it) is clipped to
  norm ``C`` (factor ``min(1, C / (||g_i|| + 1e-6))``, Opacus'
  convention, over the whole parameter vector), summed, and Gaussian noise of
  standard deviation ``sigma * C`` per coordinate is added to the sum;
* the noisy sum is divided by the *expected* batch size ``q * n``, ``n`` the
  public row count (so the noise on the averaged gradient has std
  ``sigma * C / (q * n)``) and an SGD step is taken;
* with ``tail_average > 0`` the returned model is the mean of the iterates
  after the last ``tail_average`` share of the steps (:class:`TailAverage`)
  instead of the last iterate. Each iterate is a function of the released
  noisy sums (and the public initialisation) alone, so their mean is
  post-processing: it costs no privacy, and it damps the noise of the final
  steps (on Adult at ε = 1 it cuts the seed-to-seed spread of the fairness
  gap by half or more, ``bench/RESULTS.md``).

With ``max_grad_norm=None`` the same loop runs without clipping or noise
(non-private training).

A :class:`FairTerm` is refreshed :data:`FAIR_REFRESHES_PER_EPOCH` times per
epoch (at the steps of :func:`epoch_starts`) with the current logits of all
training rows; what it reads from them must be privatised by the term itself
(its cost is composed by the caller's accountant).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from trifront.errors import ConfigError, DataError

CLIP_EPS = 1e-6
"""Added to per-example norms in the clip factor ``C / (||g|| + CLIP_EPS)`` (as Opacus)."""


class FairTerm(Protocol):
    """A per-example fair-loss term ``a_i * sigmoid(z_i)`` whose coefficients are refreshed.

    ``refresh(logits)`` receives the current logits of all ``n`` training rows
    (shape ``(n,)``) at the steps of :func:`epoch_starts` and returns the coefficients
    ``a`` (shape ``(n,)``) used until the next refresh. ``a_i`` may depend only
    on example ``i`` and on privatised (or declared public) quantities.
    """

    def refresh(self, logits: torch.Tensor) -> torch.Tensor:
        """New per-example coefficients from the current logits."""
        ...


class StepObserver(Protocol):
    """Sees each step's noisy gradient sum (the audit's white-box view; None in training).

    Called once per step, after the noise is added and before the update, with
    the step index and ``sum_i clip(g_i) + N(0, (sigma C)^2 I)`` as one tensor
    per parameter (``model.parameters()`` order and shapes). Every engine
    passes the same quantity, so an audit reads both engines the same way.
    """

    def __call__(self, step: int, noisy_sum: list[torch.Tensor]) -> None:
        """Record one step."""
        ...


FAIR_REFRESHES_PER_EPOCH = 4
"""How many times per epoch a :class:`FairTerm` is refreshed (each refresh is one release)."""


def epoch_starts(steps: int, sample_rate: float) -> list[int]:
    """The steps at which a :class:`FairTerm` is refreshed.

    An epoch is ``e = ceil(1 / q)`` steps; the term is refreshed every
    ``ceil(e / FAIR_REFRESHES_PER_EPOCH)`` steps, so that the coefficients do
    not overshoot parity within an epoch.

    Args:
        steps: Number of steps of the run.
        sample_rate: Poisson rate ``q``.

    Returns:
        ``[0, k, 2k, ...]`` below ``steps``.
    """
    every = math.ceil(math.ceil(1 / sample_rate) / FAIR_REFRESHES_PER_EPOCH)
    return list(range(0, steps, every))


def average_start(steps: int, share: float) -> int:
    """The first step whose resulting iterate enters the tail average.

    Args:
        steps: Number of steps of the run.
        share: The ``tail_average`` share in ``[0, 1]``.

    Returns:
        ``steps - max(1, round(share * steps))`` (at least 0) when ``share > 0``:
        the average then holds at least the last iterate; ``steps`` (no
        iterate: the last one is returned as it is) when ``share == 0``.
    """
    if share <= 0:
        return steps
    return max(0, steps - max(1, round(share * steps)))


class TailAverage:
    """The running mean of a run's last iterates (Polyak–Ruppert tail averaging).

    An engine calls :meth:`add` after each step's update with the step index;
    the iterates from :func:`average_start` on are summed (in float64), and
    :meth:`write` replaces the parameters by their mean. Reads parameters
    only, never data: post-processing of the noisy updates.

    Args:
        params: The tensors updated in place by the engine (flat or per layer).
        steps: Number of steps of the run.
        share: The share of the last steps averaged (0: off).
    """

    def __init__(self, params: Sequence[torch.Tensor], *, steps: int, share: float) -> None:
        self.params = params
        self.start = average_start(steps, share)
        self.count = 0
        self.sums = ([torch.zeros_like(p, dtype=torch.float64) for p in params]
                     if self.start < steps else [])

    def add(self, step: int) -> None:
        """Count the iterate after step ``step`` if it is in the tail."""
        if step < self.start or not self.sums:
            return
        for total, p in zip(self.sums, self.params, strict=True):
            total.add_(p.detach())
        self.count += 1

    def write(self) -> None:
        """Replace the parameters by the mean of the counted iterates (none: no change)."""
        if not self.count:
            return
        with torch.no_grad():
            for total, p in zip(self.sums, self.params, strict=True):
                p.copy_((total / self.count).to(p.dtype))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one (DP-)SGD training run.

    Attributes:
        lr: Learning rate, ``> 0``.
        epochs: Number of epochs, ``>= 1``; the run takes ``round(epochs / q)`` steps.
        batch_size: *Expected* batch size; the sampling rate is ``q = batch_size / n_train``.
        max_grad_norm: Per-example clipping norm ``C > 0``; ``None`` trains without
            privacy (no clipping, no noise).
        noise_multiplier: ``sigma >= 0``; the noise on the clipped gradient sum has std
            ``sigma * C``. Must be ``0.0`` when ``max_grad_norm`` is ``None``.
        momentum: SGD momentum in ``[0, 1)``.
        tail_average: Share in ``[0, 1]`` of the last steps whose iterates are
            averaged into the returned model (0: the last iterate).

    Raises:
        ConfigError: If a value is out of its range (checked at construction).
    """

    lr: float
    epochs: int
    batch_size: int
    max_grad_norm: float | None
    noise_multiplier: float
    momentum: float = 0.0
    tail_average: float = 0.0

    def __post_init__(self) -> None:
        if not _is_number(self.lr) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"`lr > 0` must hold, but got lr={self.lr!r}.")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"`epochs` must be an integer >= 1, but got epochs={self.epochs!r}.")
        if (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int)
            or self.batch_size < 1
        ):
            raise ConfigError(
                f"`batch_size` must be an integer >= 1, but got batch_size={self.batch_size!r}."
            )
        c = self.max_grad_norm
        if c is not None and (not _is_number(c) or not math.isfinite(c) or c <= 0):
            raise ConfigError(
                "`max_grad_norm` must be None (non-private) or a finite number > 0, "
                f"but got max_grad_norm={c!r}."
            )
        s = self.noise_multiplier
        if not _is_number(s) or not math.isfinite(s) or s < 0:
            raise ConfigError(
                f"`noise_multiplier >= 0` must hold and be finite, but got noise_multiplier={s!r}."
            )
        if c is None and s != 0:
            raise ConfigError(
                "`noise_multiplier` must be 0.0 when max_grad_norm is None (non-private "
                f"training), but got noise_multiplier={s!r}; set max_grad_norm to clip."
            )
        m = self.momentum
        if not _is_number(m) or not 0 <= m < 1:
            raise ConfigError(f"`0 <= momentum < 1` must hold, but got momentum={m!r}.")
        a = self.tail_average
        if not _is_number(a) or not 0 <= a <= 1:
            raise ConfigError(f"`0 <= tail_average <= 1` must hold, but got tail_average={a!r}.")

    @property
    def private(self) -> bool:
        """True when gradients are clipped (and noised): ``max_grad_norm`` is set."""
        return self.max_grad_norm is not None


@dataclass(frozen=True)
class TrainLog:
    """What happened during one training run.

    Attributes:
        engine: Engine name (``"opacus"`` or ``"fast"``).
        n_train: Number of training examples ``n``.
        steps: Planned number of steps ``round(epochs / q)`` (what the accountant counts).
        steps_done: Steps actually taken (fewer only if training diverged).
        sample_rate: Poisson sampling rate ``q``.
        expected_batch_size: ``q * n``, the divisor of the gradient sum.
        noise_multiplier: ``sigma``.
        max_grad_norm: ``C``, or ``None`` for non-private training.
        seconds: Wall-clock seconds of the training loop.
        mean_loss: Mean over steps of the batch loss ``sum_i w_i l_i / (q n)``.
        last_loss: Mean batch loss over the last epoch's steps (the last
            ``ceil(1 / q)`` steps).
        batch_size_mean: Mean realised batch size.
        batch_size_std: Standard deviation of the realised batch sizes.
        batch_size_min: Smallest realised batch size.
        batch_size_max: Largest realised batch size.
        empty_batches: Number of steps with an empty batch (noise still added).
        diverged: True if the loss or the parameters became non-finite; training
            stopped at the end of that epoch and the model is unusable.
    """

    engine: str
    n_train: int
    steps: int
    steps_done: int
    sample_rate: float
    expected_batch_size: float
    noise_multiplier: float
    max_grad_norm: float | None
    seconds: float
    mean_loss: float
    last_loss: float
    batch_size_mean: float
    batch_size_std: float
    batch_size_min: int
    batch_size_max: int
    empty_batches: int
    diverged: bool


@dataclass(frozen=True)
class RunRecord:
    """Raw output of an engine's loop, turned into a :class:`TrainLog` by ``train``.

    Attributes:
        losses: Per-step batch losses, shape ``(steps_done,)``.
        batch_sizes: Per-step realised batch sizes, shape ``(steps_done,)``.
        diverged: Whether a non-finite loss or parameter was seen.
    """

    losses: torch.Tensor
    batch_sizes: torch.Tensor
    diverged: bool


def make_generators(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Independent, seeded generators for batch sampling and for noise.

    Both engines use this, so the same seed gives the same batches and the same
    noise draws in either engine.

    Args:
        seed: Any non-negative integer.

    Returns:
        ``(sampling_generator, noise_generator)`` (CPU).
    """
    s_sample, s_noise = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    g_sample = torch.Generator().manual_seed(int(s_sample) >> 1)
    g_noise = torch.Generator().manual_seed(int(s_noise) >> 1)
    return g_sample, g_noise


def check_data(
    X: torch.Tensor,
    y: torch.Tensor,
    sample_weight: torch.Tensor | None,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Validate training data and cast it to the model's dtype.

    Args:
        X: Features, shape ``n x d``.
        y: Labels in ``{0, 1}``, shape ``(n,)``.
        sample_weight: Optional finite per-example loss weights, shape ``(n,)``.
        dtype: The model's parameter dtype.

    Returns:
        ``(X, y, sample_weight)`` as contiguous tensors of ``dtype``.

    Raises:
        DataError: On a shape mismatch, an empty set, labels outside ``{0, 1}``
            or non-finite values.
    """
    X = torch.as_tensor(X)
    y = torch.as_tensor(y)
    if X.ndim != 2 or X.shape[0] < 1:
        raise DataError(f"X must have shape n x d with n >= 1, but got shape {tuple(X.shape)}.")
    n = X.shape[0]
    if y.shape != (n,):
        raise DataError(f"y must have shape ({n},) to match X, but got shape {tuple(y.shape)}.")
    X = X.to(dtype).contiguous()
    y = y.to(dtype).contiguous()
    if X.numel() and not bool(torch.isfinite(torch.stack(torch.aminmax(X))).all()):
        raise DataError("X contains non-finite values (NaN or inf).")
    if not bool(((y == 0) | (y == 1)).all()):
        raise DataError("y must contain only 0 and 1.")
    if sample_weight is not None:
        w = torch.as_tensor(sample_weight)
        if w.shape != (n,):
            raise DataError(
                f"sample_weight must have shape ({n},) to match X, but got shape {tuple(w.shape)}."
            )
        w = w.to(dtype).contiguous()
        if not bool(torch.isfinite(w).all()):
            raise DataError("sample_weight contains non-finite values (NaN or inf).")
        sample_weight = w
    return X, y, sample_weight


def params_finite(model: torch.nn.Module) -> bool:
    """True when every parameter of ``model`` is finite."""
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())
