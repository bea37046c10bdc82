"""Deploy what a study chose: export one trained model, load it, predict new rows.

``trifront export`` trains a configuration once, scores that very model once
on the test split, and writes a model directory (weights, the public encoder,
the decision rule and a model card, see :mod:`trifront.deploy.layout`);
``trifront predict`` and :func:`load_model` apply it to raw rows.

>>> model = trifront.load_model("adult-model")                # doctest: +SKIP
>>> model.card["epsilon"], model.predict(frame)               # doctest: +SKIP

This package reads studies through :mod:`trifront.study`, trains through
:mod:`trifront.trial`, encodes through :mod:`trifront.datasets`; it never
imports the runner, the executors or the sampler. Names are imported on first
use, so loading a model to predict does not import the training code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DecisionRule": "trifront.deploy.rule",
    "Encoder": "trifront.deploy.encoder",
    "ExportedModel": "trifront.deploy.model",
    "ModelDirError": "trifront.deploy.layout",
    "TestScore": "trifront.deploy.export",
    "export_command": "trifront.deploy.command",
    "export_model": "trifront.deploy.export",
    "export_trial": "trifront.deploy.export",
    "load_model": "trifront.deploy.model",
    "write_model": "trifront.deploy.export",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # static re-exports for type checkers and IDEs
    from trifront.deploy.command import export_command  # noqa: F401
    from trifront.deploy.encoder import Encoder  # noqa: F401
    from trifront.deploy.export import (  # noqa: F401
        TestScore,
        export_model,
        export_trial,
        write_model,
    )
    from trifront.deploy.layout import ModelDirError  # noqa: F401
    from trifront.deploy.model import ExportedModel, load_model  # noqa: F401
    from trifront.deploy.rule import DecisionRule  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trifront.deploy' has no attribute {name!r}")
