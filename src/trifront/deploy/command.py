"""The ``trifront export`` command line of a study's trial (for the report, recommend, the card).

Light on purpose: no torch, no training code, so the report can print one per
front configuration cheaply.
"""

from __future__ import annotations

import re
import shlex
from os import PathLike

__all__ = ["export_command", "redact_url"]

_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@]*):(?P<pw>[^@]*)@")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (``postgresql://u:***@host/db``)."""
    return _PASSWORD.sub(lambda m: f"{m.group('head')}:***@", url)


def export_command(
    study: str,
    *,
    trial: int,
    out: str | PathLike[str],
    storage_url: str | None,
    seed: int | None = None,
) -> str:
    """The command that exports trial ``trial`` of ``study``.

    Args:
        study: The study name.
        trial: The trial number.
        out: The model directory to write.
        storage_url: The study's storage URL (a password in it is shown as
            ``***``); None writes a ``STORAGE_URL`` placeholder.
        seed: A public seed other than the trial's own (None: the trial's).
    """
    args = ["trifront", "export", study, "--trial", str(int(trial)), "--out", str(out),
            "--storage", redact_url(storage_url) if storage_url else "STORAGE_URL"]
    if seed is not None:
        args += ["--seed", str(int(seed))]
    return shlex.join(args)
