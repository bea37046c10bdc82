"""Inferring a user file's schema from its rows (the path without a declared schema).

``infer_card`` types every column from the file itself: numeric bounds are the
column's minimum and maximum, category lists are the values present, constant
columns are dropped, over every row of the file. These are statistics of the
data, not public knowledge: the card says so (``SCHEMA_FROM_DATA_NOTE``) and
the Dataset is flagged (``schema_from_data``). ``schema.infer_schema`` turns
the same inference into a ``Schema`` the user can review, edit into public
values, and declare (``Schema.to_toml``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from trifront.datasets.card import CategoricalFeature, DatasetCard, Feature, NumericFeature
from trifront.datasets.userfile import (
    Table,
    check_cells,
    check_group_sizes,
    check_int,
    read_user_table,
)
from trifront.errors import ConfigError, DataError, unknown_name

#: A column whose cells are numbers in more than this fraction of rows, but not
#: all, is a numeric column with junk in it (an error), not a categorical one.
NUMERIC_MAJORITY = 0.5

#: Most categories a categorical feature may have (one encoded column each).
MAX_CATEGORIES = 100

#: First note of every inferred card: says where its schema comes from.
SCHEMA_FROM_DATA_NOTE = (
    "SCHEMA FROM THE DATA: this card was inferred from the user's file. Its numeric "
    "bounds are the minimum and maximum of each column and its category lists are the "
    "values present, computed over every row of the file (train, validation and test). "
    "They are statistics of the data, not a public schema, so the reported epsilon does "
    "not cover them (DESIGN.md privacy rule 4 is not met); the column types were "
    "inferred from the data as well."
)

#: Label value pairs (lower case) whose positive class needs no ``positive=``.
_KNOWN_POSITIVE: dict[frozenset[str], str] = {
    frozenset({"0", "1"}): "1",
    frozenset({"-1", "1"}): "1",
    frozenset({"false", "true"}): "true",
    frozenset({"no", "yes"}): "yes",
    frozenset({"n", "y"}): "y",
}


def _positive_label(label: str, values: list[str], positive: object) -> str:
    if positive is not None:
        wanted = str(positive).strip()
        if wanted not in values:
            raise ConfigError(
                f"the positive label must be a value of label column {label!r}, but got "
                f"{wanted!r}; accepted: {', '.join(repr(v) for v in values)}."
            )
        return wanted
    lower = {v.lower(): v for v in values}
    known = _KNOWN_POSITIVE.get(frozenset(lower))
    if known is not None:
        return lower[known]
    nums = pd.to_numeric(pd.Series(values), errors="coerce")
    if nums.notna().all() and set(nums.tolist()) in ({0.0, 1.0}, {-1.0, 1.0}):
        return values[int(np.flatnonzero(nums.to_numpy() == 1.0)[0])]
    raise ConfigError(
        f"label column {label!r} has the values {values[0]!r} and {values[1]!r} and neither "
        "is evidently the positive class; say which with positive= (CLI: --positive)."
    )


def _infer_feature(
    name: str, column: pd.Series, table: Table
) -> tuple[Feature | None, str]:
    """Type one feature column: (feature, "") or (None, reason it is dropped)."""
    nums = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(nums)
    if ok.all():
        lo, hi = float(nums.min()), float(nums.max())
        if lo == hi:
            return None, f"constant in the file (every row is {column.iloc[0]!r})"
        return NumericFeature(
            name, lo, hi, description="numeric (inferred); bounds are the file's min and max"
        ), ""
    if ok.mean() > NUMERIC_MAJORITY:
        bad = np.flatnonzero(~ok)
        raise DataError(
            f"column {name!r} holds numbers in {int(ok.sum())} of {len(ok)} rows, but "
            f"{column.iloc[bad[0]]!r} at {table.where(int(bad[0]))} is not a number "
            f"({len(bad)} such cells); a numeric column must hold only numbers, or fix or "
            "remove the column."
        )
    categories = tuple(sorted(set(column.tolist())))
    if len(categories) == 1:
        return None, f"constant in the file (every row is {categories[0]!r})"
    if len(categories) > MAX_CATEGORIES:
        raise DataError(
            f"categorical column {name!r} has {len(categories)} distinct values, but at most "
            f"{MAX_CATEGORIES} are accepted (one encoded column each); drop it with "
            "ignore= or group its values."
        )
    return CategoricalFeature(
        name, categories, description="categorical (inferred); categories present in the file"
    ), ""


def infer_card(
    path: str | PathLike[str],
    *,
    label: str,
    sensitive: str,
    positive: str | None = None,
    min_group_size: int = 30,
    min_rows: int = 50,
    ignore: Sequence[str] = (),
) -> tuple[DatasetCard, pd.DataFrame]:
    """Read and check a user's file and infer its card (see ``load_user_data``).

    Returns:
        ``(card, rows)``: the inferred card (``n_rows`` None: the row count is
        not public) and the checked string rows (the card's columns only,
        blank lines removed).

    Raises:
        ConfigError: For a bad argument, unknown column name or positive label.
        DataError: For a bad file or bad cells (see ``load_user_data``).
    """
    min_group_size = check_int("min_group_size", min_group_size, 1)
    min_rows = check_int("min_rows", min_rows, 1)
    p = Path(path)
    table = read_user_table(p)
    columns = list(table.frame.columns)
    ignore = [ignore] if isinstance(ignore, str) else list(ignore)
    for role, name in [("label", label), ("sensitive", sensitive)] + [
        ("ignore", c) for c in ignore
    ]:
        if name not in columns:
            err = unknown_name(f"{role} column", str(name), columns)
            raise ConfigError(f"{p.name}: {err}")
    if label == sensitive:
        raise ConfigError(
            f"the label and the sensitive attribute must be different columns, but both "
            f"are {label!r}."
        )
    if label in ignore or sensitive in ignore:
        raise ConfigError(
            f"`ignore` must not list the label or the sensitive column, but got {ignore}."
        )
    used = [c for c in columns if c not in ignore]
    check_cells(table, used, file=p.name, min_rows=min_rows)
    frame = table.frame[used]
    n = len(frame)

    counts = frame[label].value_counts()
    values = sorted(counts.index.tolist())
    if len(values) != 2:
        shown = ", ".join(f"{v!r} ({counts[v]} rows)" for v in values[:10])
        more = f" and {len(values) - 10} more" if len(values) > 10 else ""
        raise DataError(
            f"label column {label!r} must have exactly two classes, but it has {len(values)}: "
            f"{shown}{more}."
        )
    positive_label = _positive_label(label, values, positive)

    group_counts = frame[sensitive].value_counts()
    groups = tuple(sorted(group_counts.index.tolist()))
    if len(groups) < 2:
        raise DataError(
            f"sensitive column {sensitive!r} must have at least two groups, but every row "
            f"is {groups[0]!r}."
        )
    check_group_sizes(frame[sensitive], groups, sensitive=sensitive,
                      min_group_size=min_group_size)

    features: list[Feature] = []
    dropped: list[tuple[str, str]] = [(c, "ignored at the user's request") for c in ignore]
    for name in used:
        if name == label:
            continue
        if name == sensitive:
            features.append(CategoricalFeature(
                name, groups, description="the sensitive attribute (categorical); groups "
                "present in the file; a model input"))
            continue
        feat, reason = _infer_feature(name, frame[name], table)
        if feat is None:
            dropped.append((name, reason))
        else:
            features.append(feat)

    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    negative = next(v for v in values if v != positive_label)
    card = DatasetCard(
        name=f"user:{p.name}",
        title=f"User data {p.name}",
        description=(
            f"{n} rows and {len(columns)} columns read from {p.name}. Task: predict "
            f"{label!r} ({positive_label!r} -> 1, {negative!r} -> 0); sensitive attribute "
            f"{sensitive!r}. No test file: a fixed test split is carved with a seed "
            "independent of the user's."
        ),
        source=f"user file {str(p.resolve())} (sha256 {digest} of its bytes)",
        licence="set by the data owner (unknown to trifront)",
        citation="",
        columns=tuple(columns),
        label=label,
        label_values=tuple(values),
        positive_label=positive_label,
        sensitive_attributes=(sensitive,),
        features=tuple(features),
        dropped=tuple(dropped),
        missing_values=(),
        notes=(
            SCHEMA_FROM_DATA_NOTE,
            f"The positive class is {positive_label!r}"
            + (" (given by the user)." if positive is not None else " (chosen by name)."),
            f"Groups of {sensitive!r}: "
            + ", ".join(f"{k} = {g!r} ({group_counts[g]} rows)" for k, g in enumerate(groups))
            + f"; each has at least min_group_size={min_group_size} rows. The model sees "
            "the sensitive attribute as an input feature.",
        ),
    )
    return card, frame

