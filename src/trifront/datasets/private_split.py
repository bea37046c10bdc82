"""Splits whose membership is private: each row draws its own split, independently.

The loaders carve the splits with a seeded permutation of all rows
(:mod:`trifront.datasets.splits`). That is public and reproducible, but adding
one row to the file re-deals every other row between the splits, so a
guarantee for *every* row of the file (a private-tuning study's, which covers
the training, validation and test rows at once) cannot rest on it. Here every
row draws its split on its own, from secret randomness: adding or removing one
row moves that row only, into exactly one split, and each split's mechanism
then sees a neighbouring data set (the argument of
:mod:`trifront.privtune`).

The probabilities are the loaders' fractions, so the expected split sizes are
the public counts the schedule uses (``Dataset.n_train_public``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from trifront.datasets.dataset import Dataset, Split

__all__ = ["resplit_independently"]


def _concat(*parts: Split) -> Split:
    return Split(X=np.concatenate([p.X for p in parts]), y=np.concatenate([p.y for p in parts]),
                 s=np.concatenate([p.s for p in parts]))


def _take(part: Split, mask: np.ndarray) -> Split:
    return Split(X=part.X[mask], y=part.y[mask], s=part.s[mask])


def resplit_independently(ds: Dataset, rng: np.random.Generator) -> Dataset:
    """The same rows, each assigned to train, validation or test by its own draw.

    A data set that carves its test split from its file (``ds.test_fraction``)
    puts each row in the test split with that probability; every other row of
    the file goes to validation with probability ``ds.val_fraction``, else to
    training. A shipped test file stays the test split.

    Args:
        ds: The loaded data set (its seeded splits are pooled again).
        rng: The secret generator (its draws decide membership; never seeded
            from a public value outside the research mode).
    """
    if ds.test_fraction is None:
        pool, test, tf = _concat(ds.train, ds.val), ds.test, 0.0
    else:
        pool, tf = _concat(ds.train, ds.val, ds.test), float(ds.test_fraction)
    # One uniform per row decides its split: a row appended to the pool leaves
    # every other row's split unchanged for the same generator state.
    u = rng.random(len(pool))
    in_test = u < tf
    in_val = ~in_test & ((u - tf) / (1.0 - tf) < ds.val_fraction)
    in_train = ~in_test & ~in_val
    if ds.test_fraction is not None:
        test = _take(pool, in_test)
    return replace(ds, train=_take(pool, in_train), val=_take(pool, in_val), test=test)
