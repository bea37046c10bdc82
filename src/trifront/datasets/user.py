"""The user's own data: a CSV (or Parquet) file turned into a checked ``Dataset``.

``load_user_data`` reads the file, checks it (every problem is one
``ConfigError`` or ``DataError`` line naming the problem and what is accepted),
infers each column's type, builds a ``DatasetCard`` on the fly and hands the
rows to the same encode-and-split path as the bundled data sets.

Unlike a bundled card, a user card's schema is derived from the file itself:
the numeric bounds are the column's minimum and maximum and the category lists
are the values present, over every row of the file. They are statistics of the
data, not public knowledge, and the card says so (``SCHEMA_FROM_DATA_NOTE``), so
that reports can flag it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from trifront.datasets.card import CategoricalFeature, DatasetCard, Feature, NumericFeature
from trifront.datasets.dataset import Dataset
from trifront.datasets.raw import RawData
from trifront.datasets.registry import dataset_from_raw
from trifront.errors import ConfigError, DataError, unknown_name

#: File name ending -> format. Compression of ``.gz`` files is handled by pandas.
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",
    ".tsv.gz": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: Cell values (compared case-insensitively, after stripping) that mean "missing".
MISSING_MARKERS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null"})

#: A column whose cells are numbers in more than this fraction of rows, but not
#: all, is a numeric column with junk in it (an error), not a categorical one.
NUMERIC_MAJORITY = 0.5

#: Most categories a categorical feature may have (one encoded column each).
MAX_CATEGORIES = 100

#: First note of every user card: says where its schema comes from.
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


@dataclass(frozen=True, eq=False)
class _Table:
    """Stripped string cells plus, for each row, its number in the file.

    Attributes:
        frame: One column per header name, every cell a stripped string.
        rows: ``rows[i]`` is the number, in the file, of ``frame`` row ``i``.
        convention: How ``rows`` count, for messages ("the header is row 1").
    """

    frame: pd.DataFrame
    rows: np.ndarray
    convention: str

    def where(self, i: int) -> str:
        """Human-readable position of ``frame`` row ``i``."""
        return f"row {int(self.rows[i])} ({self.convention})"


def _format_of(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    raise ConfigError(
        f"data file {str(path)!r} must end in one of {', '.join(FORMATS)}, but it does not."
    )


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda col: col.astype(str).str.strip())


def _read_csv(path: Path, sep: str) -> _Table:
    try:
        cells = pd.read_csv(
            path, sep=sep, header=None, dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=False, encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"data file {str(path)!r} is empty; a header line with column names and at "
            "least one data row are required."
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {str(path)!r} must be UTF-8 text, but it is not ({exc.reason} at "
            f"byte {exc.start})."
        ) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise DataError(
            f"data file {str(path)!r} is not a well-formed {'CSV' if sep == ',' else 'TSV'} "
            f"file ({detail}); every row must have as many fields as the header."
        ) from exc
    cells = _strip(cells)
    header = cells.iloc[0].tolist()
    rows = np.arange(1, len(cells) + 1)[1:]  # the header is row 1
    body = cells.iloc[1:].reset_index(drop=True)
    blank = (body == "").all(axis=1).to_numpy()
    body, rows = body[~blank].reset_index(drop=True), rows[~blank]
    _check_header(path, header)
    body.columns = header
    return _Table(body, rows, "the header is row 1")


def _read_parquet(path: Path) -> _Table:
    if importlib.util.find_spec("pyarrow") is None and importlib.util.find_spec(
        "fastparquet"
    ) is None:
        raise ConfigError(
            f"reading the Parquet file {str(path)!r} needs pyarrow, which is not installed; "
            "install it with `pip install pyarrow`, or save the data as CSV."
        )
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        detail = " ".join(str(exc).split())
        raise DataError(
            f"data file {str(path)!r} is not a readable Parquet file ({detail})."
        ) from exc
    header = [str(c) for c in frame.columns]
    _check_header(path, header)
    cells = frame.astype(object).where(frame.notna(), "")
    cells.columns = header
    return _Table(_strip(cells), np.arange(1, len(cells) + 1), "data rows count from 1")


def _check_header(path: Path, header: list[str]) -> None:
    if not header or all(h == "" for h in header):
        raise DataError(
            f"data file {str(path)!r} has no columns; its first row must name the columns."
        )
    unnamed = [i + 1 for i, h in enumerate(header) if h == ""]
    if unnamed:
        raise DataError(
            f"every column of {str(path)!r} must have a name in the header, but column(s) "
            f"{unnamed} (counting from 1) have none."
        )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise DataError(
            f"column names of {str(path)!r} must be unique, but {duplicated} appear more "
            "than once."
        )


def read_table(path: str | PathLike[str]) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Read a user's data file into stripped string cells.

    Args:
        path: A ``.csv``, ``.tsv`` (optionally ``.gz``), ``.parquet`` or ``.pq`` file
            whose first row (CSV/TSV) names the columns.

    Returns:
        ``(frame, rows, convention)``: one string column per header name (blank
        lines removed); ``rows[i]``, the number in the file of ``frame`` row
        ``i``; and how those numbers count.

    Raises:
        ConfigError: If the file name's ending is not accepted, or Parquet is
            asked for without pyarrow.
        DataError: If the file is missing, empty, not parseable, or its header
            is unusable.
    """
    p = Path(path)
    fmt = _format_of(p)
    if not p.is_file():
        raise DataError(
            f"data file {str(p)!r} does not exist"
            + (" (it is a directory)" if p.is_dir() else "")
            + f"; give the path of a {', '.join(FORMATS)} file."
        )
    if p.stat().st_size == 0:
        raise DataError(
            f"data file {str(p)!r} is empty; a header line with column names and at least "
            "one data row are required."
        )
    table = _read_parquet(p) if fmt == "parquet" else _read_csv(p, "," if fmt == "csv" else "\t")
    return table.frame, table.rows, table.convention


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
    name: str, column: pd.Series, table: _Table
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


