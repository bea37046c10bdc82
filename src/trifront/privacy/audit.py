"""The one-run audit bound: from canary guesses to a lower bound on epsilon.

Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run"
(NeurIPS 2023, arXiv 2305.08846). The experiment:

1. The auditor fixes ``m`` canaries. Each is put into the training input
   independently with probability 1/2 (the secret vector ``S`` in
   ``{-1, +1}^m``); the rest of the input does not depend on ``S``.
2. The mechanism runs once. From its output alone (and anything fixed before
   ``S`` was drawn: the canaries, the public initialisation, the non-canary
   data) the auditor makes at most ``r`` guesses ``T_i`` in ``{-1, +1}`` and
   abstains on the others (``T_i = 0``). ``r`` is fixed before the run.
3. ``W`` counts the correct guesses (``T_i = S_i``).

**Theorem** (the paper's main result, with its delta term). If the mechanism
is (epsilon, delta)-DP with respect to adding or removing one canary, then for
every ``v``::

    P[W >= v] <= P[B >= v] + 2 m delta * max_{1 <= i <= v} P[v - i <= B < v] / i,

with ``B ~ Binomial(r, p)`` and ``p = e^eps / (1 + e^eps)`` (the accuracy of
epsilon-randomised response). With ``delta = 0`` the second term vanishes:
the number of correct guesses is dominated by that Binomial.

So observing ``v`` correct guesses rejects "(eps, delta)-DP" at significance
``alpha = 1 - confidence`` whenever the right-hand side (:func:`p_value`) is
below ``alpha``. The right-hand side grows with ``eps``; the largest rejected
``eps`` is the **lower bound** (:func:`epsilon_lower_bound`): with probability at
least ``confidence`` over ``S`` and the mechanism's randomness, an
(eps, delta)-DP mechanism gives a bound at or below its eps.

Choosing the number of guesses after looking at the scores is a multiple test:
:func:`best_guesses` tries a fixed list of guess counts (a function of ``m``
only) and divides ``alpha`` among them (Bonferroni), so the reported bound keeps
its confidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import binom

from trifront.errors import ConfigError

__all__ = [
    "GuessOutcome",
    "best_guesses",
    "epsilon_lower_bound",
    "guess_counts",
    "p_value",
    "score_guesses",
]

#: The largest epsilon the search considers (p at eps=60 is 1 - 1e-26).
EPS_CAP = 60.0


def _check_counts(*, canaries: int, guesses: int, correct: int) -> None:
    if not 0 <= correct <= guesses <= canaries:
        raise ConfigError(
            "`0 <= correct <= guesses <= canaries` must hold, but got "
            f"correct={correct}, guesses={guesses}, canaries={canaries}."
        )


def _check_level(*, confidence: float, delta: float) -> None:
    if not 0 < confidence < 1:
        raise ConfigError(f"`0 < confidence < 1` must hold, but got confidence={confidence}.")
    if not 0 <= delta < 1:
        raise ConfigError(f"`0 <= delta < 1` must hold, but got delta={delta}.")


def p_value(*, epsilon: float, delta: float, canaries: int, guesses: int, correct: int) -> float:
    """The theorem's bound on ``P[W >= correct]`` for an (epsilon, delta)-DP mechanism.

    Args:
        epsilon: The hypothesised epsilon, ``>= 0``.
        delta: The hypothesised delta, in ``[0, 1)``.
        canaries: ``m``, canaries each included with probability 1/2.
        guesses: ``r``, the number of guesses made (abstentions excluded).
        correct: ``v``, the number of correct guesses.

    Returns:
        ``min(1, P[B >= v] + 2 m delta max_i P[v - i <= B < v] / i)``,
        ``B ~ Binomial(r, e^eps / (1 + e^eps))``.

    Raises:
        ConfigError: If the counts are inconsistent or epsilon is negative.
    """
    _check_counts(canaries=canaries, guesses=guesses, correct=correct)
    if not epsilon >= 0:
        raise ConfigError(f"`epsilon >= 0` must hold, but got epsilon={epsilon}.")
    p = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(binom.sf(correct - 1, guesses, p))  # P[B >= v]
    if delta == 0 or correct == 0:
        return min(1.0, tail)
    # P[v - i <= B < v] for i = 1..v, as cumulative sums of the pmf below v.
    below = binom.pmf(np.arange(correct - 1, -1, -1), guesses, p)
    alpha = float(np.max(np.cumsum(below) / np.arange(1, correct + 1)))
    return min(1.0, tail + 2.0 * canaries * delta * alpha)


def epsilon_lower_bound(
    *, canaries: int, guesses: int, correct: int, confidence: float, delta: float
) -> float:
    """The largest epsilon that ``correct`` of ``guesses`` rejects at ``confidence``.

    Args:
        canaries: ``m``, canaries each included with probability 1/2.
        guesses: ``r``, the number of guesses made, fixed before the run.
        correct: ``v``, the number of correct guesses.
        confidence: ``1 - alpha``, in ``(0, 1)``.
        delta: The delta of the claim being audited.

    Returns:
        ``sup {eps : p_value(eps) < 1 - confidence}`` (to 1e-9), or 0.0 when
        even ``eps = 0`` is not rejected.

    Raises:
        ConfigError: On inconsistent counts, a confidence outside (0, 1) or a
            delta outside [0, 1).
    """
    _check_counts(canaries=canaries, guesses=guesses, correct=correct)
    _check_level(confidence=confidence, delta=delta)
    alpha = 1.0 - confidence

    def gap(eps: float) -> float:
        return p_value(epsilon=eps, delta=delta, canaries=canaries, guesses=guesses,
                       correct=correct) - alpha

    if guesses == 0 or gap(0.0) >= 0:
        return 0.0
    if gap(EPS_CAP) < 0:
        return EPS_CAP
    return float(brentq(gap, 0.0, EPS_CAP, xtol=1e-9, rtol=1e-12))


def guess_counts(canaries: int) -> tuple[int, ...]:
    """The guess counts ``k`` tried per side (``r = 2k``): a function of ``m`` only.

    ``k`` in ``m/2, m/4, m/10, m/20, m/50, m/100`` (rounded down, at least 1,
    without repeats): from guessing every canary to guessing only the most
    confident 2%.
    """
    if canaries < 2:
        raise ConfigError(f"`canaries >= 2` must hold, but got canaries={canaries}.")
    out: list[int] = []
    for frac in (2, 4, 10, 20, 50, 100):
        k = max(1, canaries // frac)
        if k not in out:
            out.append(k)
    return tuple(out)


@dataclass(frozen=True)
class GuessOutcome:
    """The audit's guesses and what they prove.

    Attributes:
        guesses: ``r``, the number of guesses (``k`` "in" plus ``k`` "out").
        correct: ``v``, the number of correct guesses.
        epsilon_lower_bound: The bound at ``confidence`` (Bonferroni-corrected
            over :func:`guess_counts`).
        confidence: The overall confidence of the bound.
        tried: How many guess counts were tried (the Bonferroni factor).
    """

    guesses: int
    correct: int
    epsilon_lower_bound: float
    confidence: float
    tried: int


def score_guesses(scores: np.ndarray, k: int) -> np.ndarray:
    """Guesses from scores alone: +1 for the ``k`` highest, -1 for the ``k`` lowest, else 0.

    Ties are broken by index (a stable sort), never by membership.

    Args:
        scores: One score per canary, shape ``(m,)``; higher means "more likely in".
        k: Guesses per side, ``1 <= k <= m/2``.

    Returns:
        ``T`` in ``{-1, 0, +1}^m``, with exactly ``2k`` non-zero entries.
    """
    scores = np.asarray(scores, dtype=np.float64)
    m = len(scores)
    if not 1 <= k <= m // 2:
        raise ConfigError(f"`1 <= k <= m/2` must hold, but got k={k} with m={m}.")
    if not np.all(np.isfinite(scores)):
        raise ConfigError("canary scores must be finite.")
    order = np.argsort(-scores, kind="stable")
    guess = np.zeros(m, dtype=np.int64)
    guess[order[:k]] = 1
    guess[order[m - k:]] = -1
    return guess


def best_guesses(
    scores: np.ndarray, included: np.ndarray, *, confidence: float, delta: float
) -> GuessOutcome:
    """Guess for every ``k`` of :func:`guess_counts`; keep the best Bonferroni-corrected bound.

    The guesses depend on ``scores`` only; ``included`` (the secret ``S``) is
    read afterwards, to count correct guesses. Each ``k`` is tested at
    significance ``(1 - confidence) / len(guess_counts(m))``, so the maximum
    over ``k`` holds at ``confidence``.

    Args:
        scores: One score per canary, shape ``(m,)``; higher means "more likely in".
        included: Whether each canary was in the training input, shape ``(m,)``.
        confidence: Overall confidence in ``(0, 1)``.
        delta: The delta of the claim.

    Returns:
        The best outcome (the smallest ``k`` among ties).
    """
    included = np.asarray(included, dtype=bool)
    m = len(included)
    if np.shape(scores) != (m,):
        raise ConfigError(f"scores must have shape ({m},), but got {np.shape(scores)}.")
    _check_level(confidence=confidence, delta=delta)
    ks = guess_counts(m)
    per_test = 1.0 - (1.0 - confidence) / len(ks)
    truth = np.where(included, 1, -1)
    best: GuessOutcome | None = None
    for k in ks:
        guess = score_guesses(scores, k)
        correct = int(np.sum(guess == truth))
        bound = epsilon_lower_bound(canaries=m, guesses=2 * k, correct=correct,
                                    confidence=per_test, delta=delta)
        if best is None or bound > best.epsilon_lower_bound:
            best = GuessOutcome(2 * k, correct, bound, confidence, len(ks))
    assert best is not None
    return best
