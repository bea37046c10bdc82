"""The fairness knobs that keep the DP guarantee: λ, α, the fair target, thresholds.

* **Fair-loss weight λ** (:class:`FairPenalty`): DP-SGD on ``ℓ_i + r_i`` with
  ``r_i = a_{c(i)} * sigmoid(z_i)``: a per-example term of example ``i``'s own
  soft prediction, times a coefficient of its (group, label) cell ``c(i)``.
  The coefficients are the gradient of ``λ * P`` with
  ``P = Σ_k sqrt(V_k + τ²)``, where ``V_k`` is the (size-weighted) variance of
  the groups' soft positive rates under condition ``k`` of the chosen metric
  (all examples for demographic parity, ``y = 1`` for equal opportunity, both
  labels separately for equalized odds), times ``n``: so ``(1/n) Σ_i r_i`` has
  the gradient of ``λ P``, and λ is "units of mean log-loss per unit of rate
  standard deviation between groups" on any data set. ``P`` is a smoothed
  (pseudo-Huber, τ = :data:`TAU`) standard deviation: proportional to the gap
  far from parity, quadratic near it, so the push fades smoothly instead of
  flipping sign (the instability of a sign-based penalty).
  The coefficients use the privatised cell counts (released once) and the
  privatised cell sums of ``sigmoid(z_i)`` at the current model (released
  several times per epoch, :func:`trifront.privacy.dpsgd.epoch_starts`):
  ``r_i`` depends on example ``i`` and on privatised quantities only, and
  its gradient is clipped with the rest.
* **Reweighing strength α** (:func:`reweighing_weights`): Kamiran–Calders
  weights ``P(g) P(y) / P(g, y)`` from the privatised counts, raised to α and
  normalised to mean 1; each per-example loss is weighted *before* clipping.
* **Fair target** (:class:`FairTarget`): a Lagrangian method that steers the
  training decisions' gap to a target, from privatised sums of the decisions
  ``1[z_i > 0]`` (one release per refresh); its multipliers act through loss
  weights or the coefficients of the term above (:data:`FAIR_TARGET_CHANNELS`).
* **Group thresholds**: see :mod:`trifront.fairness.thresholds`.

Each knob at 0 / off is plain DP-SGD: no statistic is released and the loss,
weights and thresholds are those of plain DP-SGD.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trifront.errors import ConfigError, unknown_name
from trifront.fairness.metrics import FAIRNESS_METRICS
from trifront.fairness.private_stats import noisy_cell_sums

FAIR_WEIGHT_OFF_BELOW = 1e-3
"""λ below this is off (exactly 0): the searched log-scale dimension reaches "off"."""
REWEIGH_MAX = 4.0
"""Largest α: above 1 the weights over-correct (push past Kamiran–Calders' independence)."""
REWEIGH_OFF_BELOW = 0.05
"""α below this is off (exactly 0): weights of ``w^α`` this close to 1 are not worth a release."""
THRESHOLDS_OFF_FROM = 0.2
"""A group-threshold target gap at or above this is off (Adult's unconstrained gap is ~0.18)."""
TAU = 0.02
"""Smoothing scale of the fair penalty, in units of rate standard deviation between groups."""
MIN_CELL = 1.0
"""Noisy counts are clamped to at least this (post-processing) before dividing by them."""
FAIR_TARGET_OFF_FROM = 0.2
"""A fair target at or above this is off (like the thresholds')."""
ADAPT_STEP = 2.0
"""Dual step of the fair target: multiplier change per unit of constraint violation.

Measured on Adult at ε = 1 (``bench/RESULTS.md``): with 2 the training gap settles
near the target (targets 0, 0.01, 0.02, 0.04 give -0.007, +0.006, +0.019, +0.047);
with 8 the multipliers overshoot (target 0.01 gives -0.043)."""
ADAPT_LOG_WEIGHT = 3.0
"""Each multiplier stays in ``[0, 3]``: no cell weighs more than e^6 times another."""


@dataclass(frozen=True)
class Knobs:
    """The fairness knobs of one trial, already mapped to "off" where they are off.

    Attributes:
        fair_weight: λ ``>= 0`` (0: off).
        reweigh: α in ``[0, REWEIGH_MAX]`` (0: off; 1: Kamiran–Calders).
        group_thresholds: Target gap of the per-group thresholds, or None (off).
        fair_target: Gap the fair target steers training to, or None (off).
    """

    fair_weight: float = 0.0
    reweigh: float = 0.0
    group_thresholds: float | None = None
    fair_target: float | None = None

    def __post_init__(self) -> None:
        if not (self.fair_weight >= 0 and math.isfinite(self.fair_weight)):
            raise ConfigError(f"`fair_weight >= 0` must hold, but got {self.fair_weight}.")
        if not 0 <= self.reweigh <= REWEIGH_MAX:
            raise ConfigError(
                f"`0 <= reweigh <= {REWEIGH_MAX:g}` must hold, but got {self.reweigh}."
            )
        gap = self.group_thresholds
        if gap is not None and not 0 < gap < 1:
            raise ConfigError(f"`0 < group_thresholds < 1` must hold, but got {gap}.")
        target = self.fair_target
        if target is not None and not 0 <= target < 1:
            raise ConfigError(f"`0 <= fair_target < 1` must hold, but got {target}.")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Knobs:
        """Read the knob parameters of a trial (missing: off), applying the off zones.

        Args:
            params: Trial parameters, with optional ``fair_weight``, ``reweigh``
                and ``group_thresholds``.

        Returns:
            The knobs; λ < :data:`FAIR_WEIGHT_OFF_BELOW`, α < :data:`REWEIGH_OFF_BELOW`
            and a gap >= :data:`THRESHOLDS_OFF_FROM` (or None) are off.
        """
        lam = float(params.get("fair_weight", 0.0) or 0.0)
        alpha = float(params.get("reweigh", 0.0) or 0.0)
        gap = params.get("group_thresholds")
        if not (lam >= 0 and math.isfinite(lam)):
            raise ConfigError(f"`fair_weight >= 0` must hold, but got {params['fair_weight']}.")
        if not 0 <= alpha <= REWEIGH_MAX:
            raise ConfigError(
                f"`0 <= reweigh <= {REWEIGH_MAX:g}` must hold, but got {params['reweigh']}."
            )
        gap_f = None if gap is None else float(gap)
        if gap_f is not None and not gap_f > 0:
            raise ConfigError(f"`group_thresholds > 0` must hold, but got {gap}.")
        target = params.get("fair_target")
        target_f = None if target is None else float(target)
        if target_f is not None and not (target_f >= 0 and math.isfinite(target_f)):
            raise ConfigError(f"`fair_target >= 0` must hold, but got {target}.")
        return cls(
            fair_weight=lam if lam >= FAIR_WEIGHT_OFF_BELOW else 0.0,
            reweigh=alpha if alpha >= REWEIGH_OFF_BELOW else 0.0,
            group_thresholds=gap_f if gap_f is not None and gap_f < THRESHOLDS_OFF_FROM
            else None,
            fair_target=target_f if target_f is not None and target_f < FAIR_TARGET_OFF_FROM
            else None,
        )

    @property
    def needs_counts(self) -> bool:
        """Whether the (group, label) counts are released."""
        return self.fair_weight > 0 or self.reweigh > 0 or self.fair_target is not None

    @property
    def sums_per_refresh(self) -> int:
        """Cell-sum releases at each refresh: one for λ's soft rates, one for the target's rates."""
        return int(self.fair_weight > 0) + int(self.fair_target is not None)

    @property
    def off(self) -> bool:
        """True when every knob is off: plain DP-SGD."""
        return (self.fair_weight == 0 and self.reweigh == 0 and self.group_thresholds is None
                and self.fair_target is None)


def _conditions(metric: str) -> tuple[tuple[int, ...], ...]:
    """Label sets conditioning the rates the metric compares."""
    if metric in ("demographic_parity", "demographic_parity_ratio"):
        return ((0, 1),)
    if metric == "equal_opportunity":
        return ((1,),)
    if metric == "equalized_odds":
        return ((0,), (1,))
    raise unknown_name("fairness metric", metric, FAIRNESS_METRICS)


def penalty_coefficients(
    counts: np.ndarray, sums: np.ndarray, *, weight: float, metric: str
) -> np.ndarray:
    """Per-cell coefficients ``a[g, y]`` of the fair term ``r_i = a * sigmoid(z_i)``.

    Pure post-processing of released statistics.

    Args:
        counts: (Noisy) counts, ``G x 2``.
        sums: (Noisy) sums of soft predictions, ``G x 2``.
        weight: λ.
        metric: The fairness metric whose rates are compared.

    Returns:
        ``G x 2`` coefficients (0 for labels outside every condition).
    """
    counts = np.maximum(np.asarray(counts, dtype=np.float64), MIN_CELL)
    sums = np.asarray(sums, dtype=np.float64)
    n = float(counts.sum())  # the (privatised) n scaling the term: (1/n) Σ r_i ~ λ P
    coef = np.zeros_like(counts)
    for labels in _conditions(metric):
        cols = list(labels)
        n_g = counts[:, cols].sum(axis=1)
        rate_g = np.clip(sums[:, cols].sum(axis=1) / n_g, 0.0, 1.0)
        n_k = n_g.sum()
        mean = float((n_g * rate_g).sum() / n_k)
        d = rate_g - mean
        var = float((n_g / n_k * d * d).sum())
        grad = d / (n_k * math.sqrt(var + TAU * TAU))
        coef[:, cols] += (weight * n * grad)[:, None]
    return coef


class _CellTerm:
    """What a refreshed fair term holds: the cells, the released counts, the sums' noise.

    :meth:`_release` is the one place a term reads the training rows during
    training: the ``G x 2`` (group, label) sums of a per-example value in
    ``[0, 1]`` (L2 sensitivity 1), with Gaussian noise of std ``sums_std``,
    one release per call (:func:`noisy_cell_sums`).
    """

    def __init__(
        self,
        *,
        metric: str,
        s: np.ndarray,
        y: np.ndarray,
        counts: np.ndarray,
        sums_std: float,
        generator: torch.Generator,
    ) -> None:
        self.metric = metric
        self.s = np.asarray(s, dtype=np.int64)
        self.y = np.asarray(y, dtype=np.int64)
        self.counts = np.asarray(counts, dtype=np.float64)
        self.n_groups = self.counts.shape[0]
        self.sums_std = float(sums_std)
        self.generator = generator
        self.refreshes = 0

    def _release(self, values: np.ndarray) -> np.ndarray:
        """One noisy release of the cell sums of ``values`` (counted in ``refreshes``)."""
        self.refreshes += 1
        return noisy_cell_sums(values, self.s, self.y, n_groups=self.n_groups,
                               std=self.sums_std, generator=self.generator)

    def _per_example(self, cell: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        """Each example's entry of a ``G x 2`` table, as a tensor like ``like``."""
        return torch.from_numpy(cell[self.s, self.y]).to(like.dtype)


class FairPenalty(_CellTerm):
    """The fair-loss term of DP-SGD, refreshed from privatised statistics during training.

    An engine calls :meth:`refresh` with the current logits of all training
    examples at each step of :func:`trifront.privacy.dpsgd.epoch_starts`
    (:data:`~trifront.privacy.dpsgd.FAIR_REFRESHES_PER_EPOCH` times per epoch)
    and adds ``coef_i * sigmoid(z_i)`` to each example's loss until the next
    refresh.

    Privacy: :meth:`refresh` releases the ``G x 2`` sums of ``sigmoid(z_i)``
    (L2 sensitivity 1, see :func:`noisy_cell_sums`) with noise std ``sums_std``;
    the coefficients are post-processing of that release and of the counts
    released before training. With ``k = len(epoch_starts(steps, q))``
    refreshes the accountant composes ``k`` Gaussians of noise multiplier
    ``sums_std``.

    Args:
        weight: λ ``> 0``.
        metric: Fairness metric.
        s: Group index per training example, ``(n,)``.
        y: Label per training example, ``(n,)``.
        counts: The released (group, label) counts, ``G x 2``.
        sums_std: Noise std of each sums release (0.0: exact/public).
        generator: Source of the sums' noise.
    """

    def __init__(self, *, weight: float, **cells: Any) -> None:
        super().__init__(**cells)
        self.weight = float(weight)
        self.last_coefficients: np.ndarray | None = None

    def refresh(self, logits: torch.Tensor) -> torch.Tensor:
        """Release the soft-rate sums at the current model; return per-example coefficients.

        Args:
            logits: Current logits of all training examples, ``(n,)``.

        Returns:
            ``coef_i = a[s_i, y_i]``, shape ``(n,)``, in the logits' dtype.
        """
        sums = self._release(torch.sigmoid(logits.detach().double()).numpy())
        coef = penalty_coefficients(self.counts, sums, weight=self.weight, metric=self.metric)
        self.last_coefficients = coef
        return self._per_example(coef, logits)


FAIR_TARGET_CHANNELS: dict[str, str] = {
    "demographic_parity": "weights",
    "demographic_parity_ratio": "weights",
    "equalized_odds": "coefficients",
    "equal_opportunity": "coefficients",
}
"""How the fair target acts on training, per metric: the channel that measured better.

On Adult at ε = 1 without the sensitive input (``bench/RESULTS.md``), loss
weights bring the demographic-parity gap to the target at accuracy
0.82-0.824 across clip, learning rate, batch and epochs, where a soft-rate
term stalls above 0.02; for equalized odds the soft-rate term (it reshapes
scores near the boundary instead of shifting them) reaches ~0.025 at
~0.83, where weights stall at ~0.037.
"""
ADAPT_COEF = 1.0
"""Scale of the coefficients channel: soft-rate term coefficient per unit of multiplier."""


def adapt_multipliers(
    lam: np.ndarray, counts: np.ndarray, sums: np.ndarray, *, target: float, metric: str,
    step: float = ADAPT_STEP,
) -> np.ndarray:
    """One projected dual-ascent step of the fair target's Lagrange multipliers.

    Pure post-processing of released statistics. For each condition ``k`` of
    the metric (all examples for demographic parity; ``y = 0`` and ``y = 1``
    for equalized odds; ``y = 1`` for equal opportunity) the groups' decision
    rates are ``r_g = sums / counts`` and each group's deviation from the
    others is ``D_g = (r_g - c) n / (n - n_g)``, ``c`` the size-weighted mean
    rate (for two groups ``D`` is the signed gap, ``+d`` for one group and
    ``-d`` for the other). The constraints ``D_g <= target`` and
    ``-D_g <= target`` each have a multiplier ``>= 0``:
    ``lam[0] += step (D - target)`` and ``lam[1] += step (-D - target)``,
    both projected onto ``[0, ADAPT_LOG_WEIGHT]``. A violated constraint's
    multiplier grows; a slack one shrinks back to 0, so the training gap
    settles *at* the target rather than past it. The push on group ``g``'s
    logits is ``lam[0] - lam[1]`` (:func:`target_weights`,
    :func:`target_coefficients`).

    Args:
        lam: Current multipliers, ``2 x G x 2`` (upper, lower; group; label).
        counts: (Noisy) cell counts, ``G x 2``.
        sums: (Noisy) cell sums of the current decisions ``1[z_i > 0]``.
        target: The gap to stay within.
        metric: The fairness metric whose rates are compared.
        step: Multiplier change per unit of violation.

    Returns:
        The new multipliers, ``2 x G x 2``.
    """
    counts = np.maximum(np.asarray(counts, dtype=np.float64), MIN_CELL)
    sums = np.asarray(sums, dtype=np.float64)
    out = np.array(lam, dtype=np.float64)
    for labels in _conditions(metric):
        cols = list(labels)
        n_g = counts[:, cols].sum(axis=1)
        rate = np.clip(sums[:, cols].sum(axis=1) / n_g, 0.0, 1.0)
        n = float(n_g.sum())
        centre = float((n_g * rate).sum() / n)
        dev = (rate - centre) * n / np.maximum(n - n_g, MIN_CELL)
        out[0][:, cols] += (step * (dev - target))[:, None]
        out[1][:, cols] += (step * (-dev - target))[:, None]
    return np.clip(out, 0.0, ADAPT_LOG_WEIGHT)


def net_push(lam: np.ndarray) -> np.ndarray:
    """``G x 2`` push on each cell's logits (positive: down) from the multipliers."""
    return np.asarray(lam[0]) - np.asarray(lam[1])


def target_weights(nu: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The weights channel: ``G x 2`` loss weights from the multipliers, mean 1.

    Pushing a group's logits down is weighting its negatives up and its
    positives down: ``w[g, 0] = e^nu[g, 0]``, ``w[g, 1] = e^-nu[g, 1]``,
    normalised to mean 1 over the (noisy) counts. Post-processing.
    """
    c = np.maximum(np.asarray(counts, dtype=np.float64), MIN_CELL)
    w = np.exp(np.asarray(nu, dtype=np.float64) * np.array([1.0, -1.0]))
    return w / float((w * c).sum() / c.sum())


def target_coefficients(nu: np.ndarray, counts: np.ndarray, *, metric: str) -> np.ndarray:
    """The coefficients channel: ``G x 2`` coefficients of the term ``a sigmoid(z)``.

    ``a[g, y] = ADAPT_COEF * nu[g, y] * n / (G * n_{g,k})`` with ``n_{g,k}``
    the group's (noisy) count in the condition of ``y``: a push per unit of
    the group's rate, like :func:`penalty_coefficients`. Post-processing.
    """
    c = np.maximum(np.asarray(counts, dtype=np.float64), MIN_CELL)
    n, groups = float(c.sum()), c.shape[0]
    coef = np.zeros_like(c)
    for labels in _conditions(metric):
        cols = list(labels)
        n_g = c[:, cols].sum(axis=1)
        coef[:, cols] = ADAPT_COEF * np.asarray(nu)[:, cols] * (n / (groups * n_g))[:, None]
    return coef


class FairTarget(_CellTerm):
    """The fair target: a Lagrangian method that steers the decisions' gap to a target.

    DP-FERMI's class of method (a fairness term trained with DP-SGD whose
    group statistics are privatised and composed), built on what the gap
    measures: the rates of hard decisions. An engine calls :meth:`refresh`
    with the current logits of all training examples at the steps of
    :func:`trifront.privacy.dpsgd.epoch_starts`; each refresh releases the
    ``G x 2`` sums of the decisions ``1[z_i > 0]`` (values in ``{0, 1}``: L2
    sensitivity 1, see :func:`noisy_cell_sums`) with noise std ``sums_std``,
    one release per refresh, composed by the accountant like the fair term's.
    The multipliers (:func:`adapt_multipliers`) and what the run trains with
    are post-processing of those releases and of the counts released before
    training: per the metric's channel (:data:`FAIR_TARGET_CHANNELS`) either
    per-example loss **weights** (multiplying each loss before clipping) or
    the **coefficients** of the per-example term ``a_i sigmoid(z_i)``
    (clipped with the rest). Example ``i``'s weight or coefficient depends
    on its own (group, label) cell and on privatised quantities only.

    Args:
        target: Gap to stay within (``>= 0``).
        metric: Fairness metric.
        s: Group index per training example, ``(n,)``.
        y: Label per training example, ``(n,)``.
        counts: The released (group, label) counts, ``G x 2``.
        sums_std: Noise std of each release (0.0: exact/public).
        generator: Source of the releases' noise.
    """

    def __init__(self, *, target: float, metric: str, **cells: Any) -> None:
        if metric not in FAIR_TARGET_CHANNELS:
            raise unknown_name("fairness metric", metric, FAIRNESS_METRICS)
        super().__init__(metric=metric, **cells)
        self.target = float(target)
        self.channel = FAIR_TARGET_CHANNELS[metric]
        self.lam = np.zeros((2, *self.counts.shape))

    def refresh(self, logits: torch.Tensor) -> torch.Tensor:
        """Release the decision sums at the current model; return the per-example values.

        Args:
            logits: Current logits of all training examples, ``(n,)``.

        Returns:
            Shape ``(n,)``, in the logits' dtype: each example's loss weight
            (weights channel) or its coefficient ``a_i`` (coefficients channel).
        """
        sums = self._release((logits.detach() > 0).double().numpy())
        self.lam = adapt_multipliers(self.lam, self.counts, sums, target=self.target,
                                     metric=self.metric)
        push = net_push(self.lam)
        cell = (target_weights(push, self.counts) if self.channel == "weights"
                else target_coefficients(push, self.counts, metric=self.metric))
        return self._per_example(cell, logits)


class SummedTerms:
    """Two fair-loss terms refreshed together: their coefficients add up.

    The fair-loss weight λ and the fair target's coefficients channel both
    act through ``a_i sigmoid(z_i)``; the engine takes one such term.
    """

    def __init__(self, first: FairPenalty | FairTarget, second: FairPenalty | FairTarget) -> None:
        self.first, self.second = first, second

    def refresh(self, logits: torch.Tensor) -> torch.Tensor:
        """Both terms' coefficients at the current model, summed (each releases its own)."""
        return self.first.refresh(logits) + self.second.refresh(logits)


def reweighing_weights(counts: np.ndarray, *, strength: float) -> np.ndarray:
    """Kamiran–Calders weights from (noisy) counts, raised to α, normalised to mean 1.

    ``w[g, y] = (N_g N_y / (N N_{g,y}))^α`` divided by their mean over the
    examples (estimated from the same counts). Post-processing of the counts.

    Args:
        counts: (Noisy) counts, ``G x 2``.
        strength: α in ``[0, REWEIGH_MAX]``; 0 gives all weights 1, 1 the
            Kamiran–Calders weights, above 1 stronger ones.

    Returns:
        ``G x 2`` weights.
    """
    c = np.maximum(np.asarray(counts, dtype=np.float64), MIN_CELL)
    total = c.sum()
    w = (c.sum(axis=1, keepdims=True) * c.sum(axis=0, keepdims=True) / (total * c)) ** strength
    return w / float((w * c).sum() / total)
