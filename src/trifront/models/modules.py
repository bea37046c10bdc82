"""The built-in models: logistic regression and a ReLU multilayer perceptron.

Both are plain ``torch.nn.Module`` objects that map a float batch ``n x d`` to
logits of shape ``(n,)`` (the log-odds of class 1). Their layer layout is fixed
and documented because the fast DP-SGD engine derives per-example gradients in
closed form from it: a model is a chain of ``nn.Linear`` layers with a ReLU
between consecutive layers and nothing else.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from trifront.errors import ConfigError, unknown_name

MODELS: tuple[str, ...] = ("logreg", "mlp")
"""Names accepted by :func:`make_model`."""


def _check_n_features(n_features: int) -> None:
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        raise ConfigError(f"`n_features >= 1` must hold, but got n_features={n_features!r}.")


class LogisticRegression(nn.Module):
    """Logistic regression: one linear layer, ``logit = x @ w + b``.

    Args:
        n_features: Number of input features ``d``.

    Attributes:
        linear: The ``nn.Linear(d, 1)`` layer.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        _check_n_features(n_features)
        self.n_features = n_features
        self.linear = nn.Linear(n_features, 1)

    def linear_layers(self) -> list[nn.Linear]:
        """The linear layers in forward order (ReLU between consecutive ones)."""
        return [self.linear]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute logits.

        Args:
            x: Features, shape ``n x d``.

        Returns:
            Logits, shape ``(n,)``.
        """
        return self.linear(x).squeeze(-1)


class MLP(nn.Module):
    """A fully connected ReLU network with one logit output.

    ``Linear(d, h1) -> ReLU -> ... -> Linear(h_k, 1)``.

    Args:
        n_features: Number of input features ``d``.
        hidden: Widths of the hidden layers, e.g. ``(64,)``; at least one.

    Attributes:
        net: The ``nn.Sequential`` of alternating ``nn.Linear`` and ``nn.ReLU``.
    """

    def __init__(self, n_features: int, hidden: tuple[int, ...] = (64,)) -> None:
        super().__init__()
        _check_n_features(n_features)
        hidden = tuple(hidden)
        if not hidden or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden
        ):
            raise ConfigError(
                "`hidden` must be a non-empty tuple of positive layer widths, "
                f"but got hidden={hidden!r}."
            )
        self.n_features = n_features
        self.hidden = hidden
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def linear_layers(self) -> list[nn.Linear]:
        """The linear layers in forward order (ReLU between consecutive ones)."""
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute logits.

        Args:
            x: Features, shape ``n x d``.

        Returns:
            Logits, shape ``(n,)``.
        """
        return self.net(x).squeeze(-1)


def make_model(
    name: str, *, n_features: int, hidden: tuple[int, ...] = (64,), seed: int
) -> nn.Module:
    """Build a built-in model with a deterministic initialisation.

    The initialisation depends only on ``seed`` (and the architecture), never on
    the global torch random state, which is left untouched.

    Args:
        name: One of :data:`MODELS` (``"logreg"``, ``"mlp"``).
        n_features: Number of input features ``d``.
        hidden: Hidden layer widths (``"mlp"`` only; ignored for ``"logreg"``).
        seed: Seed of the initial weights.

    Returns:
        The model (float32, training mode), mapping ``n x d`` to logits ``(n,)``.

    Raises:
        ConfigError: If ``name`` is unknown or a size is not positive.
    """
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "logreg":
            return LogisticRegression(n_features)
        return MLP(n_features, hidden)


def predict_proba(model: nn.Module, X: np.ndarray | torch.Tensor) -> np.ndarray:
    """Probability of class 1 for each row, without tracking gradients.

    Args:
        model: A module mapping ``n x d`` to logits ``(n,)``.
        X: Features, shape ``n x d`` (numpy array or tensor; cast to the model's dtype).

    Returns:
        Probabilities, float64 numpy array of shape ``(n,)``.
    """
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    x = torch.as_tensor(X, dtype=dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x).reshape(-1)
    finally:
        model.train(was_training)
    return torch.sigmoid(logits.double()).numpy()
