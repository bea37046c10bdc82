"""Storage URLs: foreign or corrupt SQLite files are refused and left untouched."""

import hashlib
import sqlite3

import pytest

from trifront.errors import StorageError
from trifront.storage import check_storage, open_storage


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_corrupt_file_is_refused_untouched(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    before = _digest(bad)
    with pytest.raises(StorageError, match="not a readable SQLite"):
        open_storage(f"sqlite:///{bad}")
    assert _digest(bad) == before


def test_foreign_sqlite_is_refused_untouched(tmp_path):
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE patients (id INTEGER, name TEXT)")
    con.commit()
    con.close()
    before = _digest(foreign)
    with pytest.raises(StorageError, match="something else"):
        open_storage(f"sqlite:///{foreign}")
    assert _digest(foreign) == before


def test_malformed_url_and_missing_directory(tmp_path):
    with pytest.raises(StorageError, match="storage URL"):
        check_storage("trifront.db")
    with pytest.raises(StorageError, match="does not exist"):
        check_storage(f"sqlite:///{tmp_path}/no/such/dir/x.db")


def test_new_file_is_created_and_reopened(tmp_path):
    url = f"sqlite:///{tmp_path}/new.db"
    open_storage(url)
    check_storage(url)  # now an Optuna database: accepted
    assert (tmp_path / "new.db").exists()
