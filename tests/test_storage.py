"""Storage URLs: foreign or corrupt SQLite files are refused and left untouched."""

import hashlib
import importlib.util
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


@pytest.mark.parametrize(("url", "hint"), [
    ("postgresql://user:secret@localhost:5432/db", "pip install 'trifront[postgres]'"),
    ("mssql+pymssql://user:secret@localhost/db", "'pymssql'"),
])
def test_a_url_whose_driver_is_missing_names_the_install(url, hint, capsys, tmp_path):
    from trifront.cli import main

    module = "psycopg" if url.startswith("postgresql") else "pymssql"
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here; the missing-driver path cannot be shown")
    code = main(["run", "--dataset", "german", "--trials", "1", "--storage", url,
                 "--out", str(tmp_path / "o"), "--no-progress", "--jobs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "not installed" in err[0] and hint in err[0]
    assert "secret" not in err[0]  # the password is not printed
