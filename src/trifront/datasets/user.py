"""The user's own data: a CSV (or Parquet) file turned into a checked ``Dataset``.

``load_user_data`` reads and checks the file (``userfile``), builds a
``DatasetCard`` and hands the rows to the same encode-and-split path as the
bundled data sets. Where the card comes from decides what the reported epsilon
covers:

* With a declared ``Schema`` (``schema=``) the card is built from the schema
  alone: bounds, category lists (plus one ``OTHER`` level per categorical
  feature), groups and the public row count ``n``. Adding, removing or changing
  a row changes neither the encoding nor ``n_train_public``.
* Without one, the card is inferred from the rows (``inference.infer_card``):
  its bounds, category lists and row count are statistics of the data, so the
  card says so and the Dataset is flagged ``schema_from_data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from trifront.datasets.card import CategoricalFeature, DatasetCard, Feature, NumericFeature
from trifront.datasets.dataset import Dataset
from trifront.datasets.encoding import to_other
from trifront.datasets.inference import SCHEMA_FROM_DATA_NOTE, infer_card
from trifront.datasets.raw import RawData
from trifront.datasets.registry import dataset_from_raw
from trifront.datasets.schema import OTHER, Schema, load_schema
from trifront.datasets.userfile import (
    Table,
    check_cells,
    check_group_sizes,
    check_int,
    read_table,
    read_user_table,
)
from trifront.errors import ConfigError, DataError

__all__ = [
    "SCHEMA_FROM_DATA_NOTE",
    "card_from_schema",
    "describe_inferred",
    "infer_card",
    "load_user_data",
    "read_table",
]


def load_user_data(
    path: str | PathLike[str],
    *,
    label: str | None = None,
    sensitive: str | None = None,
    positive: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    min_group_size: int = 30,
    min_rows: int = 50,
    ignore: Sequence[str] = (),
    schema: Schema | str | PathLike[str] | None = None,
) -> Dataset:
    """Load a user's CSV/TSV/Parquet file as a Dataset, checking it on the way.

    With ``schema`` the encoding comes only from it: numeric values are
    clipped to the declared bounds, a categorical value outside the declared
    list encodes as that feature's extra ``OTHER`` level, the sensitive column
    is one-hot over the declared groups, and ``n_train_public`` derives from
    the declared row count ``n``; the number of features is fixed by the
    schema alone. The label and sensitive column come from the schema (given
    ones must agree).

    Without ``schema`` every column except the label is a feature and its type
    is inferred from the rows: numeric if every cell is a number (scaled
    between the file's min and max), otherwise categorical (one-hot over the
    values present); the sensitive column is categorical; constant columns are
    dropped. That schema and the row count are statistics of the data
    (``SCHEMA_FROM_DATA_NOTE``; ``Dataset.schema_from_data`` is True). See
    ``describe_inferred`` for a readable summary and ``infer_schema`` to write
    it down for review.

    Either way a fixed test split (seed ``TEST_SPLIT_SEED``) is carved first,
    then a seeded validation split.

    Args:
        path: The file; its first row names the columns (CSV/TSV, UTF-8).
        label: The label column; it must have exactly two values. Required
            without a schema.
        sensitive: The sensitive-attribute column (at least two groups).
            Required without a schema.
        positive: The label value encoded as 1; needed without a schema unless
            the values are an evident pair (0/1, -1/1, false/true, no/yes, n/y,
            any case).
        seed: Seed of the validation split (non-negative integer).
        val_fraction: Fraction of the non-test rows held out for validation.
        test_fraction: Fraction of all rows held out as the fixed test split.
        min_group_size: Fewest rows any sensitive group may have in the file.
        min_rows: Fewest data rows the file may have.
        ignore: Columns to leave out altogether (without a schema only; a
            schema lists them itself).
        schema: A ``Schema``, or the path of a TOML schema (``load_schema``).

    Returns:
        The Dataset; its card is built from the schema, or inferred
        (``dataset.card``).

    Raises:
        ConfigError: If an argument is not accepted: unknown column (with "did
            you mean"), a positive label that is not a label value, a file
            ending that is not accepted, Parquet without pyarrow, bad
            fractions, a bad schema file, or a label, sensitive column,
            positive label or ``ignore`` that disagrees with the schema.
        DataError: If the file cannot be used: missing, empty or without
            columns, unparseable, fewer than ``min_rows`` rows, empty or NaN
            cells (count and first row), a sensitive group under
            ``min_group_size``, non-numeric junk in a numeric column. Without a
            schema: a label without exactly two classes, a sensitive column
            with one group, or a categorical column with more than
            ``inference.MAX_CATEGORIES`` values. With a schema: a declared
            column missing from the file, a column the schema does not
            declare, a label value not declared, or a sensitive value that is
            not a declared group (one line naming the column and the row).
    """
    if schema is None:
        if label is None or sensitive is None:
            raise ConfigError(
                "without a schema, label= and sensitive= are required (the label column and "
                "the sensitive-attribute column; CLI: --label, --sensitive), or give schema=."
            )
        card, frame = infer_card(
            path, label=label, sensitive=sensitive, positive=positive,
            min_group_size=min_group_size, min_rows=min_rows, ignore=ignore,
        )
    else:
        schema, declared_in = _schema_of(schema)
        _check_agreement(schema, label=label, sensitive=sensitive, positive=positive,
                         ignore=ignore)
        min_group_size = check_int("min_group_size", min_group_size, 1)
        min_rows = check_int("min_rows", min_rows, 1)
        table = read_user_table(path)
        frame = _conform(table, schema, file=Path(path).name, min_rows=min_rows,
                         min_group_size=min_group_size)
        card = card_from_schema(
            schema, path=path, header=list(table.frame.columns), declared_in=declared_in,
            min_group_size=min_group_size, min_rows=min_rows,
        )
    return dataset_from_raw(
        card, RawData(train=frame, test=None), seed=seed, val_fraction=val_fraction,
        test_fraction=test_fraction, sensitive=card.sensitive_attributes[0],
        schema_from_data=schema is None,
    )


# ---------------------------------------------------------------------- with a schema
def _schema_of(schema: object) -> tuple[Schema, str]:
    """The Schema and where it was declared (for the card)."""
    if isinstance(schema, Schema):
        return schema, "given in code"
    if isinstance(schema, str | PathLike):
        return load_schema(schema), f"file {str(Path(schema).resolve())}"
    raise ConfigError(
        f"`schema` must be a Schema or the path of a TOML schema file, but got {schema!r}."
    )


def _check_agreement(
    schema: Schema, *, label: object, sensitive: object, positive: object, ignore: object
) -> None:
    for what, given, declared in (("label", label, schema.label),
                                  ("sensitive", sensitive, schema.sensitive)):
        if given is not None and given != declared:
            raise ConfigError(
                f"{what}={given!r} disagrees with the schema, whose {what} column is "
                f"{declared!r}; leave {what}= out or make them agree."
            )
    if positive is not None and str(positive).strip() != schema.positive:
        raise ConfigError(
            f"positive={positive!r} disagrees with the schema, whose positive label is "
            f"{schema.positive!r}; leave positive= out or make them agree."
        )
    if ignore:
        raise ConfigError(
            f"`ignore` cannot be combined with a schema, but got ignore={ignore!r}; list the "
            "columns to leave out under [ignore] in the schema."
        )


def _first_bad(
    table: Table, column: str, bad: np.ndarray, *, what: str, declared: str, key: str
) -> DataError:
    i = int(np.flatnonzero(bad)[0])
    return DataError(
        f"{what} {column!r} holds {table.frame[column].iloc[i]!r} at {table.where(i)} "
        f"({int(bad.sum())} such cells), which is not {declared} (`{key}`)."
    )


def _conform(
    table: Table, schema: Schema, *, file: str, min_rows: int, min_group_size: int
) -> pd.DataFrame:
    """Check the file against the schema, row by row; map undeclared categories to OTHER."""
    header = list(table.frame.columns)
    keys = {schema.label: "label.column", schema.sensitive: "sensitive.column"}
    keys.update({f.name: f"features.{f.name}" for f in schema.features})
    for column, key in keys.items():
        if column not in header:
            raise DataError(
                f"column {column!r}, declared in the schema (`{key}`), is missing from "
                f"{file}; the file's columns: {', '.join(header)}."
            )
    undeclared = [c for c in header if c not in schema.columns]
    if undeclared:
        more = f" (and {len(undeclared) - 1} more: {undeclared[1:]})" if len(undeclared) > 1 else ""
        raise DataError(
            f"column {undeclared[0]!r} of {file} is not declared in the schema{more}; declare "
            "it under [features] or list it under ignore."
        )
    used = list(keys)
    check_cells(table, used, file=file, min_rows=min_rows)
    frame = table.frame[used].copy()
    bad = ~frame[schema.label].isin(schema.label_values).to_numpy()
    if bad.any():
        shown = ", ".join(repr(v) for v in schema.label_values)
        raise _first_bad(table, schema.label, bad, what="label column", key="label.values",
                         declared=f"a declared label value; the schema declares {shown}")
    bad = ~frame[schema.sensitive].isin(schema.groups).to_numpy()
    if bad.any():
        shown = ", ".join(repr(g) for g in schema.groups)
        raise _first_bad(table, schema.sensitive, bad, what="sensitive column",
                         key="sensitive.groups",
                         declared=f"a declared group; the schema declares {shown}")
    check_group_sizes(frame[schema.sensitive], schema.groups, sensitive=schema.sensitive,
                      min_group_size=min_group_size)
    for f in schema.features:
        if isinstance(f, NumericFeature):
            nums = pd.to_numeric(frame[f.name], errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(nums)
            if bad.any():
                raise _first_bad(table, f.name, bad, what="numeric column",
                                 key=f"features.{f.name}",
                                 declared="a finite number, as the schema declares")
        else:
            frame[f.name] = to_other(frame[f.name], f.categories, other=OTHER)
    return frame


def card_from_schema(
    schema: Schema,
    *,
    path: str | PathLike[str],
    header: Sequence[str],
    declared_in: str = "given in code",
    min_group_size: int = 30,
    min_rows: int = 50,
) -> DatasetCard:
    """The card of a user file encoded with a declared schema (no statistic of the rows).

    Args:
        schema: The declared schema.
        path: The data file (named in the card).
        header: The file's column names (ignored columns absent from it are
            not listed).
        declared_in: Where the schema was declared (a file, or "given in code").
        min_group_size: The group-size check the rows passed (stated in a note).
        min_rows: The row-count check the rows passed (stated in a note).

    Returns:
        The card: the schema's features (each categorical one with its extra
        ``OTHER`` level), then the sensitive column over its declared groups;
        ``n_rows`` is the schema's ``n``.
    """
    p = Path(path)
    features: list[Feature] = []
    for f in schema.features:
        if isinstance(f, NumericFeature):
            features.append(replace(f, description=f.description or
                                    "numeric; bounds declared in the schema, values clipped"))
        else:
            features.append(CategoricalFeature(
                f.name, (*f.categories, OTHER),
                description=(f.description or "categorical; categories declared in the "
                             "schema") + f"; any other value encodes as {OTHER!r}"))
    features.append(CategoricalFeature(
        schema.sensitive, schema.groups,
        description="the sensitive attribute; groups declared in the schema; a model input"))
    dropped = tuple((c, r) for c, r in schema.ignore if c in header)
    negative = next(v for v in schema.label_values if v != schema.positive)
    return DatasetCard(
        name=f"user:{p.name}",
        title=f"User data {p.name}",
        description=(
            f"User data {p.name}, declared to hold {schema.n:,} rows. Task: predict "
            f"{schema.label!r} ({schema.positive!r} -> 1, {negative!r} -> 0); sensitive "
            f"attribute {schema.sensitive!r}. No test file: a fixed test split is carved "
            "with a seed independent of the user's."
        ),
        source=f"user file {str(p.resolve())}, encoded with the schema {declared_in}",
        licence="set by the data owner (unknown to trifront)",
        citation="",
        columns=(schema.label, schema.sensitive, *(f.name for f in schema.features),
                 *(c for c, _ in dropped)),
        label=schema.label,
        label_values=schema.label_values,
        positive_label=schema.positive,
        sensitive_attributes=(schema.sensitive,),
        features=tuple(features),
        dropped=dropped,
        missing_values=(),
        n_rows=schema.n,
        notes=(
            f"DECLARED SCHEMA ({declared_in}): the column types, bounds, category lists, "
            f"groups and the row count n = {schema.n:,} come from a schema the user declares "
            "public; none is computed from the rows. The reported epsilon covers the "
            "encoding and the privacy schedule only if that declaration is true.",
            f"Numbers are clipped to their declared bounds; a categorical value outside its "
            f"declared list encodes as {OTHER!r}, so the features do not depend on the rows.",
            f"Groups of {schema.sensitive!r}: "
            + ", ".join(f"{k} = {g!r}" for k, g in enumerate(schema.groups))
            + ". The model sees the sensitive attribute as an input feature.",
            f"Before training the rows were checked: at least min_rows={min_rows} rows, "
            f"min_group_size={min_group_size} per group, no empty cell, every value as "
            "declared. A run's existence reveals that these checks passed.",
        ),
    )


# ---------------------------------------------------------------------- description
def describe_inferred(card: DatasetCard) -> str:
    """A plain-text table of a user card: each column, its type and schema.

    Args:
        card: A card (made for any data set; meant for a user file's).

    Returns:
        Several lines: the label and positive class, the sensitive groups, one
        line per column (numeric with bounds, categorical with its values,
        label, or dropped with the reason), then the card's notes.
    """
    negative = next(v for v in card.label_values if v != card.positive_label)
    lines = [
        f"{card.name}: {card.n_features} encoded features",
        f"label {card.label!r}: {card.positive_label!r} -> 1, {negative!r} -> 0",
    ]
    for a in card.sensitive_attributes:
        groups = ", ".join(f"{k} = {g!r}" for k, g in enumerate(card.group_names(a)))
        lines.append(f"sensitive {a!r}: groups {groups}")
    width = max(len(c) for c in card.columns)
    dropped = dict(card.dropped)
    features = {f.name: f for f in card.features}
    for c in card.columns:
        f = features.get(c)
        if c == card.label:
            kind = "label"
        elif isinstance(f, NumericFeature):
            kind = f"numeric      [{f.lo:g}, {f.hi:g}]"
        elif isinstance(f, CategoricalFeature):
            shown = ", ".join(f.categories[:8]) + (", ..." if len(f.categories) > 8 else "")
            kind = f"categorical  {len(f.categories)} values: {shown}"
        else:
            kind = f"dropped      {dropped.get(c, '')}"
        lines.append(f"  {c:<{width}}  {kind}")
    lines += [f"note: {n}" for n in card.notes]
    return "\n".join(lines)
