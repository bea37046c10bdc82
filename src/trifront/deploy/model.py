"""A loaded model directory: ``predict_proba`` / ``predict`` on raw rows, and its card.

>>> model = trifront.load_model("adult-model")          # doctest: +SKIP
>>> model.predict_proba(frame)[:, 1]                      # doctest: +SKIP

:func:`load_model` checks the directory before it trusts it: the card's
format, the sha256 of every file against the card, the encoder's schema, the
decision rule's groups, and the weights' names and shapes against the
architecture the card states. The weights are read with
``torch.load(weights_only=True)``, which never runs code from the file.
"""

from __future__ import annotations

import pickle
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trifront.deploy.encoder import Encoder
from trifront.deploy.layout import (
    CARD_JSON,
    DECISION,
    ENCODER,
    FORMAT,
    FORMAT_VERSION,
    HASHED_FILES,
    WEIGHTS,
    ModelDirError,
    read_json,
    sha256_of,
)
from trifront.deploy.rule import DecisionRule
from trifront.errors import ConfigError
from trifront.models import MODELS, make_model

__all__ = ["CHUNK_ROWS", "ExportedModel", "load_model", "module_spec"]

#: Rows encoded and scored at once (bounds memory; the same on every path).
CHUNK_ROWS = 1 << 16


def module_spec(module: torch.nn.Module, *, name: str) -> dict[str, Any]:
    """The card's ``model`` entry: what :func:`load_model` rebuilds the module from."""
    params = list(module.parameters())
    hidden = list(getattr(module, "hidden", ()))
    return {
        "name": name,
        "n_features": int(getattr(module, "n_features")),  # noqa: B009 - both models set it
        "hidden": [int(h) for h in hidden],
        "dtype": str(params[0].dtype).removeprefix("torch."),
        "n_parameters": int(sum(p.numel() for p in params)),
        "weights": WEIGHTS,
        "output": "one logit per row: log-odds of the positive label",
    }


