"""The one-run audit end to end: its preconditions, a correct engine, and broken ones caught.

The audits here are tiny (60 canaries, Adult, batch 64, 5 epochs) and seeded
(``reproducible``) so they repeat exactly; the measured bounds at full size are
in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from trifront.audit import AuditResult, audit, draw_inclusion, make_canaries, quiet_subspace
from trifront.models import make_model
from trifront.privacy import engines, fast_engine, sampling_schedule, train
from trifront.privacy.dpsgd import TrainConfig
from trifront.problem import Problem
from trifront.trial import ExtraRows, fit

PARAMS = dict(clip=1.0, lr=0.5, batch_size=64, epochs=5)


def _problem(engine: str = "fast") -> Problem:
    return Problem(dataset="adult", model="logreg", engine=engine, reproducible=True)


def _run(eps: float, engine: str = "fast") -> AuditResult:
    return audit(_problem(engine), {"target_epsilon": eps, **PARAMS}, seed=0, canaries=60)


def test_inclusion_is_independent_fair_coins():
    """Precondition: each canary is in with probability 1/2, independently, from the OS."""
    s = draw_inclusion(40_000, seed=None)
    assert abs(s.mean() - 0.5) < 4 * math.sqrt(0.25 / len(s))
    pairs = s[:-1] & s[1:]  # neighbours independent: P(both in) = 1/4
    assert abs(pairs.mean() - 0.25) < 4 * math.sqrt(0.25 * 0.75 / len(pairs))
    assert not np.array_equal(draw_inclusion(200, seed=None), draw_inclusion(200, seed=None))
    assert np.array_equal(draw_inclusion(200, seed=3), draw_inclusion(200, seed=3))


def test_canaries_do_not_depend_on_inclusion():
    """Precondition: the canaries (and their directions) are fixed from public values."""
    ds = _problem().validate()
    basis = quiet_subspace(ds.train.X, batch_size=64, canaries=60)
    a = make_canaries(ds.n_features, 60, norm=20.0, seed=0, basis=basis)
    b = make_canaries(ds.n_features, 60, norm=20.0, seed=0, basis=basis)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 20.0)
    # quiet: the training rows barely move along the canaries
    typical = np.linalg.norm(ds.train.X, axis=1).mean()
    assert np.abs(ds.train.X @ (a[0] / 20.0)).mean() < 0.1 * typical


def test_schedule_counts_every_canary_whatever_is_included():
    """Precondition: q and T come from the public count n + m, not from how many got in."""
    p = _problem()
    ds = p.validate()
    rows = make_canaries(ds.n_features, 20, norm=20.0, seed=0)
    params = {"target_epsilon": 1.0, **PARAMS, "epochs": 1}
    plans = []
    for k in (0, 7, 20):
        f = fit(p, params, seed=0, extra=ExtraRows(rows[:k], np.zeros(k), public_count=20))
        plans.append((f.plan.sample_rate, f.plan.steps, f.n_public))
    q, steps = sampling_schedule(n_train=ds.n_train_public + 20, batch_size=64, epochs=1)
    assert plans == [(q, steps, ds.n_train_public + 20)] * 3


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_canaries_are_plain_dp_sgd_rows_under_refreshed_terms(fill):
    """The rows after the data (canaries) get coefficient 0 and weight 1, and read nothing."""
    from trifront.trial import _PaddedFairTerm

    seen = []

    class Inner:
        def refresh(self, logits):
            seen.append(len(logits))
            return torch.full_like(logits, 7.0)

    out = _PaddedFairTerm(Inner(), 5, fill).refresh(torch.zeros(8))
    assert seen == [5]  # the term never sees the canaries' logits
    assert out.tolist() == [7.0] * 5 + [fill] * 3


def test_a_run_with_canaries_trains_under_every_refreshed_knob():
    p = _problem()
    ds = p.validate()
    rows = make_canaries(ds.n_features, 10, norm=20.0, seed=0)
    params = {"target_epsilon": 1.0, **PARAMS, "epochs": 1, "fair_weight": 0.5,
              "fair_target": 0.0}
    f = fit(p, params, seed=0, extra=ExtraRows(rows, np.zeros(10), public_count=10))
    assert f.knobs.fair_target == 0.0 and f.knobs.fair_weight == 0.5


def test_observer_sees_the_same_noisy_sums_in_both_engines():
    """The white-box hook: both engines report the same clipped sum at every step.

    With q = 1 (every row in every batch) and no noise the run is deterministic,
    so the two engines' observed sums must agree step by step.
    """
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 5, generator=g, dtype=torch.float64) * 3
    y = (torch.rand(60, generator=g) < 0.5).double()
    config = TrainConfig(lr=0.1, epochs=5, batch_size=60, max_grad_norm=0.5,
                         noise_multiplier=0.0)
    seen: dict[str, list[torch.Tensor]] = {}
    for engine in ("fast", "opacus"):
        model = make_model("logreg", n_features=5, seed=1).double()
        rows: list[torch.Tensor] = []
        train(model, X, y, config, seed=7, engine=engine,
              observe=lambda step, s, rows=rows: rows.append(torch.cat([t.reshape(-1)
                                                                        for t in s])))
        seen[engine] = rows
    assert len(seen["fast"]) == len(seen["opacus"]) == 5
    for a, b in zip(seen["fast"], seen["opacus"], strict=True):
        assert torch.allclose(a, b, atol=1e-8)


@pytest.mark.parametrize("engine", ["fast", "opacus"])
def test_a_correct_engine_stays_below_its_claim(engine):
    r = _run(0.5, engine)
    assert r.epsilon_lower_bound <= r.epsilon
    assert not r.violated
    assert r.canaries == 60 and r.guesses <= 60 and 0 <= r.correct <= r.guesses


def _no_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Break every engine: the noise is off while the claimed epsilon is still reported."""
    for name, runner in dict(engines._RUNNERS).items():
        def broken(model, X, y, w, config, _run=runner, **kw):
            return _run(model, X, y, w, dataclasses.replace(config, noise_multiplier=0.0), **kw)
        monkeypatch.setitem(engines._RUNNERS, name, broken)


