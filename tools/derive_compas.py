"""Derive trifront's bundled COMPAS file from ProPublica's compas-scores-two-years.csv.

The output keeps ProPublica's rows, their order, every kept cell byte for byte
and the CRLF line ends; it only removes the columns in
``trifront.datasets.compas.REMOVED`` (names, date of birth, case numbers,
ProPublica's person id and exact dates). It is gzip-compressed at level 9 with
mtime 0 and no file name, so the same input gives the same bytes. This script
is a maintainer's tool: trifront never imports it, and the original file is not
shipped.

Usage::

    python tools/derive_compas.py ORIGINAL [OUT]

``ORIGINAL`` is ProPublica's ``compas-scores-two-years.csv`` (plain or ``.gz``;
its decompressed sha256 must be ``compas.SOURCE_SHA256``). ``OUT`` defaults to
the bundled file ``src/trifront/datasets/data/<compas.FILE>``. Exit status 1 if
the result's sha256 differs from ``compas.SHA256`` (the card's).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import sys
from pathlib import Path

from trifront.datasets import compas

DATA_DIR = Path(__file__).resolve().parents[1] / "src" / "trifront" / "datasets" / "data"


def _pandas_names(header: list[str]) -> tuple[str, ...]:
    """Header names as pandas reads them: a repeated name gets ``.1``, ``.2``, ..."""
    seen: dict[str, int] = {}
    names = []
    for name in header:
        k = seen.get(name, 0)
        names.append(f"{name}.{k}" if k else name)
        seen[name] = k + 1
    return tuple(names)


def derive(original: bytes) -> bytes:
    """Return the bundled file's (uncompressed) bytes from ProPublica's file.

    Args:
        original: The decompressed bytes of ``compas-scores-two-years.csv``.

    Raises:
        SystemExit: If the input's sha256 or header is not ProPublica's.
    """
    digest = hashlib.sha256(original).hexdigest()
    if digest != compas.SOURCE_SHA256:
        raise SystemExit(
            f"the original must have sha256 {compas.SOURCE_SHA256}, but it has {digest}."
        )
    rows = list(csv.reader(io.StringIO(original.decode("ascii"), newline="")))
    names = _pandas_names(rows[0])
    if names != compas.SOURCE_COLUMNS:
        raise SystemExit(f"the original's header must be ProPublica's, but got {names}.")
    removed = dict(compas.REMOVED)
    keep = [i for i, name in enumerate(names) if name not in removed]
    if tuple(names[i] for i in keep) != compas.COLUMNS:
        raise SystemExit("the kept columns must be compas.COLUMNS, in order.")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([row[i] for i in keep])
    return out.getvalue().encode("ascii")


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    src = Path(argv[0])
    dst = Path(argv[1]) if len(argv) == 2 else DATA_DIR / compas.FILE
    original = src.read_bytes()
    if src.name.endswith(".gz"):
        original = gzip.decompress(original)
    derived = derive(original)
    dst.write_bytes(gzip.compress(derived, compresslevel=9, mtime=0))
    digest = hashlib.sha256(derived).hexdigest()
    print(f"source   {compas.SOURCE_SHA256}  {src}")
    print(f"derived  {digest}  {dst} (decompressed)")
    print(f"removed  {len(compas.REMOVED)} columns: {', '.join(c for c, _ in compas.REMOVED)}")
    if digest != compas.SHA256:
        print(f"the card's SHA256 is {compas.SHA256}: update it.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
