"""DP-SGD engines: the fast engine against the Opacus reference, and the privacy rules.

Statistical tests are seeded and state their false-alarm rate (the probability
that a correct implementation fails), chosen at 1e-6 or below.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from trifront.errors import ConfigError, DataError
from trifront.models import make_model, predict_proba
from trifront.privacy import (
    ENGINES,
    TrainConfig,
    TrainLog,
    fast_engine,
    opacus_engine,
    sampling_schedule,
    train,
)
from trifront.privacy.dpsgd import average_start

ALARM = 1e-6  # false-alarm rate of each statistical test
Z = stats.norm.isf(ALARM / 2)  # two-sided normal quantile, about 4.89

CLIPPED_SUMS = {"fast": fast_engine.clipped_grad_sum, "opacus": opacus_engine.clipped_grad_sum}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _problem(n: int, d: int, seed: int, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Features in [0, 1] and labels of a noisy linear rule."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g)
    w = torch.linspace(-2.0, 2.0, d)
    y = ((X - 0.5) @ w + noise * torch.randn(n, generator=g) > 0).float()
    return X, y


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


# The fast engine has three code paths: logistic regression, one hidden layer, deeper.
ARCHS = {"logreg": ("logreg", (1,)), "mlp": ("mlp", (8,)), "mlp2": ("mlp", (8, 4))}


def _model(arch: str, d: int, seed: int = 0, dtype=torch.float32) -> nn.Module:
    name, hidden = ARCHS[arch]
    return make_model(name, n_features=d, hidden=hidden, seed=seed).to(dtype)


# --------------------------------------------------------------------- (a) same clipped sum


@pytest.mark.parametrize("name", list(ARCHS))
@pytest.mark.parametrize("max_grad_norm", [1e-3, 0.05, 1e3])  # all / some / no examples clipped
@pytest.mark.parametrize("weighted", [False, True])
def test_fast_clipped_sum_equals_opacus(name: str, max_grad_norm: float, weighted: bool) -> None:
    X, y = _problem(40, 6, seed=1)
    X, y = X.double(), y.double()
    w = torch.linspace(0.0, 3.0, 40, dtype=torch.float64) if weighted else None
    model = _model(name, 6, dtype=torch.float64)
    before = _flat(model.parameters()).clone()
    fast = fast_engine.clipped_grad_sum(model, X, y, max_grad_norm, w)
    ref = opacus_engine.clipped_grad_sum(model, X, y, max_grad_norm, w)
    assert [t.shape for t in fast] == [p.shape for p in model.parameters()]
    for a, b in zip(fast, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-12)
    assert torch.equal(_flat(model.parameters()), before)  # neither engine moved the model
    assert all(p.grad is None and not hasattr(p, "grad_sample") for p in model.parameters())


@pytest.mark.parametrize("name", list(ARCHS))
def test_fast_clipped_sum_equals_opacus_in_float32(name: str) -> None:
    X, y = _problem(256, 30, seed=2)
    model = _model(name, 30)
    fast = fast_engine.clipped_grad_sum(model, X, y, 0.1)
    ref = opacus_engine.clipped_grad_sum(model, X, y, 0.1)
    torch.testing.assert_close(_flat(fast), _flat(ref), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(ARCHS))
def test_unclipped_sum_is_the_autograd_gradient(name: str) -> None:
    """With a huge C nothing is clipped: the sum is the plain gradient of the summed loss."""
    X, y = _problem(30, 5, seed=3)
    X, y = X.double(), y.double()
    w = torch.rand(30, dtype=torch.float64) * 2
    model = _model(name, 5, dtype=torch.float64)
    loss = nn.functional.binary_cross_entropy_with_logits(model(X), y, weight=w, reduction="sum")
    expected = torch.autograd.grad(loss, list(model.parameters()))
    fast = fast_engine.clipped_grad_sum(model, X, y, 1e9, w)
    torch.testing.assert_close(_flat(fast), _flat(expected), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------- (b) clipping and isolation


@pytest.mark.parametrize("engine", ["fast", "opacus"])
@pytest.mark.parametrize("name", list(ARCHS))
def test_each_clipped_gradient_has_norm_at_most_c(engine: str, name: str) -> None:
    C = 0.05
    X, y = _problem(12, 6, seed=4)
    w = torch.tensor([0.0, 1.0, 5.0, 100.0, -3.0, 1e4] * 2)  # weights applied before clipping
    model = _model(name, 6)
    clipped_sum = CLIPPED_SUMS[engine]
    norms = [
        _flat(clipped_sum(model, X[i : i + 1], y[i : i + 1], C, w[i : i + 1])).norm()
        for i in range(12)
    ]
    assert max(norms) <= C + 1e-6
    assert max(norms) > 0.9 * C  # the large weights were clipped, not ignored


@pytest.mark.parametrize("engine", ["fast", "opacus"])
@pytest.mark.parametrize("name", list(ARCHS))
def test_batch_sum_is_the_sum_of_isolated_examples(engine: str, name: str) -> None:
    """No cross-talk: each example's clipped gradient depends on that example only."""
    C = 0.1
    X, y = _problem(10, 6, seed=5)
    X, y = X.double(), y.double()
    w = torch.linspace(0.5, 4.0, 10, dtype=torch.float64)
    model = _model(name, 6, dtype=torch.float64)
    clipped_sum = CLIPPED_SUMS[engine]
    whole = _flat(clipped_sum(model, X, y, C, w))
    parts = sum(
        _flat(clipped_sum(model, X[i : i + 1], y[i : i + 1], C, w[i : i + 1])) for i in range(10)
    )
    torch.testing.assert_close(whole, parts, rtol=1e-10, atol=1e-12)

    # Changing example 3 changes the sum by (new - old) clipped gradient of example 3 alone.
    X2, y2, w2 = X.clone(), y.clone(), w.clone()
    X2[3], y2[3], w2[3] = 1.0 - X2[3], 1.0 - y2[3], 50.0
    changed = _flat(clipped_sum(model, X2, y2, C, w2))
    old3 = _flat(clipped_sum(model, X[3:4], y[3:4], C, w[3:4]))
    new3 = _flat(clipped_sum(model, X2[3:4], y2[3:4], C, w2[3:4]))
    torch.testing.assert_close(changed - whole, new3 - old3, rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(list(ARCHS)),
    b=st.integers(1, 12),
    j=st.integers(0, 11),
    C=st.floats(1e-4, 10.0),
    scale=st.floats(0.0, 1e3),
    seed=st.integers(0, 2**16),
)
def test_removing_one_example_moves_the_sum_by_at_most_c(
    name: str, b: int, j: int, C: float, scale: float, seed: int
) -> None:
    """The sensitivity DP-SGD's noise is calibrated to (add/remove one example)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(b, 5, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, 2, (b,), generator=g).double()
    w = torch.rand(b, generator=g, dtype=torch.float64) * scale
    j = j % b
    model = _model(name, 5, seed=seed, dtype=torch.float64)
    keep = torch.arange(b) != j
    full = _flat(fast_engine.clipped_grad_sum(model, X, y, C, w))
    without = _flat(fast_engine.clipped_grad_sum(model, X[keep], y[keep], C, w[keep]))
    assert (full - without).norm() <= C * (1 + 1e-6)


def test_per_example_helper_rows_are_clipped() -> None:
    X, y = _problem(8, 4, seed=6)
    rows = fast_engine.clipped_per_example_grads(
        _model("mlp2", 4), X, y, 0.01, torch.full((8,), 9.0)
    )
    assert rows.shape == (8, 4 * 8 + 8 + 8 * 4 + 4 + 4 + 1)
    assert rows.norm(dim=1).max() <= 0.01 + 1e-6


# ------------------------------------------------------------------------------ (c) noise


def _noise_draws(engine: str, *, sigma: float, C: float, seeds: range) -> torch.Tensor:
    """Noise added by training, read off the update when every gradient is zero.

    All sample weights are 0, so every clipped sum is 0 and, with momentum 0,
    the ``T`` steps move the parameters by ``-lr / (q n)`` times the sum of ``T``
    noise draws; dividing by ``sqrt(T)`` gives one draw's distribution if the
    draws are independent (a repeated draw would inflate the variance T-fold).
    """
    n, epochs = 100, 4
    X, y = _problem(n, 20, seed=7)
    lr = 1.0
    config = TrainConfig(
        lr=lr, epochs=epochs, batch_size=n, max_grad_norm=C, noise_multiplier=sigma
    )
    q, steps = sampling_schedule(n_train=n, batch_size=n, epochs=epochs)
    assert steps == epochs
    draws = []
    for seed in seeds:
        model = make_model("mlp", n_features=20, hidden=(32,), seed=0).double()
        before = _flat(model.parameters()).clone()
        train(model, X, y, config, seed=seed, engine=engine, sample_weight=torch.zeros(n))
        draws.append((before - _flat(model.parameters())) * (q * n) / lr / math.sqrt(steps))
    return torch.cat(draws)


@pytest.mark.parametrize("engine", ENGINES)
def test_noise_std_is_sigma_times_c(engine: str) -> None:
    sigma, C = 1.3, 2.5
    noise = _noise_draws(engine, sigma=sigma, C=C, seeds=range(3))
    N = noise.numel()  # 3 x 705 coordinates
    stat = float((noise / (sigma * C)).pow(2).sum())  # chi-square(N) if std is sigma*C
    lo, hi = stats.chi2.ppf(ALARM / 2, N), stats.chi2.isf(ALARM / 2, N)
    assert lo < stat < hi
    assert abs(float(noise.mean())) < Z * sigma * C / math.sqrt(N)
    # The same acceptance region rejects the two classic mistakes by a wide margin.
    for wrong_std in (sigma, sigma * C / 2):
        wrong = float((noise / wrong_std).pow(2).sum())
        assert not lo < wrong < hi


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_batches_still_get_noise(engine: str) -> None:
    """Tiny q: most batches are empty, yet each step moves the parameters."""
    X, y = _problem(50, 3, seed=8)
    config = TrainConfig(lr=0.1, epochs=1, batch_size=1, max_grad_norm=1.0, noise_multiplier=1.0)
    model = make_model("logreg", n_features=3, seed=0)
    before = _flat(model.parameters()).clone()
    log = train(model, X, y, config, seed=0, engine=engine)
    assert log.empty_batches > 0
    assert not torch.equal(before, _flat(model.parameters()))


# --------------------------------------------------------------------------- (d) sampling


def test_poisson_batch_sizes_are_binomial_and_inclusion_independent() -> None:
    n, q, T, block = 1000, 0.05, 4000, 40  # batches drawn 40 at a time, as in training
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(n)
    sizes = torch.zeros(T)
    adjacent = 0  # examples i, i+1 both in the same batch
    repeated = 0  # example i in two consecutive batches
    previous = torch.zeros(n, dtype=torch.bool)
    for first in range(0, T, block):
        indices, offsets = fast_engine.poisson_batches(n, q, block, g)
        assert len(offsets) == block + 1 and offsets[-1] == len(indices)
        for k in range(block):
            idx = indices[offsets[k] : offsets[k + 1]]
            assert bool((idx[1:] > idx[:-1]).all())
            assert len(idx) == 0 or 0 <= int(idx[0]) <= int(idx[-1]) < n
            counts[idx] += 1
            sizes[first + k] = len(idx)
            adjacent += int((idx[1:] - idx[:-1] == 1).sum())
            current = torch.zeros(n, dtype=torch.bool)
            current[idx] = True
            repeated += int((current & previous).sum())
            previous = current
    mean, var = n * q, n * q * (1 - q)
    # Batch size: sample mean and sample variance of T Binomial(n, q) draws.
    assert abs(float(sizes.mean()) - mean) < Z * math.sqrt(var / T)
    var_sd = var * math.sqrt(2 / (T - 1))  # normal approximation, kurtosis of Binomial ~ 0
    assert abs(float(sizes.var()) - var) < (Z + 1) * var_sd
    # Each example is included with probability q (Bonferroni over the n examples).
    z_each = stats.norm.isf(ALARM / (2 * n))
    assert float((counts - T * q).abs().max()) < z_each * math.sqrt(T * q * (1 - q))
    # Independence between neighbours and between consecutive steps: pair rate q^2
    # (pair counts are sums of weakly dependent indicators: variance < mean (1 + 2q)).
    for observed, slots in ((adjacent, T * (n - 1)), (repeated, (T - 1) * n)):
        pairs = slots * q * q
        assert abs(observed - pairs) < Z * math.sqrt(pairs * (1 + 2 * q))


def test_single_poisson_batch() -> None:
    g = torch.Generator().manual_seed(1)
    sizes = [len(fast_engine.poisson_indices(100, 0.3, g)) for _ in range(500)]
    assert abs(np.mean(sizes) - 30) < Z * math.sqrt(100 * 0.3 * 0.7 / 500)


def test_full_sample_rate_takes_everyone() -> None:
    assert torch.equal(fast_engine.poisson_indices(7, 1.0, torch.Generator()), torch.arange(7))


@pytest.mark.parametrize("engine", ENGINES)
def test_training_batches_are_binomial(engine: str) -> None:
    n, batch = 200, 10
    X, y = _problem(n, 3, seed=9)
    config = TrainConfig(
        lr=0.1, epochs=40, batch_size=batch, max_grad_norm=1.0, noise_multiplier=0.5
    )
    log = train(make_model("logreg", n_features=3, seed=0), X, y, config, seed=1, engine=engine)
    q, steps = sampling_schedule(n_train=n, batch_size=batch, epochs=40)
    assert (log.steps, log.steps_done, log.sample_rate) == (steps, steps, q)
    var = n * q * (1 - q)
    assert abs(log.batch_size_mean - n * q) < Z * math.sqrt(var / steps)
    assert abs(log.batch_size_std**2 - var) < (Z + 1) * var * math.sqrt(2 / (steps - 1))


# ------------------------------------------------------------------- (e) same accuracy


def _accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    return float(((predict_proba(model, X.numpy()) > 0.5) == y.numpy()).mean())


@pytest.mark.parametrize("name", ["logreg", "mlp"])
def test_engines_reach_the_same_accuracy(name: str) -> None:
    X, y = _problem(900, 8, seed=10)
    Xt, yt, Xv, yv = X[:600], y[:600], X[600:], y[600:]
    config = TrainConfig(
        lr=0.5, epochs=4, batch_size=60, max_grad_norm=1.0, noise_multiplier=1.0, momentum=0.5
    )
    acc: dict[str, list[float]] = {}
    for engine in ENGINES:
        acc[engine] = []
        for seed in range(4):
            model = make_model(name, n_features=8, hidden=(16,), seed=seed)
            log = train(model, Xt, yt, config, seed=seed, engine=engine)
            assert not log.diverged
            acc[engine].append(_accuracy(model, Xv, yv))
    means = {e: float(np.mean(a)) for e, a in acc.items()}
    assert min(means.values()) > 0.8, acc
    # Seed-to-seed spread of DP-SGD here is a few points; the engines must agree within it.
    assert abs(means["fast"] - means["opacus"]) < 0.05, acc


# ------------------------------------------------------------------- (f) non-private path


@pytest.mark.parametrize("engine", ENGINES)
def test_non_private_path_is_deterministic_and_noise_free(engine: str) -> None:
    X, y = _problem(400, 6, seed=11)
    config = TrainConfig(lr=0.5, epochs=5, batch_size=40, max_grad_norm=None, noise_multiplier=0.0)
    models = [make_model("logreg", n_features=6, seed=0) for _ in range(2)]
    logs = [train(m, X, y, config, seed=3, engine=engine) for m in models]
    assert torch.equal(_flat(models[0].parameters()), _flat(models[1].parameters()))
    assert logs[0].max_grad_norm is None and logs[0].noise_multiplier == 0.0

    # Zero weights: zero gradients and, without noise, no movement at all.
    still = make_model("logreg", n_features=6, seed=0)
    before = _flat(still.parameters()).clone()
    train(still, X, y, config, seed=3, engine=engine, sample_weight=torch.zeros(400))
    assert torch.equal(before, _flat(still.parameters()))

    # And it beats training drowned in noise.
    noisy = make_model("logreg", n_features=6, seed=0)
    loud = dataclasses.replace(config, max_grad_norm=1.0, noise_multiplier=1e3)
    train(noisy, X, y, loud, seed=3, engine=engine)
    assert _accuracy(models[0], X, y) > _accuracy(noisy, X, y) + 0.1


# ------------------------------------------------------------------------ the front door


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["logreg", "mlp"])
def test_same_seed_same_model(engine: str, name: str) -> None:
    X, y = _problem(300, 5, seed=12)
    config = TrainConfig(lr=0.3, epochs=2, batch_size=30, max_grad_norm=0.5, noise_multiplier=1.1)
    flats = []
    for seed in (4, 4, 5):
        model = make_model(name, n_features=5, seed=0)
        log = train(model, X, y, config, seed=seed, engine=engine)
        assert isinstance(log, TrainLog) and log.engine == engine and not log.diverged
        flats.append(_flat(model.parameters()))
    assert torch.equal(flats[0], flats[1])
    assert not torch.equal(flats[0], flats[2])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_tail_average_is_the_mean_of_iterates_rebuilt_from_the_released_sums(
    engine: str, share: float
) -> None:
    """The returned model is post-processing of the noisy sums: rebuild every iterate.

    With momentum 0, iterate ``t + 1`` is iterate ``t`` minus ``lr / (q n)``
    times the released noisy sum of step ``t``; the model must be the mean of
    the iterates after the last ``share`` of the steps (the last one for 0).
    """
    X, y = _problem(200, 4, seed=21)
    config = TrainConfig(lr=0.5, epochs=3, batch_size=40, max_grad_norm=0.5,
                         noise_multiplier=0.8, tail_average=share)
    model = make_model("mlp", n_features=4, hidden=(6,), seed=1).double()
    theta = _flat(model.parameters()).clone()
    sums: list[torch.Tensor] = []
    log = train(model, X, y, config, seed=3, engine=engine,
                observe=lambda step, noisy: sums.append(_flat(noisy).double()))
    assert len(sums) == log.steps
    iterates = []
    for noisy in sums:
        theta = theta - config.lr / log.expected_batch_size * noisy
        iterates.append(theta)
    start = average_start(log.steps, share)
    assert start == (log.steps if share == 0 else log.steps - max(1, round(share * log.steps)))
    expected = iterates[-1] if share == 0 else torch.stack(iterates[start:]).mean(0)
    got = _flat(model.parameters())
    assert torch.allclose(got, expected, atol=1e-9, rtol=0)
    if share > 0:  # and not the last iterate: averaging happened
        assert not torch.allclose(got, iterates[-1], atol=1e-6)


def test_average_start() -> None:
    assert average_start(100, 0.0) == 100
    assert average_start(100, 0.5) == 50
    assert average_start(100, 1.0) == 0
    assert average_start(100, 0.001) == 99  # at least the last iterate
    assert average_start(1, 1.0) == 0


def test_opacus_trains_the_given_model_and_leaves_no_trace() -> None:
    X, y = _problem(200, 5, seed=13)
    model = make_model("mlp", n_features=5, seed=0)
    params = list(model.parameters())
    before = _flat(params).clone()
    config = TrainConfig(lr=0.5, epochs=2, batch_size=20, max_grad_norm=1.0, noise_multiplier=0.5)
    train(model, X, y, config, seed=0, engine="opacus")
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))
    assert not torch.equal(before, _flat(params))
    for p in params:
        assert p.grad is None
        assert not any(hasattr(p, a) for a in ("grad_sample", "summed_grad"))
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


def test_opacus_trains_models_the_fast_engine_refuses() -> None:
    X, y = _problem(100, 4, seed=14)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1), nn.Flatten(0))
    config = TrainConfig(lr=0.5, epochs=1, batch_size=10, max_grad_norm=1.0, noise_multiplier=0.5)
    with pytest.raises(ConfigError, match="engine='opacus'"):
        train(model, X, y, config, seed=0, engine="fast")
    log = train(model, X, y, config, seed=0, engine="opacus")
    assert log.steps == 10 and not log.diverged


@pytest.mark.parametrize("engine", ENGINES)
def test_divergence_is_reported_not_raised(engine: str) -> None:
    X, y = _problem(100, 4, seed=15)
    config = TrainConfig(
        lr=1e30, epochs=3, batch_size=10, max_grad_norm=1e10, noise_multiplier=1e10
    )
    log = train(make_model("mlp", n_features=4, seed=0), X, y, config, seed=0, engine=engine)
    assert log.diverged
    assert log.steps_done <= log.steps


def test_unknown_engine() -> None:
    X, y = _problem(10, 2, seed=0)
    config = TrainConfig(lr=0.1, epochs=1, batch_size=2, max_grad_norm=None, noise_multiplier=0.0)
    with pytest.raises(ConfigError, match="Did you mean 'opacus'"):
        train(make_model("logreg", n_features=2, seed=0), X, y, config, seed=0, engine="opacu")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 1.5}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_grad_norm": -1.0}, "max_grad_norm"),
        ({"noise_multiplier": -0.1}, "noise_multiplier"),
        ({"max_grad_norm": None, "noise_multiplier": 1.0}, "max_grad_norm is None"),
        ({"momentum": 1.0}, "momentum"),
        ({"tail_average": 1.5}, "tail_average"),
        ({"tail_average": -0.1}, "tail_average"),
    ],
)
def test_train_config_validation(changes: dict, match: str) -> None:
    base = {"lr": 0.1, "epochs": 1, "batch_size": 4, "max_grad_norm": 1.0, "noise_multiplier": 1.0}
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**{**base, **changes})


@pytest.mark.parametrize(
    ("X", "y", "w", "match"),
    [
        (torch.rand(5, 2), torch.zeros(4), None, "y must have shape"),
        (torch.rand(5, 2), torch.full((5,), 2.0), None, "only 0 and 1"),
        (torch.rand(5), torch.zeros(5), None, "X must have shape"),
        (torch.rand(5, 2), torch.zeros(5), torch.ones(4), "sample_weight must have shape"),
        (torch.rand(5, 2), torch.zeros(5), torch.full((5,), float("nan")), "non-finite"),
    ],
)
def test_bad_data_raise_data_error(X, y, w, match: str) -> None:
    config = TrainConfig(lr=0.1, epochs=1, batch_size=2, max_grad_norm=1.0, noise_multiplier=1.0)
    with pytest.raises(DataError, match=match):
        train(make_model("logreg", n_features=2, seed=0), X, y, config, seed=0, sample_weight=w)


# ------------------------------------------------------ (g) the fair loss a_i * sigmoid(z_i)


def _fair_coef(n: int, seed: int) -> torch.Tensor:
    """Fair-loss coefficients of both signs and of large magnitude (fixed, as between refreshes)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * 20.0