def test_noise_off_is_caught(monkeypatch):
    _no_noise(monkeypatch)
    r = _run(1.0)
    assert r.epsilon == pytest.approx(1.0, rel=0.01)  # still claimed
    assert r.epsilon_lower_bound > r.epsilon
    assert r.violated


def test_clipping_skipped_is_caught(monkeypatch):
    """Break the fast engine's clipping (the noise stays sigma * C)."""
    net = getattr(fast_engine, "FlatNet", None) or fast_engine._FlatNet  # type: ignore[attr-defined]
    monkeypatch.setattr(net, "input_constant", lambda self, X: None)
    r = _run(0.5)
    assert r.epsilon_lower_bound > r.epsilon
    assert r.violated


def test_without_privacy_the_bound_is_at_least_one():
    r = audit(_problem(), {"target_epsilon": math.inf, **PARAMS}, seed=0, canaries=200)
    assert math.isinf(r.epsilon) and not r.violated
    assert r.epsilon_lower_bound >= 1.0


def test_bad_counts_and_confidence():
    from trifront.errors import ConfigError

    with pytest.raises(ConfigError, match="canaries"):
        audit(_problem(), {"target_epsilon": 1.0, **PARAMS}, seed=0, canaries=9)
    with pytest.raises(ConfigError, match="confidence"):
        audit(_problem(), {"target_epsilon": 1.0, **PARAMS}, seed=0, canaries=60,
              confidence=1.0)


def test_without_noise_a_step_is_decoded_jointly():
    """Peeling finds the canaries sampled together where one projection each is confused."""
    from trifront.audit import StepRecorder

    rng = np.random.default_rng(0)
    d, m = 88, 1000  # Adult's encoded width and the default canary count
    X = make_canaries(d, m, norm=10.0, seed=0)
    y = rng.integers(0, 2, m).astype(np.float64)
    model = make_model("logreg", n_features=d, seed=0).double()
    rec = StepRecorder(model, X, y, lr=0.0, divisor=1.0, clip=None, refresh=10**9)
    flat_grads = rec._grads(rec._params(), rec.X, rec.y)
    names = rec.names
    hits, hits_plain = 0, 0
    for trial in range(30):
        batch = rng.choice(m, size=5, replace=False)
        noisy_sum = [flat_grads[k][batch].sum(dim=0) for k in names]  # no noise, unclipped
        rec(trial, noisy_sum)
        top = set(np.argsort(-rec.rows[-1].numpy())[:5])
        plain = (rec.unit @ torch.cat([t.reshape(-1) for t in noisy_sum]).double()).numpy()
        hits += len(top & set(batch))
        hits_plain += len(set(np.argsort(-plain)[:5]) & set(batch))
    assert hits >= 0.9 * 30 * 5
    assert hits > hits_plain
