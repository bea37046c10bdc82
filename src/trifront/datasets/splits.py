"""How the loaders split rows: a fixed test split, then a seeded validation split.

One arithmetic for every loader (``load_dataset``, ``dataset_from_raw``), for
the public training-row count derived from a published count, and for a
deployed model that must find the rows of one split again (``split_positions``).
"""

from __future__ import annotations

import numpy as np

from trifront.errors import ConfigError, unknown_name

__all__ = ["SPLIT_NAMES", "TEST_SPLIT_SEED", "public_train_rows", "split_positions"]

#: Seed of the fixed test split carved from a data set that ships no test file.
#: Independent of the user's seed, so the test rows never change.
TEST_SPLIT_SEED = 20_240_601


def _n_held(n: int, fraction: float) -> int:
    """How many of ``n`` rows a split with ``fraction`` holds out (the one rounding rule)."""
    return round(fraction * n)


def _held_out(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` by a seeded permutation into (kept, held out), each sorted."""
    perm = np.random.default_rng(seed).permutation(n)
    k = _n_held(n, fraction)
    return np.sort(perm[k:]), np.sort(perm[:k])


SPLIT_NAMES = ("train", "val", "test")


def split_positions(
    n_rows: int, *, split: str, seed: int, val_fraction: float, test_fraction: float | None
) -> np.ndarray:
    """Positions of one split's rows among ``n_rows`` rows, carved as the loaders carve them.

    The same arithmetic as ``load_dataset`` and ``dataset_from_raw``: a fixed
    test split (seed ``TEST_SPLIT_SEED``) when ``test_fraction`` is given, then
    a validation split drawn with ``seed`` from the rest.

    Args:
        n_rows: Rows of the pool (a data set's training file, or a user's file).
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: Seed of the validation split.
        val_fraction: Fraction of the non-test rows held out for validation.
        test_fraction: Fraction held out as the test split; None when the data
            set ships its own test file (then ``split="test"`` is not in these rows).

    Returns:
        Sorted int64 positions.

    Raises:
        ConfigError: If ``split`` is unknown, or is ``"test"`` without ``test_fraction``.
    """
    if split not in SPLIT_NAMES:
        raise unknown_name("split", split, SPLIT_NAMES)
    if test_fraction is None:
        if split == "test":
            raise ConfigError("the test rows are in the data set's own test file, not in "
                              "these rows.")
        pool = np.arange(n_rows)
    else:
        pool, test = _held_out(n_rows, float(test_fraction), TEST_SPLIT_SEED)
        if split == "test":
            return test
    keep, held = _held_out(len(pool), float(val_fraction), int(seed))
    return pool[keep] if split == "train" else pool[held]


def public_train_rows(
    n_rows: int, *, val_fraction: float, test_fraction: float | None = None
) -> int:
    """The training-split size of ``n_rows`` rows, by the loaders' own split arithmetic.

    Applied to a public row count (``DatasetCard.n_rows``) it gives
    ``Dataset.n_train_public``, which depends on no private row; applied to the
    actual count it gives the actual ``n_train``.

    Args:
        n_rows: Rows of the pool the loader splits (see ``DatasetCard.n_rows``).
        val_fraction: Fraction of the non-test rows held out for validation.
        test_fraction: Fraction of the rows held out as the fixed test split, or
            None if the data set ships its own test rows.

    Returns:
        ``pool - round(val_fraction * pool)`` where ``pool = n_rows -
        round(test_fraction * n_rows)`` (or ``n_rows`` without a test fraction).
    """
    pool = n_rows if test_fraction is None else n_rows - _n_held(n_rows, test_fraction)
    return pool - _n_held(pool, val_fraction)
