"""Poisson batch sampling: each example in each batch independently with probability q.

The accountant assumes Poisson subsampling (DESIGN.md privacy rule 1); both
engines' batches come from here or from Opacus' own Poisson sampler. The
randomness is the run's secret sampling generator.
"""

from __future__ import annotations

import math

import torch

__all__ = ["poisson_batches", "poisson_indices"]


def poisson_batches(
    n: int, sample_rate: float, steps: int, generator: torch.Generator
) -> tuple[torch.Tensor, list[int]]:
    """Draw ``steps`` independent Poisson batches of ``0..n-1`` at once.

    Each example is in each batch independently with probability ``q``. The
    ``steps x n`` (step, example) slots are scanned in order by geometric
    skipping: the gaps between selected slots are i.i.d. ``Geometric(q)``
    (failures before a success), drawn as ``floor(E / -log(1 - q))`` with
    ``E ~ Exp(1)``. That is the same distribution as one Bernoulli(q) coin per
    slot, for ``~q n`` random numbers per batch instead of ``n``.

    Args:
        n: Number of examples.
        sample_rate: Inclusion probability ``q`` in ``(0, 1]``.
        steps: Number of batches.
        generator: Source of randomness.

    Returns:
        ``(indices, offsets)``: batch ``k`` is ``indices[offsets[k]:offsets[k + 1]]``
        (sorted, distinct, int64; size ``~ Binomial(n, q)``, possibly 0);
        ``len(offsets) == steps + 1``.
    """
    if sample_rate >= 1.0:
        return torch.arange(n).repeat(steps), [k * n for k in range(steps + 1)]
    total = n * steps  # positions stay exact in float64 below 2**53
    rate = -math.log1p(-sample_rate)
    mean = sample_rate * total
    chunk = int(mean + 8.0 * math.sqrt(mean * (1.0 - sample_rate)) + 16)
    pieces = []
    start = 0.0
    while True:
        gaps = torch.empty(chunk, dtype=torch.float64).exponential_(generator=generator)
        pos = gaps.div_(rate).floor_().add_(1.0).cumsum_(0).add_(start - 1.0)
        k = int(torch.searchsorted(pos, float(total)))
        if k < chunk:
            pieces.append(pos[:k])
            break
        pieces.append(pos)
        start = float(pos[-1]) + 1.0
    slots = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
    bounds = torch.arange(steps + 1, dtype=torch.float64) * n
    offsets = torch.searchsorted(slots, bounds).tolist()
    step_of = torch.floor(slots / n)
    return (slots - step_of * n).long(), offsets


def poisson_indices(n: int, sample_rate: float, generator: torch.Generator) -> torch.Tensor:
    """Draw one Poisson batch: each of ``0..n-1`` is in independently with prob. ``q``.

    Args:
        n: Number of examples.
        sample_rate: Inclusion probability ``q`` in ``(0, 1]``.
        generator: Source of randomness.

    Returns:
        Sorted distinct indices, int64, shape ``(b,)`` with ``b ~ Binomial(n, q)``.
    """
    return poisson_batches(n, sample_rate, 1, generator)[0]
