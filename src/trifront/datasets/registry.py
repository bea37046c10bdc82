"""The registry of bundled data sets and the generic loader.

Adding a data set is a new module (its ``CARD`` and a ``load_raw() -> RawData``)
plus one entry in ``_REGISTRY``; splitting, encoding and caching are shared.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from trifront.datasets import adult, compas, german
from trifront.datasets.card import DatasetCard
from trifront.datasets.dataset import Dataset, Split
from trifront.datasets.encoding import (
    combine_groups,
    encode_features,
    encode_groups,
    encode_labels,
)
from trifront.datasets.raw import RawData
from trifront.datasets.splits import (
    TEST_SPLIT_SEED,
    _held_out,
    public_train_rows,
    split_positions,
)
from trifront.errors import ConfigError, unknown_name


@dataclass(frozen=True)
class DatasetSource:
    """How to get one registered data set.

    Attributes:
        card: Its dataset card.
        load_raw: Returns its raw rows; the loader encodes them once per
            process (see ``_encoded``).
        test_fraction: Used only if ``load_raw`` gives no test rows: fraction of
            the rows held out as a fixed test split (seed ``TEST_SPLIT_SEED``).
    """

    card: DatasetCard
    load_raw: Callable[[], RawData]
    test_fraction: float = 0.2


_REGISTRY: dict[str, DatasetSource] = {
    "adult": DatasetSource(adult.CARD, adult.load_raw),
    "compas": DatasetSource(compas.CARD, compas.load_raw),
    "german": DatasetSource(german.CARD, german.load_raw),
}


def list_datasets() -> list[str]:
    """Names of the registered data sets, sorted (``["adult", "compas", "german"]``)."""
    return sorted(_REGISTRY)


def _source(name: str) -> DatasetSource:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise unknown_name("dataset", str(name), list_datasets())
    return _REGISTRY[name]


def get_card(name: str) -> DatasetCard:
    """Return the card of a registered data set.

    Args:
        name: One of ``list_datasets()``.

    Raises:
        ConfigError: If ``name`` is not registered (lists the accepted names).
    """
    return _source(name).card


@dataclass(frozen=True, eq=False)
class _Encoded:
    """Every row of a data set, encoded; arrays read-only because they are cached.

    ``train_s[a]`` / ``test_s[a]`` are the group indices for sensitive attribute ``a``.
    """

    train: tuple[np.ndarray, np.ndarray]
    train_s: dict[str, np.ndarray]
    test: tuple[np.ndarray, np.ndarray] | None
    test_s: dict[str, np.ndarray] | None


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


@lru_cache(maxsize=8)
def _encoded(name: str) -> _Encoded:
    source = _source(name)
    raw = source.load_raw()
    card = source.card

    def xy(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return _readonly(encode_features(frame, card)), _readonly(encode_labels(frame, card))

    def groups(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {a: _readonly(encode_groups(frame, card, a)) for a in card.sensitive_attributes}

    if raw.test is None:
        return _Encoded(train=xy(raw.train), train_s=groups(raw.train), test=None, test_s=None)
    return _Encoded(
        train=xy(raw.train),
        train_s=groups(raw.train),
        test=xy(raw.test),
        test_s=groups(raw.test),
    )


def clear_caches() -> None:
    """Forget every cached raw and encoded data set (tests use this)."""
    _encoded.cache_clear()
    for source in _REGISTRY.values():
        clear = getattr(source.load_raw, "cache_clear", None)
        if clear is not None:
            clear()


def _take(
    xy: tuple[np.ndarray, np.ndarray], s: np.ndarray, idx: np.ndarray | None
) -> Split:
    """A writable copy of the encoded rows (all of them, or rows ``idx``)."""
    if idx is None:
        return Split(X=xy[0].copy(), y=xy[1].copy(), s=s.copy())
    return Split(X=xy[0][idx], y=xy[1][idx], s=s[idx])


def raw_split(
    name: str, *, split: str = "test", seed: int = 0, val_fraction: float = 0.2
) -> pd.DataFrame:
    """The raw (unencoded) rows of one split of a bundled data set.

    The rows ``load_dataset(name, seed=seed, val_fraction=val_fraction)`` puts
    in that split, as the card's raw string columns, in file order: what a
    deployed model's encoder is applied to.

    Args:
        name: One of ``list_datasets()``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: Seed of the validation split (``"test"`` does not depend on it).
        val_fraction: Fraction of the non-test rows held out for validation.

    Raises:
        ConfigError: If the name or split is unknown.
    """
    source = _source(name)
    raw = source.load_raw()
    if split == "test" and raw.test is not None:
        return raw.test.reset_index(drop=True)
    positions = split_positions(
        len(raw.train), split=split, seed=seed, val_fraction=val_fraction,
        test_fraction=source.test_fraction if raw.test is None else None,
    )
    return raw.train.iloc[positions].reset_index(drop=True)


def _public_count(
    card: DatasetCard, n_counted: int, *, val_fraction: float, test_fraction: float | None
) -> tuple[int, bool]:
    """``(n_train_public, schema_from_data)``: from ``card.n_rows``, else the counted rows."""
    if card.n_rows is None:
        n_public = public_train_rows(
            n_counted, val_fraction=val_fraction, test_fraction=test_fraction
        )
        return n_public, True
    n_public = public_train_rows(
        card.n_rows, val_fraction=val_fraction, test_fraction=test_fraction
    )
    if n_public < 1:
        raise ConfigError(
            f"the public row count n_rows={card.n_rows} of {card.name!r} must leave at least "
            f"one training row, but val_fraction={val_fraction}"
            + (f", test_fraction={test_fraction}" if test_fraction is not None else "")
            + f" leave {n_public}."
        )
    return n_public, False


def _checked_split_args(
    card: DatasetCard, sensitive: str | None, seed: object, **fractions: object
) -> str:
    """Validate the split arguments shared by every loader; return the sensitive attribute."""
    if sensitive is None:
        sensitive = card.sensitive_attributes[0]
    try:
        card.sensitive_parts(sensitive)
    except ConfigError as err:
        raise ConfigError(f"dataset {card.name!r}: {err}") from None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"`seed` must be a non-negative integer, but got seed={seed!r}.")
    for what, value in fractions.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not 0.0 < float(value) < 1.0
        ):
            raise ConfigError(f"`0 < {what} < 1` must hold, but got {what}={value!r}.")
    return sensitive


def load_dataset(
    name: str, *, seed: int = 0, val_fraction: float = 0.2, sensitive: str | None = None
) -> Dataset:
    """Load a bundled data set, encoded with its public schema, split by ``seed``.

    Validation rows are a seeded random subset of the data set's training file
    (Adult: adult.data); the test split is the data set's own test file (Adult:
    adult.test), identical for every seed. Rows are kept in file order inside
    each split. The parsed and encoded files are cached per process, so a
    second load (any seed) only redraws the split. ``n_train_public`` comes
    from the card's published row count (``card.n_rows``) and the fractions.

    Args:
        name: One of ``list_datasets()``.
        seed: Non-negative integer; the same seed gives the same splits.
        val_fraction: Fraction of the training file held out for validation,
            ``0 < val_fraction < 1``.
        sensitive: One of the card's ``sensitive_attributes``, or an
            intersection of them such as ``"sex*race"`` (one group per
            combination); None picks the first (Adult: ``"sex"``).

    Returns:
        The Dataset (float32 features in [0, 1], int64 labels and groups).

    Raises:
        ConfigError: If the name, sensitive attribute, seed or fraction is not
            accepted.
        DataError: If a bundled file fails its sha256 check or holds a value
            outside the card's schema.
    """
    card = get_card(name)
    sensitive = _checked_split_args(card, sensitive, seed, val_fraction=val_fraction)
    source = _REGISTRY[name]
    enc = _encoded(name)
    train_s = combine_groups(card, sensitive, enc.train_s)
    shipped_test = None
    if enc.test is not None and enc.test_s is not None:
        shipped_test = (enc.test, combine_groups(card, sensitive, enc.test_s))
    return _split(card, sensitive, enc.train, train_s, shipped_test, seed=int(seed),
                  val_fraction=float(val_fraction), test_fraction=source.test_fraction)


def dataset_from_raw(
    card: DatasetCard,
    raw: RawData,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    sensitive: str | None = None,
    schema_from_data: bool = False,
) -> Dataset:
    """Encode and split rows that are not in the registry (e.g. a user's file).

    The same path as ``load_dataset`` without its cache: encode with ``card``'s
    schema, carve a fixed test split (seed ``TEST_SPLIT_SEED``) if ``raw`` has
    no test rows, then a seeded validation split; rows stay in file order.

    Args:
        card: The card whose schema encodes the rows.
        raw: The rows (string frames with the card's columns).
        seed: Non-negative integer; the same seed gives the same splits.
        val_fraction: Fraction of the non-test rows held out for validation,
            ``0 < val_fraction < 1``.
        test_fraction: Fraction of the rows held out as the fixed test split when
            ``raw.test`` is None, ``0 < test_fraction < 1``.
        sensitive: One of the card's ``sensitive_attributes``; None picks the first.
        schema_from_data: True if ``card``'s schema was computed from the rows;
            the Dataset is then flagged (so it is also when ``card.n_rows`` is
            None: the public training count is then counted from the rows).

    Returns:
        The Dataset (float32 features in [0, 1], int64 labels and groups).

    Raises:
        ConfigError: If the sensitive attribute, seed or a fraction is not
            accepted, or a split (actual, or of the public count) would be empty.
        DataError: If a value is outside the card's schema.
    """
    sensitive = _checked_split_args(
        card, sensitive, seed, val_fraction=val_fraction, test_fraction=test_fraction
    )

    def encoded(frame: pd.DataFrame) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        xy = (encode_features(frame, card), encode_labels(frame, card))
        return xy, encode_groups(frame, card, sensitive)

    pool_xy, pool_s = encoded(raw.train)
    shipped_test = None if raw.test is None else encoded(raw.test)
    return _split(card, sensitive, pool_xy, pool_s, shipped_test, seed=int(seed),
                  val_fraction=float(val_fraction), test_fraction=float(test_fraction),
                  schema_from_data=schema_from_data)


def _split(
    card: DatasetCard,
    sensitive: str,
    pool_xy: tuple[np.ndarray, np.ndarray],
    pool_s: np.ndarray,
    shipped_test: tuple[tuple[np.ndarray, np.ndarray], np.ndarray] | None,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    schema_from_data: bool = False,
) -> Dataset:
    """The Dataset of encoded rows: the test split, a seeded validation split, the public count.

    Without ``shipped_test`` a fixed test split (seed ``TEST_SPLIT_SEED``) is
    carved from the pool first. Rows stay in file order inside each split.
    """
    n_rows = len(pool_xy[1])
    if shipped_test is None:
        pool_idx, test_idx = _held_out(n_rows, test_fraction, TEST_SPLIT_SEED)
        test = _take(pool_xy, pool_s, test_idx)
    else:
        pool_idx = np.arange(n_rows)
        test = _take(shipped_test[0], shipped_test[1], None)
    keep, held = _held_out(len(pool_idx), val_fraction, seed)
    if len(keep) == 0 or len(held) == 0 or len(test) == 0:
        carved = f", test_fraction={test_fraction}" if shipped_test is None else ""
        raise ConfigError(
            f"the splits must each hold at least one row, but {n_rows} rows with "
            f"val_fraction={val_fraction}{carved} give train={len(keep)}, val={len(held)}, "
            f"test={len(test)}."
        )
    n_public, from_data = _public_count(
        card, n_rows, val_fraction=val_fraction,
        test_fraction=test_fraction if shipped_test is None else None,
    )
    return Dataset(
        card=card,
        train=_take(pool_xy, pool_s, pool_idx[keep]),
        val=_take(pool_xy, pool_s, pool_idx[held]),
        test=test,
        feature_names=card.feature_names,
        sensitive=sensitive,
        group_names=card.group_names(sensitive),
        seed=seed,
        val_fraction=val_fraction,
        n_train_public=n_public,
        schema_from_data=bool(schema_from_data) or from_data,
        test_fraction=None if shipped_test is not None else float(test_fraction),
    )