def _check_int(name: str, value: object, lowest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
        raise ConfigError(f"`{name}` must be an integer >= {lowest}, but got {name}={value!r}.")
    return int(value)


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
        ``(card, rows)``: the inferred card and the checked string rows (the
        card's columns only, blank lines removed).

    Raises:
        ConfigError: For a bad argument, unknown column name or positive label.
        DataError: For a bad file or bad cells (see ``load_user_data``).
    """
    min_group_size = _check_int("min_group_size", min_group_size, 1)
    min_rows = _check_int("min_rows", min_rows, 1)
    p = Path(path)
    frame, rows, convention = read_table(p)
    table = _Table(frame, rows, convention)
    columns = list(frame.columns)
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
    frame = frame[used]

    n = len(frame)
    if n < min_rows:
        raise DataError(
            f"data file {p.name!r} has {n} data rows, but at least min_rows={min_rows} are "
            "required."
        )
    missing = frame.apply(lambda col: col.str.lower().isin(MISSING_MARKERS)).to_numpy()
    if missing.any():
        first_row, first_col = np.argwhere(missing)[0]
        bad_cols = [c for c, m in zip(used, missing.any(axis=0), strict=True) if m]
        raise DataError(
            f"data file {p.name!r} has {int(missing.sum())} empty or NaN cells (in columns "
            f"{bad_cols}); the first is column {used[first_col]!r} at "
            f"{table.where(int(first_row))}; every cell must hold a value (empty, NA, N/A, "
            "NaN and null count as missing)."
        )

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
    small = [g for g in groups if group_counts[g] < min_group_size]
    if small:
        shown = ", ".join(f"{g!r} has {group_counts[g]} rows" for g in small)
        raise DataError(
            f"every group of sensitive column {sensitive!r} must have at least "
            f"min_group_size={min_group_size} rows, but {shown}."
        )

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


def load_user_data(
    path: str | PathLike[str],
    *,
    label: str,
    sensitive: str,
    positive: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    min_group_size: int = 30,
    min_rows: int = 50,
    ignore: Sequence[str] = (),
) -> Dataset:
    """Load a user's CSV/TSV/Parquet file as a Dataset, checking it on the way.

    Every column except the label is a feature; its type is inferred: numeric
    if every cell is a number (scaled to [0, 1] between the file's min and max),
    otherwise categorical (one-hot over the values present). The sensitive
    column is always categorical. Constant columns are dropped. See
    ``describe_inferred`` for a readable summary, and ``SCHEMA_FROM_DATA_NOTE``
    for why that schema is not public. A fixed test split (seed
    ``TEST_SPLIT_SEED``) is carved first, then a seeded validation split.

    Args:
        path: The file; its first row names the columns (CSV/TSV, UTF-8).
        label: The label column; it must have exactly two values.
        sensitive: The sensitive-attribute column (at least two groups).
        positive: The label value encoded as 1; needed unless the values are an
            evident pair (0/1, -1/1, false/true, no/yes, n/y, any case).
        seed: Seed of the validation split (non-negative integer).
        val_fraction: Fraction of the non-test rows held out for validation.
        test_fraction: Fraction of all rows held out as the fixed test split.
        min_group_size: Fewest rows any sensitive group may have in the file.
        min_rows: Fewest data rows the file may have.
        ignore: Columns to leave out altogether.

    Returns:
        The Dataset; its card is inferred (``dataset.card``).

    Raises:
        ConfigError: If an argument is not accepted: unknown column (with "did
            you mean"), a positive label that is not a label value, a file
            ending that is not accepted, Parquet without pyarrow, bad fractions.
        DataError: If the file cannot be used: missing, empty or without
            columns, unparseable, fewer than ``min_rows`` rows, empty or NaN
            cells (count and first row), a label without exactly two classes,
            a sensitive column with one group or a group under
            ``min_group_size``, non-numeric junk in a numeric column, or a
            categorical column with more than ``MAX_CATEGORIES`` values.
    """
    card, frame = infer_card(
        path, label=label, sensitive=sensitive, positive=positive,
        min_group_size=min_group_size, min_rows=min_rows, ignore=ignore,
    )
    return dataset_from_raw(
        card, RawData(train=frame, test=None), seed=seed, val_fraction=val_fraction,
        test_fraction=test_fraction, sensitive=sensitive,
    )


def describe_inferred(card: DatasetCard) -> str:
    """A plain-text table of an inferred card: each column, its type and schema.

    Args:
        card: A card (made for any data set; meant for ``infer_card``'s).

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
