"""The exception hierarchy: every error trifront raises on purpose is a TrifrontError.

Subclasses also inherit the matching builtin, so ``except ValueError`` keeps
working for callers who do not know trifront. The CLI turns a ``TrifrontError``
into exit code 2 and one line on stderr; anything else is an internal failure
(exit code 1).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TrifrontError(Exception):
    """Base class of every error trifront raises deliberately."""


class ConfigError(TrifrontError, ValueError):
    """A setting, flag or config-file value is out of its accepted range."""


class DataError(TrifrontError, ValueError):
    """A data set or data file cannot be used as given."""


class PrivacyError(TrifrontError, ValueError):
    """A privacy parameter (epsilon, delta, noise) is out of its sound range."""


class StorageError(TrifrontError, RuntimeError):
    """The study storage cannot be opened or does not hold what was asked."""


def unknown_name(kind: str, value: str, accepted: Iterable[str]) -> ConfigError:
    """Build the error for a name that is not one of ``accepted``.

    Args:
        kind: What the name denotes ("dataset", "sampler", ...).
        value: The name received.
        accepted: The valid names.

    Returns:
        A ConfigError whose message names the value, the valid names and, when
        one is close, a "did you mean" suggestion.
    """
    names = sorted(accepted)
    close = difflib.get_close_matches(value, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown {kind} {value!r}; accepted: {', '.join(names)}.{hint}")


class TrialFailedError(TrifrontError, RuntimeError):
    """A single trial could not produce its objectives (diverged, non-finite, ...).

    The runner records such a trial as FAIL with this message; the study goes on.
    """
