"""Bundled data files: locate, decompress, verify. Never any network."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from importlib import resources
from importlib.resources.abc import Traversable
from os import PathLike
from pathlib import Path

from trifront.errors import DataError

#: Directory of the bundled data files (package data of ``trifront.datasets``).
DATA_DIR: Traversable = resources.files("trifront.datasets") / "data"


def read_verified(path: Traversable | PathLike[str] | str, sha256: str) -> bytes:
    """Read a bundled file, gunzip it if its name ends in ``.gz``, and check its hash.

    Args:
        path: The file (a package resource or a filesystem path).
        sha256: Expected hex sha256 of the *decompressed* bytes.

    Returns:
        The decompressed bytes.

    Raises:
        DataError: If the file is absent, not valid gzip, or its decompressed
            bytes do not have the expected sha256.
    """
    p = Path(path) if isinstance(path, str | PathLike) else path
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(
            f"the bundled data file {str(p)!r} must exist, but it is missing; reinstall "
            "trifront (nothing is downloaded)."
        ) from exc
    if p.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"the bundled data file {str(p)!r} must be valid gzip, but it is not ({exc})."
            ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise DataError(
            f"the decompressed bytes of {str(p)!r} must have sha256 {sha256}, but they have "
            f"{digest}; the file was modified or corrupted. Reinstall trifront."
        )
    return data
