"""Private group thresholds: per-group decision thresholds from privatised histograms.

After DP-SGD, the model's logits on the *training* rows are summarised in
``G x 2 x B`` histograms (group, label, bin; fixed public bin edges
:data:`EDGES`), released with the Gaussian mechanism (L2 sensitivity 1, see
:func:`trifront.fairness.private_stats.noisy_histograms`). Everything else is
post-processing of that release: :func:`choose_thresholds` estimates, for every
group and every candidate threshold (a bin edge), the group's positive-decision
rate, true- and false-positive rates and number of correct decisions, and picks
one threshold per group maximising the estimated accuracy subject to the
estimated gap of the chosen metric being at most the target.

Predicting with group thresholds **needs the sensitive attribute at prediction
time** (``predict(z, s)``); trials that use them say so
(``uses_sensitive_at_prediction``), and the user can forbid them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trifront.errors import unknown_name
from trifront.fairness.metrics import FAIRNESS_METRICS

EDGES: np.ndarray = np.linspace(-5.0, 3.0, 65)
"""Inner bin edges on the logit scale (public constants): 66 bins, width 0.125 logit."""

_MAX_RELAX = 12


@dataclass(frozen=True)
class GroupThresholds:
    """Per-group decision thresholds on the logit scale.

    Attributes:
        logits: ``logits[g]`` is group g's threshold; predict 1 iff ``z >= logits[g]``.
        target_gap: The gap the thresholds were chosen for.
        estimated_gap: The gap estimated from the privatised histograms (may
            exceed the target when no threshold pair met it).
        estimated_accuracy: Training accuracy estimated from the histograms.
    """

    logits: tuple[float, ...]
    target_gap: float
    estimated_gap: float
    estimated_accuracy: float

    @property
    def probabilities(self) -> tuple[float, ...]:
        """The thresholds as probabilities ``sigmoid(logit)``."""
        return tuple(float(1.0 / (1.0 + np.exp(-t))) for t in self.logits)

    def predict(self, logits: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Hard decisions: 1 iff an example's logit reaches its group's threshold.

        Args:
            logits: ``(n,)`` logits.
            groups: ``(n,)`` group indices: the sensitive attribute is needed here.

        Returns:
            ``(n,)`` int64 decisions.
        """
        t = np.asarray(self.logits)[np.asarray(groups, dtype=np.int64)]
        return (np.asarray(logits) >= t).astype(np.int64)


def _tail(hist: np.ndarray) -> np.ndarray:
    """``tail[..., j]`` = mass at or above candidate threshold ``j`` (j = 0..B)."""
    rev = np.cumsum(hist[..., ::-1], axis=-1)[..., ::-1]
    zeros = np.zeros((*hist.shape[:-1], 1))
    return np.concatenate([rev, zeros], axis=-1)


