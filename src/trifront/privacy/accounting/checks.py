"""Input checks of the accountants, the refusal of ``"gdp"``, δ and the sampling schedule.

Every check raises :class:`~trifront.errors.PrivacyError` (a bad number) or
:class:`~trifront.errors.ConfigError` (a bad name or setting) with the rule and
the value received. ``"gdp"`` is refused by name: the Gaussian-DP
central-limit approximation is not an upper bound and can under-report ε.
"""

from __future__ import annotations

import math
import numbers

from trifront.errors import ConfigError, PrivacyError, unknown_name

__all__ = [
    "ACCOUNTANTS",
    "DEFAULT_ACCOUNTANT",
    "check_accountant",
    "check_delta",
    "check_delta_range",
    "check_noise",
    "check_sample_rate",
    "check_steps",
    "sampling_schedule",
]

ACCOUNTANTS: tuple[str, ...] = ("prv", "pld", "rdp")
"""Names of the accepted accountants."""

DEFAULT_ACCOUNTANT = "pld"
"""The accountant used unless another is asked for: sound, the tightest and the fastest."""

_REFUSED = {
    "gdp": (
        "the 'gdp' accountant is refused: its Gaussian-DP central-limit approximation "
        "is not an upper bound and can under-report epsilon; use one of "
        f"{', '.join(ACCOUNTANTS)} ({DEFAULT_ACCOUNTANT!r} is the default)."
    ),
}


def check_accountant(accountant: str) -> str:
    """Return ``accountant`` if it is one of :data:`ACCOUNTANTS`.

    Raises:
        ConfigError: If it is refused (``"gdp"``, with the reason) or unknown
            (with the accepted names and a "did you mean").
    """
    if accountant in _REFUSED:
        raise ConfigError(_REFUSED[accountant])
    if accountant not in ACCOUNTANTS:
        raise unknown_name("accountant", str(accountant), ACCOUNTANTS)
    return accountant


def check_sample_rate(sample_rate: float) -> float:
    """Return q as a float if ``0 < q <= 1``; raise PrivacyError otherwise."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real):
        raise PrivacyError(f"`sample_rate` must be a number, but got {sample_rate!r}.")
    q = float(sample_rate)
    if not 0.0 < q <= 1.0:
        raise PrivacyError(f"`0 < sample_rate <= 1` must hold, but got sample_rate={q}.")
    return q


def check_steps(steps: int) -> int:
    """Return ``steps`` as an int if it is an integer ``>= 0``; raise PrivacyError otherwise."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise PrivacyError(f"`steps` must be an integer >= 0, but got steps={steps!r}.")
    return int(steps)


def check_delta_range(delta: float) -> float:
    """Return δ as a float if ``0 < delta < 1``; raise PrivacyError otherwise."""
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
        raise PrivacyError(f"`delta` must be a number, but got {delta!r}.")
    d = float(delta)
    if not 0.0 < d < 1.0:
        raise PrivacyError(f"`0 < delta < 1` must hold, but got delta={d}.")
    return d


def check_noise(noise_multiplier: float) -> float:
    """Return σ as a float if it is a number ``>= 0`` (``inf`` allowed); raise otherwise."""
    if isinstance(noise_multiplier, bool) or not isinstance(noise_multiplier, numbers.Real):
        raise PrivacyError(f"`noise_multiplier` must be a number, but got {noise_multiplier!r}.")
    s = float(noise_multiplier)
    if math.isnan(s) or s < 0.0:
        raise PrivacyError(f"`noise_multiplier >= 0` must hold, but got noise_multiplier={s}.")
    return s


def check_delta(*, delta: float, n_train: int) -> None:
    """Refuse a δ that does not protect individuals of a data set of ``n_train`` rows.

    Args:
        delta: The δ of (ε, δ)-DP, a probability.
        n_train: Number of training examples.

    Raises:
        PrivacyError: Unless ``0 < delta < 1/n_train``; the message names both values.
    """
    if isinstance(n_train, bool) or not isinstance(n_train, numbers.Integral) or n_train < 1:
        raise PrivacyError(f"`n_train` must be an integer >= 1, but got n_train={n_train!r}.")
    bound = 1.0 / n_train
    ok = isinstance(delta, numbers.Real) and not isinstance(delta, bool) and 0.0 < delta < bound
    if not ok:
        raise PrivacyError(
            f"`0 < delta < 1/n_train` must hold, but got delta={delta} with "
            f"n_train={n_train} (1/n_train={bound:.3g})."
        )


def sampling_schedule(*, n_train: int, batch_size: int, epochs: int) -> tuple[float, int]:
    """Poisson sampling rate and number of DP-SGD steps for an expected batch size.

    Args:
        n_train: Number of training examples.
        batch_size: Expected batch size, in examples (Poisson sampling: each
            example is in a batch with probability ``batch_size / n_train``).
        epochs: Number of passes over the data, in expectation.

    Returns:
        ``(q, steps)``: ``q = batch_size / n_train`` and
        ``steps = max(1, round(epochs / q))``.

    Raises:
        ConfigError: If a value is not a positive integer or ``batch_size > n_train``.
    """
    for name, value in (("n_train", n_train), ("batch_size", batch_size), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ConfigError(f"`{name}` must be an integer >= 1, but got {name}={value!r}.")
    if batch_size > n_train:
        raise ConfigError(
            f"`batch_size <= n_train` must hold, but got batch_size={batch_size} "
            f"with n_train={n_train}."
        )
    q = batch_size / n_train
    return q, max(1, round(epochs / q))
