"""Tests of the bundled COMPAS file: no identifying columns, sha256 as on the card."""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import io
import re
from pathlib import Path

import pytest

from trifront.datasets import compas, files, get_card

IDENTIFYING = (
    "id", "name", "first", "last", "dob", "c_case_number", "r_case_number", "vr_case_number",
)
TOOL = Path(__file__).resolve().parents[2] / "tools" / "derive_compas.py"


def _bundled() -> bytes:
    return gzip.decompress((files.DATA_DIR / compas.FILE).read_bytes())


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("ascii"), newline="")))


def test_bundled_file_has_no_identifying_column() -> None:
    rows = _rows(_bundled())
    header = rows[0]
    assert not set(IDENTIFYING) & set(header)
    assert not {c for c, _ in compas.REMOVED} & set(header)
    assert set(IDENTIFYING) <= {c for c, _ in compas.REMOVED}
    assert len(rows) == compas.N_FILE + 1 and {len(r) for r in rows} == {len(compas.COLUMNS)}
    # No calendar date or case number (e.g. 13011352CF10A) is left in any cell.
    pattern = re.compile(r"\d{4}-\d{2}-\d{2}|\d{8}[A-Z]{2}\d{2}[A-Z]")
    assert not [cell for row in rows for cell in row if pattern.search(cell)]


def test_card_sha256_matches_the_bundled_file() -> None:
    data = _bundled()
    assert hashlib.sha256(data).hexdigest() == compas.SHA256
    assert files.read_verified(files.DATA_DIR / compas.FILE, compas.SHA256) == data
    card = get_card("compas")
    assert compas.SHA256 in card.source and compas.SOURCE_SHA256 in card.source
    md = card.to_markdown()
    assert compas.SOURCE_SHA256 in md and compas.SHA256 in md
    for column, _ in compas.REMOVED:
        assert column in md, column


def test_columns_are_the_source_columns_minus_the_removed_ones() -> None:
    removed = [c for c, _ in compas.REMOVED]
    assert len(compas.SOURCE_COLUMNS) == 53 and len(removed) == len(set(removed))
    assert set(removed) <= set(compas.SOURCE_COLUMNS)
    assert compas.COLUMNS == tuple(c for c in compas.SOURCE_COLUMNS if c not in removed)
    card = get_card("compas")
    used = {f.name for f in card.features} | {card.label}
    used |= {"days_b_screening_arrest", "is_recid", "c_charge_degree", "score_text"}
    assert used <= set(compas.COLUMNS)  # features, label and ProPublica's filter are kept


def test_derivation_tool_rebuilds_the_bundled_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """An "original" with the removed columns put back derives to the bundled bytes."""
    spec = importlib.util.spec_from_file_location("derive_compas", TOOL)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    bundled = _bundled()
    rows = _rows(bundled)
    header = [c.removesuffix(".1") for c in compas.SOURCE_COLUMNS]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for i, row in enumerate(rows[1:]):
        cells = dict(zip(compas.COLUMNS, row, strict=True))
        writer.writerow([cells.get(c, f"x,{i}") for c in compas.SOURCE_COLUMNS])
    original = out.getvalue().encode("ascii")
    monkeypatch.setattr(compas, "SOURCE_SHA256", hashlib.sha256(original).hexdigest())
    assert tool.derive(original) == bundled
    with pytest.raises(SystemExit, match="must have sha256"):
        tool.derive(original + b"\r\n")
