"""Opening Optuna storage safely: a bad URL or a foreign file is refused, untouched.

Optuna's RDB storage creates its tables in whatever SQLite file it is given;
pointed at a user's unrelated database (or a corrupt file) it would either
write into it or fail half-way. We look first, read-only, and refuse with a
clear error instead.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from trifront.errors import StorageError

if TYPE_CHECKING:  # optuna is imported on use, so settings can name the default cheaply
    import optuna

DEFAULT_STORAGE = "sqlite:///trifront.db"
_SQLITE_PREFIX = "sqlite:///"
_OPTUNA_TABLES = {"studies", "trials", "version_info"}


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL, or None for other storages."""
    if url.startswith(_SQLITE_PREFIX):
        return Path(url[len(_SQLITE_PREFIX):])
    return None


def check_storage(url: str) -> None:
    """Refuse a storage URL that Optuna would damage or cannot use.

    A SQLite file that exists must be either empty or an Optuna database; the
    check opens it read-only and changes nothing.

    Raises:
        StorageError: On a malformed URL, a corrupt or foreign SQLite file, or a
            missing parent directory.
    """
    if "://" not in url:
        raise StorageError(
            f"storage must be an Optuna storage URL such as {DEFAULT_STORAGE!r} or "
            f"'postgresql://user:pass@host/db', but got {url!r}."
        )
    path = sqlite_path(url)
    if path is None:
        return
    if not path.parent.exists() and str(path.parent) not in ("", "."):
        raise StorageError(f"the directory of storage file {str(path)!r} does not exist.")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = {r[0] for r in rows}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(
            f"storage file {str(path)!r} is not a readable SQLite database ({exc}); "
            "it was left untouched. Pass another --storage."
        ) from None
    if tables and not _OPTUNA_TABLES <= tables:
        raise StorageError(
            f"storage file {str(path)!r} is a SQLite database of something else "
            f"(tables: {', '.join(sorted(tables)[:5])}); it was left untouched. "
            "Pass a new file or an existing trifront/Optuna database."
        )


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Check, then open an Optuna storage.

    Raises:
        StorageError: If the storage is refused by ``check_storage`` or Optuna
            cannot open it.
    """
    import optuna

    check_storage(url)
    try:
        return optuna.storages.RDBStorage(url) if "://" in url else optuna.storages.get_storage(url)
    except Exception as exc:  # sqlalchemy/driver errors vary by backend
        missing = _missing_module(exc)
        if missing is not None:
            raise StorageError(
                f"cannot open storage {_redacted(url)!r}: its database driver "
                f"{missing!r} is not installed; {_driver_hint(url, missing)}"
            ) from None
        raise StorageError(
            f"cannot open storage {_redacted(url)!r}: {exc.__class__.__name__}: {exc}"
        ) from None


def _missing_module(exc: BaseException) -> str | None:
    """The module whose absence caused ``exc`` (SQLAlchemy's driver import), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ModuleNotFoundError) and seen.name:
            return seen.name
        seen = seen.__cause__ or seen.__context__
    return None


def _driver_hint(url: str, module: str) -> str:
    scheme = url.split("://", 1)[0]
    if scheme in ("postgresql", "postgresql+psycopg", "postgres"):
        return "install it with: pip install 'trifront[postgres]'."
    return (f"install the Python package that provides {module!r} for {scheme}:// URLs "
            "(see SQLAlchemy's dialect list).")


def _redacted(url: str) -> str:
    """The URL without its password (errors are printed and logged)."""
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, at, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{head}://{user}:***@{host}" if ":" in creds else url


def study_names(url: str) -> list[str]:
    """Names of the studies in a storage."""
    import optuna

    storage = open_storage(url)
    return [s.study_name for s in optuna.get_all_study_summaries(storage)]
