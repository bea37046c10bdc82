"""The one-run audit bound (Steinke, Nasr & Jagielski 2023) against independent computations."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trifront.errors import ConfigError
from trifront.privacy.audit import (
    best_guesses,
    epsilon_lower_bound,
    guess_counts,
    p_value,
    score_guesses,
)


def _log_pmf(j: int, r: int, p: float) -> float:
    return (math.lgamma(r + 1) - math.lgamma(j + 1) - math.lgamma(r - j + 1)
            + j * math.log(p) + (r - j) * math.log1p(-p))


def _tail(v: int, r: int, p: float) -> float:
    """P[Binomial(r, p) >= v] by a direct sum of the pmf (no scipy)."""
    return math.fsum(math.exp(_log_pmf(j, r, p)) for j in range(max(v, 0), r + 1))


def _p_value_direct(eps: float, delta: float, m: int, r: int, v: int) -> float:
    """The theorem's right-hand side, written out from its statement."""
    p = math.exp(eps) / (1 + math.exp(eps))
    tail = _tail(v, r, p)
    best = 0.0
    for i in range(1, v + 1):
        window = math.fsum(math.exp(_log_pmf(j, r, p)) for j in range(max(v - i, 0), v))
        best = max(best, window / i)
    return min(1.0, tail + 2 * m * delta * best)


@pytest.mark.parametrize(("eps", "delta", "m", "r", "v"), [
    (0.0, 0.0, 100, 100, 50), (1.0, 0.0, 1000, 200, 150), (2.0, 1e-5, 1000, 200, 170),
    (4.0, 1e-5, 1000, 1000, 950), (0.5, 1e-3, 50, 40, 30), (3.0, 1e-5, 1000, 20, 20),
])
def test_p_value_matches_a_direct_binomial_sum(eps, delta, m, r, v):
    got = p_value(epsilon=eps, delta=delta, canaries=m, guesses=r, correct=v)
    assert got == pytest.approx(_p_value_direct(eps, delta, m, r, v), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("r", "v", "conf"), [(1000, 900, 0.95), (200, 150, 0.95),
                                               (100, 90, 0.99), (50, 40, 0.9)])
def test_bound_is_where_the_direct_tail_crosses_alpha(r, v, conf):
    """delta = 0: the bound is the eps where P[Binomial(r, p(eps)) >= v] = 1 - conf."""
    eps = epsilon_lower_bound(canaries=1000, guesses=r, correct=v, confidence=conf, delta=0.0)
    p_at = math.exp(eps) / (1 + math.exp(eps))
    assert eps > 0
    assert _tail(v, r, p_at) == pytest.approx(1 - conf, rel=1e-6)
    lo, hi = (math.exp(e) / (1 + math.exp(e)) for e in (eps - 1e-3, eps + 1e-3))
    assert _tail(v, r, lo) < 1 - conf < _tail(v, r, hi)


@pytest.mark.parametrize("r", [10, 100, 1000])
def test_all_correct_closed_form(r):
    """All right, delta = 0: p(eps)^r = alpha, so eps = log(a / (1 - a)), a = alpha^(1/r)."""
    a = 0.05 ** (1 / r)
    want = math.log(a / (1 - a))
    got = epsilon_lower_bound(canaries=r, guesses=r, correct=r, confidence=0.95, delta=0.0)
    assert got == pytest.approx(want, rel=1e-7)


def test_known_values():
    # r = 1000 all correct at 95%: log(333.3...) ~ 5.81 (the ceiling of 1000 guesses).
    assert epsilon_lower_bound(canaries=1000, guesses=1000, correct=1000, confidence=0.95,
                               delta=0.0) == pytest.approx(5.8091, abs=1e-3)
    # Chance-level accuracy proves nothing.
    assert epsilon_lower_bound(canaries=1000, guesses=1000, correct=500, confidence=0.95,
                               delta=1e-5) == 0.0


def test_delta_only_weakens_the_bound():
    args = dict(canaries=1000, guesses=200, correct=180, confidence=0.95)
    pure = epsilon_lower_bound(**args, delta=0.0)
    assert epsilon_lower_bound(**args, delta=1e-5) <= pure
    assert epsilon_lower_bound(**args, delta=1e-3) < epsilon_lower_bound(**args, delta=1e-5)