@pytest.mark.parametrize("name", list(ARCHS))
@pytest.mark.parametrize("max_grad_norm", [1e-3, 0.05, 1e3])
def test_fast_fair_loss_clipped_sum_equals_opacus(name: str, max_grad_norm: float) -> None:
    X, y = _problem(40, 6, seed=21)
    X, y = X.double(), y.double()
    w = torch.linspace(0.2, 3.0, 40, dtype=torch.float64)
    a = _fair_coef(40, 1)
    model = _model(name, 6, dtype=torch.float64)
    fast = fast_engine.clipped_grad_sum(model, X, y, max_grad_norm, w, a)
    ref = opacus_engine.clipped_grad_sum(model, X, y, max_grad_norm, w, a)
    for x, r in zip(fast, ref, strict=True):
        torch.testing.assert_close(x, r, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", list(ARCHS))
def test_fair_loss_unclipped_sum_is_the_autograd_gradient(name: str) -> None:
    X, y = _problem(30, 5, seed=22)
    X, y = X.double(), y.double()
    a = _fair_coef(30, 2)
    model = _model(name, 5, dtype=torch.float64)
    z = model(X)
    loss = nn.functional.binary_cross_entropy_with_logits(z, y, reduction="sum")
    loss = loss + (a * torch.sigmoid(z)).sum()
    expected = torch.autograd.grad(loss, list(model.parameters()))
    fast = fast_engine.clipped_grad_sum(model, X, y, 1e9, None, a)
    torch.testing.assert_close(_flat(fast), _flat(expected), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("engine", ["fast", "opacus"])
@pytest.mark.parametrize("name", list(ARCHS))
def test_fair_loss_gradient_is_clipped_to_c(engine: str, name: str) -> None:
    """The whole per-example loss (weight and fair term included) is clipped to C."""
    C = 0.05
    X, y = _problem(12, 6, seed=23)
    X, y = X.double(), y.double()
    w = torch.tensor([0.0, 1.0, 5.0, 100.0, 3.0, 1e4] * 2, dtype=torch.float64)
    a = torch.tensor([1e4, -1e4, 0.0, 50.0, -7.0, 1.0] * 2, dtype=torch.float64)
    model = _model(name, 6, dtype=torch.float64)
    clipped_sum = CLIPPED_SUMS[engine]
    norms = [
        _flat(clipped_sum(model, X[i : i + 1], y[i : i + 1], C, w[i : i + 1], a[i : i + 1])).norm()
        for i in range(12)
    ]
    assert max(norms) <= C * (1 + 1e-6)
    assert max(norms) > 0.9 * C


@pytest.mark.parametrize("engine", ["fast", "opacus"])
@pytest.mark.parametrize("name", list(ARCHS))
def test_fair_loss_changing_one_example_changes_no_other_clipped_gradient(
    engine: str, name: str
) -> None:
    C = 0.1
    X, y = _problem(10, 6, seed=24)
    X, y = X.double(), y.double()
    a = _fair_coef(10, 3)
    model = _model(name, 6, dtype=torch.float64)
    rows = fast_engine.clipped_per_example_grads(model, X, y, C, None, a)
    X2, y2, a2 = X.clone(), y.clone(), a.clone()
    X2[4], y2[4], a2[4] = 1.0 - X2[4], 1.0 - y2[4], -a2[4] * 3
    rows2 = fast_engine.clipped_per_example_grads(model, X2, y2, C, None, a2)
    others = torch.arange(10) != 4
    assert torch.equal(rows[others], rows2[others])
    clipped_sum = CLIPPED_SUMS[engine]
    whole = _flat(clipped_sum(model, X, y, C, None, a))
    changed = _flat(clipped_sum(model, X2, y2, C, None, a2))
    torch.testing.assert_close(changed - whole, rows2[4] - rows[4], rtol=1e-8, atol=1e-12)


class _RecordingTerm:
    """A FairTerm with a deterministic refresh that records every call."""

    def __init__(self, groups: torch.Tensor) -> None:
        self.groups = groups
        self.calls: list[torch.Tensor] = []

    def refresh(self, logits: torch.Tensor) -> torch.Tensor:
        self.calls.append(logits.detach().clone())
        gap = torch.sigmoid(logits[self.groups == 1]).mean() - torch.sigmoid(
            logits[self.groups == 0]
        ).mean()
        return torch.where(self.groups == 1, 2.0 * gap, -2.0 * gap).to(logits.dtype)


def test_engines_refresh_the_fair_term_identically() -> None:
    """Both engines refresh the term on the same schedule, from the logits of all rows.

    (The engines draw their batches differently, so only the first refresh, at
    the common initial model, is compared value for value.)
    """
    from trifront.privacy.dpsgd import epoch_starts

    X, y = _problem(300, 6, seed=25)
    X, y = X.double(), y.double()
    groups = (X[:, 0] > 0.5).long()
    config = TrainConfig(lr=0.5, epochs=3, batch_size=40, max_grad_norm=0.5, noise_multiplier=0.7)
    terms = {}
    for engine in ENGINES:
        model = _model("logreg", 6, seed=1, dtype=torch.float64)
        terms[engine] = _RecordingTerm(groups)
        log = train(model, X, y, config, seed=5, engine=engine, fair=terms[engine])
        assert not log.diverged
    q, steps = sampling_schedule(n_train=300, batch_size=40, epochs=3)
    assert len(terms["fast"].calls) == len(terms["opacus"].calls) == len(epoch_starts(steps, q))
    assert len(epoch_starts(steps, q)) > 3  # several refreshes per epoch
    torch.testing.assert_close(terms["fast"].calls[0], terms["opacus"].calls[0])
    assert all(c.shape == (300,) for c in terms["fast"].calls + terms["opacus"].calls)


class _ConstantWeights:
    """A refreshed weight term that always returns the same weights (and counts its calls)."""

    def __init__(self, weights: torch.Tensor) -> None:
        self.weights, self.calls = weights, 0

    def refresh(self, logits: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.weights.to(logits.dtype)


@pytest.mark.parametrize("engine", ENGINES)
def test_refreshed_weights_are_loss_weights_before_clipping(engine: str) -> None:
    """Weights a term returns at each refresh act exactly as sample weights (times them)."""
    X, y = _problem(120, 5, seed=26)
    X, y = X.double(), y.double()
    g = torch.Generator().manual_seed(2)
    w1 = torch.rand(120, generator=g, dtype=torch.float64) * 2
    w2 = torch.rand(120, generator=g, dtype=torch.float64) * 3
    config = TrainConfig(lr=0.5, epochs=2, batch_size=30, max_grad_norm=0.3,
                         noise_multiplier=0.6)
    flats = []
    for weight, term in ((w1 * w2, None), (w1, _ConstantWeights(w2))):
        model = _model("mlp", 5, seed=1, dtype=torch.float64)
        train(model, X, y, config, seed=9, engine=engine, sample_weight=weight, adaptive=term)
        flats.append(_flat(model.parameters()))
    torch.testing.assert_close(flats[0], flats[1], rtol=1e-10, atol=1e-12)
    model = _model("mlp", 5, seed=1, dtype=torch.float64)
    term = _ConstantWeights(w2)
    train(model, X, y, config, seed=9, engine=engine, sample_weight=w1 * 0 + 1, adaptive=term)
    assert not torch.allclose(_flat(model.parameters()), flats[0])  # the weights mattered
    q, steps = sampling_schedule(n_train=120, batch_size=30, epochs=2)
    from trifront.privacy.dpsgd import epoch_starts

    assert term.calls == len(epoch_starts(steps, q))


@pytest.mark.parametrize("engine", ENGINES)
def test_the_schedule_and_the_divisor_come_from_the_public_count(engine: str) -> None:
    # DESIGN.md rule 8: one more private row (here with weight 0, so it adds no gradient)
    # must change neither q, T nor the scale of the update; only the public n does.
    X, y = _problem(100, 4, seed=13)
    config = TrainConfig(lr=0.5, epochs=3, batch_size=100, max_grad_norm=1.0,
                         noise_multiplier=0.0)
    X1, y1 = torch.cat([X, X[:1]]), torch.cat([y, y[:1]])
    w1 = torch.cat([torch.ones(100), torch.zeros(1)])
    runs = []
    for data in ((X, y, None), (X1, y1, w1)):
        model = make_model("logreg", n_features=4, seed=0)
        log = train(model, data[0], data[1], config, seed=1, engine=engine,
                    sample_weight=data[2], n_public=100)
        runs.append((log, _flat(model.parameters())))
    (a, wa), (b, wb) = runs
    assert (a.sample_rate, a.steps, a.expected_batch_size) == (1.0, 3, 100.0)
    assert (b.sample_rate, b.steps, b.expected_batch_size) == (1.0, 3, 100.0)
    torch.testing.assert_close(wa, wb)


def test_fast_engine_trains_on_one_thread_and_restores_the_count() -> None:
    # Its steps are dispatch-bound: more intra-op threads only add synchronisation.
    X, y = _problem(100, 3, seed=3)
    config = TrainConfig(lr=0.1, epochs=1, batch_size=10, max_grad_norm=1.0, noise_multiplier=1.0)
    seen: list[int] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(make_model("logreg", n_features=3, seed=0), X, y, config, seed=0, engine="fast",
              observe=lambda step, grads: seen.append(torch.get_num_threads()))
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