class ExportedModel:
    """A deployed trifront model, in the scikit-learn idiom.

    ``predict_proba(frame)`` and ``predict(frame)`` take raw rows (a pandas
    DataFrame with the schema's columns, as strings or numbers) and apply the
    exported encoder, the trained network and the decision rule. Class 1 is
    the card's positive label (``classes_ == [0, 1]``).

    Attributes:
        card: The model card (``card.json``), a plain dict.
        encoder: The public schema that encodes rows.
        rule: The decision rule.
        module: The trained torch module (evaluation mode).
        directory: Where the model was loaded from.
    """

    classes_ = np.array([0, 1])

    def __init__(self, *, card: dict[str, Any], encoder: Encoder, rule: DecisionRule,
                 module: torch.nn.Module, directory: Path | None = None) -> None:
        self.card = card
        self.encoder = encoder
        self.rule = rule
        self.module = module.eval()
        self.directory = directory

    def __repr__(self) -> str:
        where = f" from {str(self.directory)!r}" if self.directory else ""
        return (f"ExportedModel({self.card.get('model', {}).get('name')!r} on "
                f"{self.encoder.card.name!r}{where}, epsilon={self.card.get('epsilon')!r})")

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Raw columns a frame needs: the features, and the sensitive attribute if the rule
        uses it."""
        cols = list(self.encoder.feature_columns)
        if self.rule.uses_sensitive:
            cols += [c for c in self.encoder.sensitive_columns if c not in cols]
        return tuple(cols)

    # ------------------------------------------------------------- scoring
    def logits(self, X: np.ndarray) -> np.ndarray:
        """``(n,)`` float64 logits of encoded rows ``X`` (``n x d``), in fixed chunks."""
        param = next(self.module.parameters())
        out = np.empty(len(X), dtype=np.float64)
        with torch.no_grad():
            for start in range(0, len(X), CHUNK_ROWS):
                x = torch.as_tensor(X[start:start + CHUNK_ROWS], dtype=param.dtype)
                out[start:start + CHUNK_ROWS] = self.module(x).reshape(-1).double().numpy()
        return out

    def score_encoded(
        self, X: np.ndarray, groups: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and decisions of encoded rows (the path export scores test with)."""
        z = self.logits(X)
        prob = torch.sigmoid(torch.from_numpy(z)).numpy()
        return prob, self.rule.decide(z, prob, groups)

    def score(
        self, frame: pd.DataFrame, *, source: str = "the rows"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(probability of class 1, decision)`` of raw rows, chunk by chunk.

        Raises:
            DataError: If a column the model needs is missing, or a value does
                not fit the schema (one line naming the column).
        """
        frame = _as_frame(frame)
        self.encoder.check_columns(frame, self.required_columns, source=source)
        probs, decisions = [], []
        for start in range(0, len(frame), CHUNK_ROWS):
            part = frame.iloc[start:start + CHUNK_ROWS]
            X = self.encoder.features(part, source=source)
            groups = self.encoder.groups(part, source=source) if self.rule.uses_sensitive else None
            p, d = self.score_encoded(X, groups)
            probs.append(p)
            decisions.append(d)
        if not probs:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        return np.concatenate(probs), np.concatenate(decisions)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """``n x 2`` class probabilities ``[P(0), P(1)]`` of raw rows (scikit-learn layout)."""
        p, _ = self.score(frame)
        return np.column_stack([1.0 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """``(n,)`` int64 decisions of the exported rule (1 = the positive label)."""
        return self.score(frame)[1]


def _as_frame(frame: object) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, dict):
        return pd.DataFrame(frame)
    raise ConfigError(
        "an exported model predicts from raw rows: a pandas DataFrame with the schema's "
        f"columns (see model.required_columns), but got {type(frame).__name__}."
    )


def load_model(directory: str | PathLike[str]) -> ExportedModel:
    """Load a model directory written by ``trifront export``.

    Args:
        directory: The directory.

    Returns:
        The model, ready to predict.

    Raises:
        ModelDirError: (a ``DataError``) If the directory is missing, lacks a
            file, holds a file whose sha256 differs from the card's, is of
            another format version, or its weights do not fit the stated
            architecture: one line naming the file.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ModelDirError(f"model directory {str(d)!r} does not exist or is not a directory; "
                            "give a directory written by `trifront export`.")
    card = read_json(d, CARD_JSON)
    if card.get("format") != FORMAT or card.get("format_version") != FORMAT_VERSION:
        raise ModelDirError(
            f"{CARD_JSON} of {str(d)!r} must be format {FORMAT!r} version {FORMAT_VERSION}, "
            f"but got {card.get('format')!r} version {card.get('format_version')!r}."
        )
    recorded = card.get("files")
    if not isinstance(recorded, dict):
        raise ModelDirError(f"{CARD_JSON} of {str(d)!r} lacks the sha256 of its files.")
    for name in HASHED_FILES:
        path = d / name
        if not path.is_file():
            raise ModelDirError(f"model directory {str(d)!r} has no {name}; re-export the model.")
        if sha256_of(path) != recorded.get(name):
            raise ModelDirError(
                f"{name} of {str(d)!r} does not match the sha256 that {CARD_JSON} records: it "
                "was changed after export; re-export the model."
            )
    encoder = Encoder.from_dict(read_json(d, ENCODER))
    rule = DecisionRule.from_dict(read_json(d, DECISION), sensitive=encoder.sensitive,
                                  group_names=encoder.group_names)
    module = _load_module(d, card.get("model"), n_features=encoder.n_features)
    if bool(card.get("uses_sensitive_at_prediction")) != rule.uses_sensitive:
        raise ModelDirError(f"{CARD_JSON} says uses_sensitive_at_prediction="
                            f"{card.get('uses_sensitive_at_prediction')!r}, but {DECISION} "
                            f"is a {'per-group' if rule.uses_sensitive else 'single'} rule.")
    return ExportedModel(card=card, encoder=encoder, rule=rule, module=module, directory=d)


def _load_module(d: Path, spec: object, *, n_features: int) -> torch.nn.Module:
    where = f"{CARD_JSON} of {str(d)!r}"
    if not isinstance(spec, dict) or spec.get("name") not in MODELS:
        raise ModelDirError(f"{where} must state the model (`model.name` one of "
                            f"{', '.join(MODELS)}), but got {spec!r}.")
    if spec.get("n_features") != n_features:
        raise ModelDirError(f"{where} states n_features={spec.get('n_features')!r}, but the "
                            f"encoder makes {n_features} features.")
    try:
        hidden = tuple(int(h) for h in spec.get("hidden") or (64,))
        dtype = getattr(torch, str(spec.get("dtype", "float32")))
        module = make_model(spec["name"], n_features=n_features, hidden=hidden, seed=0)
        module = module.to(dtype)
    except (ConfigError, TypeError, ValueError, AttributeError) as exc:
        raise ModelDirError(f"{where} states an architecture trifront cannot build: "
                            f"{exc}") from None
    try:
        state = torch.load(d / WEIGHTS, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelDirError(f"{WEIGHTS} of {str(d)!r} is not a tensors-only torch state_dict: it "
                            "holds other objects (possibly code), refused without running "
                            "them; re-export the model.") from None
    except Exception as exc:  # noqa: BLE001 - any other reader failure is a bad file
        detail = " ".join(str(exc).split())[:200]
        raise ModelDirError(f"{WEIGHTS} of {str(d)!r} is not a tensors-only torch state_dict "
                            f"({exc.__class__.__name__}: {detail}).") from None
    expected = module.state_dict()
    if not isinstance(state, dict) or set(state) != set(expected):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ModelDirError(f"{WEIGHTS} of {str(d)!r} must hold the tensors "
                            f"{sorted(expected)} of the card's model, but holds {got}.")
    for key, want in expected.items():
        have = state[key]
        if not isinstance(have, torch.Tensor) or have.shape != want.shape:
            shape = list(have.shape) if isinstance(have, torch.Tensor) else type(have).__name__
            raise ModelDirError(
                f"{WEIGHTS} of {str(d)!r}: {key} has shape {shape}, but the card's model "
                f"({spec['name']}, {n_features} features, hidden {list(hidden)}) needs "
                f"{list(want.shape)}."
            )
        if have.dtype != want.dtype or not bool(torch.isfinite(have).all()):
            raise ModelDirError(f"{WEIGHTS} of {str(d)!r}: {key} must hold finite "
                                f"{want.dtype} values, but holds {have.dtype} "
                                f"{'with non-finite values' if have.is_floating_point() else ''}.")
    module.load_state_dict(state, strict=True)
    return module.eval()

