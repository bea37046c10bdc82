"""Group statistics of the training data, released with the Gaussian mechanism.

The fairness knobs use three kinds of statistic of the training rows, each a
vector of sums in which **one example contributes to exactly one coordinate,
by at most 1**. Under the add-or-remove-one neighbouring relation (the one the
DP-SGD accountants assume) each vector therefore has L2 sensitivity exactly 1,
and adding ``N(0, σ²)`` to every coordinate is the Gaussian mechanism with
noise multiplier σ:

* :func:`noisy_cell_counts`: the ``G x 2`` counts of (group, label) cells;
* :func:`noisy_cell_sums`: the ``G x 2`` sums of a per-example value in
  ``[0, 1]`` (the model's soft prediction) over the same cells;
* :func:`noisy_histograms`: ``G x 2 x B`` counts of the model's training
  logits in ``B`` fixed bins (edges are public constants, not data-dependent).

Everything computed from a released vector afterwards (rates, weights,
thresholds) is post-processing and costs nothing more.

**Budget.** :func:`allocate` turns a budget for all statistics of one run
(ε_stats at δ) into one noise multiplier per release. Gaussian mechanisms
compose exactly into one Gaussian of noise multiplier ``(Σ_j σ_j^-2)^-1/2``
(equivalently μ-GDP with ``μ² = Σ μ_j²``, ``μ_j = 1/σ_j``), so the budget is a
total ``μ²`` split in fixed, documented proportions (:data:`STAT_WEIGHTS`)
between the kinds of statistic in use; a statistic released several times
(the sums, one release per refresh of the fair term) splits its share
equally across its releases. The composed ε of all statistics alone is
then exactly ε_stats (analytic Gaussian mechanism), and the accountant composes them with DP-SGD
(:func:`trifront.privacy.accounting.account` with ``extra_gaussians``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from trifront.errors import ConfigError
from trifront.privacy.accounting import gaussian_noise_for_epsilon

STAT_WEIGHTS: dict[str, float] = {"counts": 1.0, "sums": 2.0, "histograms": 4.0}
"""Share of the statistics' μ² given to each kind of statistic in use (renormalised).