def _band_best(
    rates: np.ndarray, correct: np.ndarray, lows: np.ndarray, highs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each band ``[low, high]``: best total correct and the per-group choices.

    Args:
        rates: ``G x J`` rate of each group at each candidate threshold.
        correct: ``G x J`` estimated correct decisions.
        lows: ``(M,)`` band lower ends.
        highs: ``(M,)`` band upper ends.

    Returns:
        ``(total, choice)``: ``(M,)`` total correct (``-inf`` if some group has
        no candidate in the band) and ``M x G`` chosen candidate indices.
    """
    inside = (rates[None] >= lows[:, None, None] - 1e-12) & (
        rates[None] <= highs[:, None, None] + 1e-12
    )
    score = np.where(inside, correct[None], -np.inf)
    choice = score.argmax(axis=2)
    best = np.take_along_axis(score, choice[..., None], axis=2)[..., 0]
    return best.sum(axis=1), choice


def _search(
    rate_sets: list[np.ndarray], correct: np.ndarray, gap: float, ratio: bool
) -> tuple[float, np.ndarray] | None:
    """Best thresholds with every rate set's between-group spread within ``gap``."""
    if len(rate_sets) == 1:
        rates = rate_sets[0]
        lows = np.unique(rates)
        highs = lows / (1.0 - gap) if ratio else lows + gap
        total, choice = _band_best(rates, correct, lows, highs)
        k = int(np.argmax(total))
        return (float(total[k]), choice[k]) if np.isfinite(total[k]) else None
    # Two rate sets (equalized odds): both spreads within gap at the same thresholds.
    tpr, fpr = rate_sets
    best: tuple[float, np.ndarray] | None = None
    for low_f in np.unique(fpr):
        ok_f = (fpr >= low_f - 1e-12) & (fpr <= low_f + gap + 1e-12)
        masked = np.where(ok_f, correct, -np.inf)
        lows = np.unique(tpr)
        total, choice = _band_best(tpr, masked, lows, lows + gap)
        k = int(np.argmax(total))
        if np.isfinite(total[k]) and (best is None or total[k] > best[0]):
            best = (float(total[k]), choice[k])
    return best


def choose_thresholds(hist: np.ndarray, *, target_gap: float, metric: str) -> GroupThresholds:
    """Per-group thresholds maximising estimated accuracy with estimated gap <= target.

    Pure post-processing of (noisy) histograms. Candidate thresholds are the
    bin edges (plus "everyone positive" and "nobody positive"). Rates are
    estimated from the noisy counts and clipped to [0, 1]. If no choice meets
    the target, the target is relaxed by factors of 1.5 until one does (the
    estimated gap reached is reported).

    Args:
        hist: ``G x 2 x B`` (noisy) counts, ``B = len(EDGES) + 1``.
        target_gap: The gap to meet, in ``(0, 1)``.
        metric: One of :data:`~trifront.fairness.FAIRNESS_METRICS`.

    Returns:
        The thresholds with their estimated gap and accuracy.
    """
    if metric not in FAIRNESS_METRICS:
        raise unknown_name("fairness metric", metric, FAIRNESS_METRICS)
    hist = np.asarray(hist, dtype=np.float64)
    n_bins = hist.shape[-1]
    if n_bins != len(EDGES) + 1:
        raise ValueError(f"histograms need {len(EDGES) + 1} bins, but got {n_bins}.")
    tail = _tail(hist)  # G x 2 x J
    size = hist.sum(axis=-1)  # G x 2 (noisy: may be tiny or negative for empty cells)
    tp, fp = tail[:, 1], tail[:, 0]
    correct = tp + (size[:, 0:1] - fp)  # G x J
    pos_rate = np.clip((tp + fp) / np.maximum(size.sum(axis=1, keepdims=True), 1.0), 0.0, 1.0)
    tpr = np.clip(tp / np.maximum(size[:, 1:2], 1.0), 0.0, 1.0)
    fpr = np.clip(fp / np.maximum(size[:, 0:1], 1.0), 0.0, 1.0)
    ratio = metric == "demographic_parity_ratio"
    if metric in ("demographic_parity", "demographic_parity_ratio"):
        rate_sets = [pos_rate]
    elif metric == "equal_opportunity":
        rate_sets = [tpr]
    else:
        rate_sets = [tpr, fpr]
    gap = float(target_gap)
    found = None
    for _ in range(_MAX_RELAX):
        found = _search(rate_sets, correct, min(gap, 0.999), ratio)
        if found is not None:
            break
        gap *= 1.5
    assert found is not None  # a gap near 1 always admits a choice
    total, choice = found
    groups = np.arange(hist.shape[0])
    spreads = []
    for rates in rate_sets:
        chosen = rates[groups, choice]
        hi, lo = float(chosen.max()), float(chosen.min())
        spreads.append(1.0 - lo / hi if ratio and hi > 0 else hi - lo)
    cand = np.concatenate([[-np.inf], EDGES, [np.inf]])
    return GroupThresholds(
        logits=tuple(float(cand[j]) for j in choice),
        target_gap=float(target_gap),
        estimated_gap=max(spreads),
        estimated_accuracy=float(total / max(size.sum(), 1.0)),
    )