@settings(max_examples=60, deadline=None)
@given(r=st.integers(1, 300), frac=st.floats(0, 1), eps=st.floats(0, 10),
       delta=st.sampled_from([0.0, 1e-6, 1e-4]))
def test_p_value_grows_with_epsilon_and_bound_rejects_below(r, frac, eps, delta):
    v = int(round(frac * r))
    lo = p_value(epsilon=eps, delta=delta, canaries=1000, guesses=r, correct=v)
    hi = p_value(epsilon=eps + 0.5, delta=delta, canaries=1000, guesses=r, correct=v)
    assert 0 <= lo <= hi + 1e-12 <= 1 + 1e-12
    bound = epsilon_lower_bound(canaries=1000, guesses=r, correct=v, confidence=0.95,
                                delta=delta)
    if bound > 1e-6:
        below = p_value(epsilon=bound * 0.999, delta=delta, canaries=1000, guesses=r,
                        correct=v)
        assert below < 0.05 + 1e-9


def test_coverage_under_randomised_response():
    """The bound's promise, simulated: eps-randomised response is eps-DP; the bound exceeds eps
    in at most 1 - confidence of runs."""
    rng = np.random.default_rng(0)
    eps, m, runs = 1.0, 200, 400
    p = math.exp(eps) / (1 + math.exp(eps))
    over = 0
    for _ in range(runs):
        correct = int(rng.binomial(m, p))
        over += epsilon_lower_bound(canaries=m, guesses=m, correct=correct, confidence=0.95,
                                    delta=0.0) > eps
    assert over / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)


def test_guesses_come_from_scores_only():
    """Precondition: guesses are a function of the scores (the released output); S is read
    only to count. score_guesses takes no membership, and best_guesses' guesses do not
    change when S does."""
    assert list(inspect.signature(score_guesses).parameters) == ["scores", "k"]
    scores = np.random.default_rng(1).normal(size=100)
    g = score_guesses(scores, 10)
    assert (g == 1).sum() == 10 and (g == -1).sum() == 10
    assert set(np.flatnonzero(g == 1)) == set(np.argsort(-scores)[:10])
    s1 = np.random.default_rng(2).random(100) < 0.5
    out1 = best_guesses(scores, s1, confidence=0.95, delta=0.0)
    out2 = best_guesses(scores, ~s1, confidence=0.95, delta=0.0)
    # complementary truths: for every k the correct counts sum to the guesses made
    assert out1.guesses in [2 * k for k in guess_counts(100)]
    assert out2.guesses in [2 * k for k in guess_counts(100)]


def test_guess_counts_fixed_in_advance_and_bonferroni():
    """Precondition: r is fixed before the run (a function of m only); the best of the
    tried counts is tested at alpha / len(counts)."""
    assert guess_counts(1000) == (500, 250, 100, 50, 20, 10)
    assert guess_counts(10) == (5, 2, 1)
    included = np.arange(1000) < 500
    perfect = included.astype(float)  # every in-canary scores above every out-canary
    out = best_guesses(perfect, included, confidence=0.95, delta=0.0)
    alpha = 0.05 / len(guess_counts(1000))
    want = epsilon_lower_bound(canaries=1000, guesses=1000, correct=1000,
                               confidence=1 - alpha, delta=0.0)
    assert out.tried == 6 and out.guesses == 1000 and out.correct == 1000
    assert out.epsilon_lower_bound == pytest.approx(want)
    assert want < epsilon_lower_bound(canaries=1000, guesses=1000, correct=1000,
                                      confidence=0.95, delta=0.0)


@pytest.mark.parametrize("kwargs", [
    dict(canaries=10, guesses=11, correct=5, confidence=0.95, delta=0.0),
    dict(canaries=10, guesses=10, correct=11, confidence=0.95, delta=0.0),
    dict(canaries=10, guesses=10, correct=5, confidence=1.0, delta=0.0),
    dict(canaries=10, guesses=10, correct=5, confidence=0.0, delta=0.0),
    dict(canaries=10, guesses=10, correct=5, confidence=0.95, delta=1.0),
])
def test_bad_input(kwargs):
    with pytest.raises(ConfigError):
        epsilon_lower_bound(**kwargs)