Counts are large and need little accuracy; the soft-rate sums (one release per refresh) steer
the fair loss; the histograms set the decision thresholds, whose error moves
the gap one to one, so they get the largest share.
"""


@dataclass(frozen=True)
class StatsPlan:
    """Noise multipliers of every statistic released in one run.

    Attributes:
        counts: σ of the (group, label) counts, ``inf`` if not released.
        sums: σ of *each* release of soft-prediction sums (one per refresh of
            the fair term, ``len(epoch_starts(steps, q))`` in all).
        n_sums: Number of sum releases (refreshes of the fair term).
        histograms: σ of the score histograms, ``inf`` if not released.
        public: True if the statistics are declared public: exact values,
            no noise, not counted in ε.
    """

    counts: float = math.inf
    sums: float = math.inf
    n_sums: int = 0
    histograms: float = math.inf
    public: bool = False

    @property
    def gaussians(self) -> tuple[float, ...]:
        """Noise multipliers of all releases, for the accountant (empty if public)."""
        if self.public:
            return ()
        out = [self.counts] * (self.counts < math.inf)
        out += [self.sums] * (self.n_sums if self.sums < math.inf else 0)
        out += [self.histograms] * (self.histograms < math.inf)
        return tuple(out)

    def noise(self, kind: str) -> float:
        """Noise std (= σ, sensitivity 1) of one kind; 0.0 when public or unused."""
        value = getattr(self, kind)
        return 0.0 if self.public or math.isinf(value) else float(value)


def allocate(
    *,
    stats_epsilon: float,
    delta: float,
    counts: bool,
    n_sums: int,
    histograms: bool,
) -> StatsPlan:
    """Noise multipliers of the statistics so that they alone spend ``stats_epsilon``.

    Args:
        stats_epsilon: ε of all statistics together at ``delta``, ``> 0``
            (``inf``: exact statistics, used for non-private training).
        delta: δ.
        counts: Whether the (group, label) counts are released.
        n_sums: Number of releases of soft-prediction sums, one per refresh of
            the fair term (0: none).
        histograms: Whether the score histograms are released.

    Returns:
        The plan; ``StatsPlan()`` when nothing is released.
    """
    shares = {
        "counts": STAT_WEIGHTS["counts"] if counts else 0.0,
        "sums": STAT_WEIGHTS["sums"] if n_sums > 0 else 0.0,
        "histograms": STAT_WEIGHTS["histograms"] if histograms else 0.0,
    }
    total = sum(shares.values())
    if total == 0.0:
        return StatsPlan()
    if math.isinf(stats_epsilon):
        return StatsPlan(
            counts=math.inf, sums=math.inf, n_sums=n_sums, histograms=math.inf, public=True
        )
    if not stats_epsilon > 0:
        raise ConfigError(f"`stats_epsilon > 0` must hold, but got {stats_epsilon}.")
    mu2 = gaussian_noise_for_epsilon(target_epsilon=stats_epsilon, delta=delta) ** -2

    def sigma(kind: str, releases: int = 1) -> float:
        if shares[kind] == 0.0:
            return math.inf
        return 1.0 / math.sqrt(mu2 * shares[kind] / total / releases)

    return StatsPlan(
        counts=sigma("counts"),
        sums=sigma("sums", max(n_sums, 1)),
        n_sums=n_sums,
        histograms=sigma("histograms"),
    )


def _gauss(shape: tuple[int, ...], std: float, generator: torch.Generator) -> np.ndarray:
    if std == 0.0:
        return np.zeros(shape)
    return torch.normal(0.0, std, size=shape, generator=generator, dtype=torch.float64).numpy()


def _cells(s: np.ndarray, y: np.ndarray, n_groups: int) -> np.ndarray:
    return np.asarray(s, dtype=np.int64) * 2 + np.asarray(y, dtype=np.int64)


def noisy_cell_counts(
    s: np.ndarray, y: np.ndarray, *, n_groups: int, std: float, generator: torch.Generator
) -> np.ndarray:
    """(group, label) counts plus Gaussian noise.

    Sensitivity: adding or removing one example changes exactly one count by 1,
    so the L2 sensitivity is 1 and ``std`` is the noise multiplier.

    Args:
        s: Group index per example, ``(n,)`` in ``[0, n_groups)``.
        y: Label per example, ``(n,)`` in ``{0, 1}``.
        n_groups: ``G``.
        std: Noise standard deviation (0.0: exact, public statistics).
        generator: Source of the noise.

    Returns:
        Noisy counts, shape ``G x 2`` (``[g, y]``), float64, not clamped.
    """
    counts = np.bincount(_cells(s, y, n_groups), minlength=2 * n_groups).astype(np.float64)
    return (counts + _gauss(counts.shape, std, generator)).reshape(n_groups, 2)


def noisy_cell_sums(
    values: np.ndarray,
    s: np.ndarray,
    y: np.ndarray,
    *,
    n_groups: int,
    std: float,
    generator: torch.Generator,
) -> np.ndarray:
    """(group, label) sums of per-example values in ``[0, 1]`` plus Gaussian noise.

    Sensitivity: one example adds its value (``0 <= v <= 1``) to one cell only,
    so the L2 sensitivity is 1. Values are clipped to ``[0, 1]`` to enforce it.

    Args:
        values: Per-example values, ``(n,)``.
        s: Group index per example.
        y: Label per example.
        n_groups: ``G``.
        std: Noise standard deviation (0.0: exact).
        generator: Source of the noise.

    Returns:
        Noisy sums, shape ``G x 2``, float64.
    """
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    sums = np.bincount(_cells(s, y, n_groups), weights=v, minlength=2 * n_groups)
    return (sums + _gauss(sums.shape, std, generator)).reshape(n_groups, 2)


def noisy_histograms(
    scores: np.ndarray,
    s: np.ndarray,
    y: np.ndarray,
    *,
    n_groups: int,
    edges: np.ndarray,
    std: float,
    generator: torch.Generator,
) -> np.ndarray:
    """Per (group, label) histograms of scores in fixed bins, plus Gaussian noise.

    Bin ``b`` holds scores in ``[edges[b-1], edges[b])`` with ``edges[-1] = -inf``
    and ``edges[B-1] = +inf`` implied (``B = len(edges) + 1`` bins). The edges
    are public constants. Sensitivity: one example falls in exactly one bin of
    one (group, label) histogram, so the L2 sensitivity is 1.

    Args:
        scores: Per-example scores (logits), ``(n,)``.
        s: Group index per example.
        y: Label per example.
        n_groups: ``G``.
        edges: Increasing inner bin edges, ``(B - 1,)``.
        std: Noise standard deviation (0.0: exact).
        generator: Source of the noise.

    Returns:
        Noisy counts, shape ``G x 2 x B``, float64.
    """
    n_bins = len(edges) + 1
    b = np.searchsorted(edges, np.asarray(scores, dtype=np.float64), side="right")
    flat = _cells(s, y, n_groups) * n_bins + b
    hist = np.bincount(flat, minlength=2 * n_groups * n_bins).astype(np.float64)
    return (hist + _gauss(hist.shape, std, generator)).reshape(n_groups, 2, n_bins)


def stats_generator(seed: int) -> torch.Generator:
    """The generator of the statistics' noise, independent of DP-SGD's generators.

    Args:
        seed: The training seed.

    Returns:
        A seeded CPU generator (both engines draw the same statistics noise).
    """
    state = np.random.SeedSequence(seed, spawn_key=(8,)).generate_state(1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0]) >> 1)
