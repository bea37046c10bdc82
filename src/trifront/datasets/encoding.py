"""Encode raw rows with a card's public schema, row by row.

Every function here is a pure function of the rows it is given and the card:
no statistic of the rows (mean, min, max, category set) is ever computed and
used, so encoding a subset of rows gives exactly the same values for those rows
as encoding the whole file (DESIGN.md privacy rule 4), and encoding costs no
privacy budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from trifront.datasets.card import (
    TRANSFORMS,
    CategoricalFeature,
    DatasetCard,
    NumericFeature,
)
from trifront.errors import DataError


def _require_columns(frame: pd.DataFrame, columns: list[str], card: DatasetCard) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"the rows must have every column the card {card.name!r} uses, but {missing} "
            f"are missing; got columns {list(frame.columns)}."
        )


def _strings(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as stripped strings (whitespace around raw values is not data)."""
    return frame[column].astype(str).str.strip()


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``(where, raw)``: each distinct value once, as a stripped string, and where each row's is.

    ``raw[where]`` equals ``values.astype(str).str.strip()``, but the string
    work (conversion, stripping, parsing, lookup) is done once per distinct
    value: a column of a million rows has a few (categories) to a few
    thousand (amounts) distinct values. Python objects of mixed types (``1``,
    ``1.0`` and ``True`` hash alike) are converted to strings before grouping,
    so grouping never merges values whose strings differ.
    """
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) != "string":
        values = values.astype(str)
    where, distinct = pd.factorize(values, use_na_sentinel=False)
    return where, pd.Series(distinct).astype(str).str.strip()


def to_other(values: pd.Series, categories: Sequence[str], *, other: str) -> pd.Series:
    """``values`` with every value outside ``categories`` replaced by ``other``.

    How a declared schema keeps the number of encoded columns fixed: a value
    the schema does not list encodes as the feature's ``other`` level.

    Args:
        values: ``n`` raw values (stripped strings).
        categories: The declared categories.
        other: The extra level (``trifront.datasets.schema.OTHER``).

    Returns:
        ``n`` values, each one of ``categories`` or ``other``.
    """
    return values.where(values.isin(categories), other)


def encode_numeric(values: pd.Series, feature: NumericFeature, *, card: DatasetCard) -> np.ndarray:
    """Encode one numeric column: clip to the public bounds, transform, scale to [0, 1].

    Args:
        values: ``n`` raw values (strings or numbers).
        feature: Its schema entry.
        card: The card (for the missing-value markers and error messages).

    Returns:
        ``n`` float64 values in [0, 1].

    Raises:
        DataError: If a value is missing or not a number.
    """
    where, raw = _distinct(values)
    is_missing = raw.isin(card.missing_values)
    distinct = pd.to_numeric(raw.where(~is_missing), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(distinct)
    if bad.any():
        examples = sorted(set(raw[bad].tolist()))[:5]
        raise DataError(
            f"numeric feature {feature.name!r} of dataset {card.name!r} must hold finite "
            f"numbers (missing values are not allowed in numeric features), but got "
            f"{int(bad[where].sum())} values such as {examples}."
        )
    numbers = distinct[where]
    t = TRANSFORMS[feature.transform]
    lo, hi = t(np.array([feature.lo, feature.hi], dtype=np.float64))
    clipped = np.clip(numbers, feature.lo, feature.hi)
    return (t(clipped) - lo) / (hi - lo)


def category_codes(
    values: pd.Series, feature: CategoricalFeature, *, card: DatasetCard
) -> np.ndarray:
    """Index of each value in the feature's public category list (-1 if missing).

    Args:
        values: ``n`` raw values.
        feature: Its schema entry.
        card: The card (for the missing-value markers and error messages).

    Returns:
        ``n`` int64 codes in ``[-1, len(categories))``; -1 marks a missing value.

    Raises:
        DataError: If a value is neither a listed category nor a missing marker.
    """
    where, raw = _distinct(values)
    codes = pd.Index(feature.categories).get_indexer(raw).astype(np.int64)
    unknown = (codes < 0) & ~raw.isin(card.missing_values).to_numpy()
    if unknown.any():
        examples = sorted(set(raw[unknown].tolist()))[:5]
        raise DataError(
            f"categorical feature {feature.name!r} of dataset {card.name!r} must take values "
            f"from its public category list or a missing marker "
            f"{list(card.missing_values)}, but got {examples}; accepted: "
            f"{', '.join(feature.categories)}."
        )
    return codes[where]


def encode_features(
    frame: pd.DataFrame, card: DatasetCard, *, inputs: Sequence[str] | None = None
) -> np.ndarray:
    """Encode rows into the model's feature matrix.

    Numeric features are clipped to their public bounds, transformed, and
    scaled to [0, 1]; categorical features are one-hot over the card's category
    list, a missing value giving an all-zero block. Columns follow
    ``card.feature_names`` (those of ``inputs`` only, when given).

    Args:
        frame: ``n`` raw rows with (at least) the encoded feature columns.
        card: The dataset card whose public schema defines the encoding.
        inputs: The raw feature columns to encode, a subset of the card's
            features (None: every feature), in card order.

    Returns:
        ``n x d`` float32 matrix with entries in [0, 1] (``d = card.n_features``
        without ``inputs``).

    Raises:
        DataError: If a column is missing or a value is outside the schema.
    """
    feats = card.features if inputs is None else tuple(
        f for f in card.features if f.name in set(inputs))
    _require_columns(frame, [f.name for f in feats], card)
    n = len(frame)
    out = np.zeros((n, sum(len(f.column_names) for f in feats)), dtype=np.float32)
    j = 0
    rows = np.arange(n)
    for feat in feats:
        if isinstance(feat, NumericFeature):
            out[:, j] = encode_numeric(frame[feat.name], feat, card=card)
            j += 1
        else:
            codes = category_codes(frame[feat.name], feat, card=card)
            present = codes >= 0
            out[rows[present], j + codes[present]] = 1.0
            j += len(feat.categories)
    return out


def encode_labels(frame: pd.DataFrame, card: DatasetCard) -> np.ndarray:
    """Encode the label column: 1 for ``card.positive_label``, 0 for the other value.

    Args:
        frame: ``n`` raw rows with the label column (already normalised by the
            loader, e.g. Adult's test labels without their trailing dot).
        card: The dataset card.

    Returns:
        ``n`` int64 labels in {0, 1}.

    Raises:
        DataError: If a label is not one of ``card.label_values``.
    """
    _require_columns(frame, [card.label], card)
    raw = _strings(frame, card.label)
    bad = ~raw.isin(card.label_values)
    if bad.any():
        examples = sorted(set(raw[bad].tolist()))[:5]
        raise DataError(
            f"label {card.label!r} of dataset {card.name!r} must be one of "
            f"{list(card.label_values)}, but got {int(bad.sum())} values such as {examples}."
        )
    return (raw == card.positive_label).to_numpy().astype(np.int64)


def encode_groups(frame: pd.DataFrame, card: DatasetCard, sensitive: str) -> np.ndarray:
    """Encode the sensitive attribute as group indices.

    Group ``k`` is ``card.group_names(sensitive)[k]``, the ``k``-th category of
    the card's public list.

    Args:
        frame: ``n`` raw rows with the sensitive column.
        card: The dataset card.
        sensitive: One of ``card.sensitive_attributes``, or an intersection
            of them (``"sex*race"``: one group per combination, see
            :meth:`DatasetCard.group_names`).

    Returns:
        ``n`` int64 group indices in ``[0, n_groups)``.

    Raises:
        ConfigError: If ``sensitive`` is not a sensitive attribute of the card.
        DataError: If a row's sensitive value is missing or unknown.
    """
    parts = card.sensitive_parts(sensitive)  # validates the name
    _require_columns(frame, list(parts), card)
    by_part: dict[str, np.ndarray] = {}
    for part in parts:
        feat = card.feature(part)
        assert isinstance(feat, CategoricalFeature)
        codes = category_codes(frame[part], feat, card=card)
        if (codes < 0).any():
            raise DataError(
                f"the sensitive attribute {part!r} of dataset {card.name!r} must be known "
                f"for every row, but {int((codes < 0).sum())} rows have a missing value."
            )
        by_part[part] = codes
    return combine_groups(card, sensitive, by_part)


def combine_groups(
    card: DatasetCard, sensitive: str, by_attribute: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Group indices of ``sensitive`` from each of its attributes' group indices.

    One attribute: its indices. An intersection (``"sex*race"``): the index of
    the combination in :meth:`DatasetCard.group_names` order (first attribute
    varying slowest).

    Args:
        card: The dataset card.
        sensitive: A sensitive attribute or an intersection of them.
        by_attribute: Group indices per attribute (at least those of ``sensitive``).

    Returns:
        int64 group indices, the length of the arrays given.
    """
    parts = card.sensitive_parts(sensitive)
    combined = np.zeros(len(by_attribute[parts[0]]), dtype=np.int64)
    for part in parts:
        combined = combined * len(card.group_names(part)) + by_attribute[part]
    return combined
