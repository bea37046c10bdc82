"""The built-in models: shapes, deterministic initialisation, errors, predict_proba."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trifront.errors import ConfigError
from trifront.models import MLP, MODELS, LogisticRegression, make_model, predict_proba


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize("name", MODELS)
def test_logits_have_shape_n(name: str) -> None:
    model = make_model(name, n_features=7, seed=0)
    assert model(torch.rand(5, 7)).shape == (5,)
    assert model(torch.rand(0, 7)).shape == (0,)


def test_make_model_builds_the_named_architecture() -> None:
    assert isinstance(make_model("logreg", n_features=3, seed=0), LogisticRegression)
    mlp = make_model("mlp", n_features=3, hidden=(8, 4), seed=0)
    assert isinstance(mlp, MLP)
    shapes = [tuple(lin.weight.shape) for lin in mlp.linear_layers()]
    assert shapes == [(8, 3), (4, 8), (1, 4)]


@pytest.mark.parametrize("name", MODELS)
def test_initialisation_depends_only_on_the_seed(name: str) -> None:
    state = torch.random.get_rng_state()
    a = make_model(name, n_features=6, seed=11)
    torch.rand(100)  # moving the global generator must not matter
    b = make_model(name, n_features=6, seed=11)
    c = make_model(name, n_features=6, seed=12)
    assert torch.equal(_flat(a), _flat(b))
    assert not torch.equal(_flat(a), _flat(c))
    torch.random.set_rng_state(state)
    make_model(name, n_features=6, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # global state untouched


def test_unknown_model_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'mpl'.*Did you mean 'mlp'"):
        make_model("mpl", n_features=3, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_features": 0}, "n_features"),
        ({"n_features": 3, "hidden": ()}, "hidden"),
        ({"n_features": 3, "hidden": (4, 0)}, "hidden"),
    ],
)
def test_bad_sizes_raise_config_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_model("mlp", seed=0, **kwargs)


@pytest.mark.parametrize("name", MODELS)
def test_predict_proba_on_numpy(name: str) -> None:
    model = make_model(name, n_features=4, seed=0)
    X = np.random.default_rng(0).random((9, 4))  # float64: cast to the model's dtype
    p = predict_proba(model, X)
    assert isinstance(p, np.ndarray) and p.shape == (9,) and p.dtype == np.float64
    assert np.all((p >= 0) & (p <= 1))
    expected = torch.sigmoid(model(torch.as_tensor(X, dtype=torch.float32))).detach().numpy()
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    assert model.training  # mode restored


def test_predict_proba_accepts_tensors() -> None:
    model = make_model("logreg", n_features=2, seed=0)
    X = torch.rand(3, 2)
    np.testing.assert_allclose(predict_proba(model, X), predict_proba(model, X.numpy()))
