"""Reading and checking a user's data file (CSV, TSV or Parquet).

Every problem is one ``ConfigError`` or ``DataError`` line naming the problem,
where it is (row numbers as the user sees them) and what is accepted. Nothing
here decides how a column is encoded: that is the schema's job (a declared
``Schema``, or ``inference.infer_card`` when there is none).
"""

from __future__ import annotations

import gzip
import importlib.util
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from trifront.errors import ConfigError, DataError

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


@dataclass(frozen=True, eq=False)
class Table:
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


_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: Delimiters a delimited text file may use, in order of preference.
DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(path: Path, default: str) -> str:
    """The delimiter of a text table, from its header line.

    ``default`` (the one its name promises: ``,`` for ``.csv``) unless the
    header holds none of it but another of :data:`DELIMITERS`, as a
    ``;``-separated file from a spreadsheet in a comma-decimal locale does.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline()
    except OSError:
        return default  # the reader reports the problem with the file itself
    if default in header:
        return default
    counts = {d: header.count(d) for d in DELIMITERS if d != default}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else default


def _read_csv(path: Path, sep: str) -> Table:
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
            f"data file {str(path)!r} is not a well-formed {_SEP_NAMES.get(sep, repr(sep))}"
            f"-separated file ({detail}); every row must have as many fields as the header."
        ) from exc
    cells = _strip(cells)
    header = cells.iloc[0].tolist()
    rows = np.arange(1, len(cells) + 1)[1:]  # the header is row 1
    body = cells.iloc[1:].reset_index(drop=True)
    blank = (body == "").all(axis=1).to_numpy()
    body, rows = body[~blank].reset_index(drop=True), rows[~blank]
    _check_header(path, header)
    body.columns = header
    return Table(body, rows, "the header is row 1")


def _read_parquet(path: Path) -> Table:
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
    return Table(_strip(cells), np.arange(1, len(cells) + 1), "data rows count from 1")


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


def read_user_table(path: str | PathLike[str]) -> Table:
    """Read a user's data file into stripped string cells with their row numbers.

    Args:
        path: A ``.csv``, ``.tsv`` (optionally ``.gz``), ``.parquet`` or ``.pq`` file
            whose first row (CSV/TSV) names the columns.

    Returns:
        The cells (blank lines removed) and each row's number in the file.

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
    if fmt == "parquet":
        return _read_parquet(p)
    return _read_csv(p, sniff_delimiter(p, "," if fmt == "csv" else "\t"))


def read_table(path: str | PathLike[str]) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Read a user's data file: ``read_user_table`` as a tuple.

    Returns:
        ``(frame, rows, convention)``: one string column per header name (blank
        lines removed); ``rows[i]``, the number in the file of ``frame`` row
        ``i``; and how those numbers count.

    Raises:
        ConfigError, DataError: As ``read_user_table``.
    """
    table = read_user_table(path)
    return table.frame, table.rows, table.convention


def check_int(name: str, value: object, lowest: int) -> int:
    """``value`` as an int, or a ConfigError unless it is an integer >= ``lowest``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
        raise ConfigError(f"`{name}` must be an integer >= {lowest}, but got {name}={value!r}.")
    return int(value)


def check_cells(table: Table, used: Sequence[str], *, file: str, min_rows: int) -> None:
    """Refuse a file with fewer than ``min_rows`` rows or an empty/NaN cell in ``used``.

    Raises:
        DataError: Naming the count and, for missing cells, the columns and the
            first cell's column and row.
    """
    frame = table.frame[list(used)]
    n = len(frame)
    if n < min_rows:
        raise DataError(
            f"data file {file!r} has {n} data rows, but at least min_rows={min_rows} are "
            "required."
        )
    missing = frame.apply(lambda col: col.str.lower().isin(MISSING_MARKERS)).to_numpy()
    if missing.any():
        first_row, first_col = np.argwhere(missing)[0]
        bad_cols = [c for c, m in zip(used, missing.any(axis=0), strict=True) if m]
        raise DataError(
            f"data file {file!r} has {int(missing.sum())} empty or NaN cells (in columns "
            f"{bad_cols}); the first is column {used[first_col]!r} at "
            f"{table.where(int(first_row))}; every cell must hold a value (empty, NA, N/A, "
            "NaN and null count as missing)."
        )


def check_group_sizes(
    column: pd.Series, groups: Sequence[str], *, sensitive: str, min_group_size: int
) -> None:
    """Refuse a sensitive column where a group of ``groups`` has fewer rows than required.

    Raises:
        DataError: Naming each group that is too small and its row count.
    """
    counts = column.value_counts()
    small = [g for g in groups if int(counts.get(g, 0)) < min_group_size]
    if small:
        shown = ", ".join(f"{g!r} has {int(counts.get(g, 0))} rows" for g in small)
        raise DataError(
            f"every group of sensitive column {sensitive!r} must have at least "
            f"min_group_size={min_group_size} rows, but {shown}."
        )
