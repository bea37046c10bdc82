"""trifront: the accuracy / differential privacy / fairness Pareto front.

The public API::

    import trifront
    study = trifront.run(dataset="adult", model="logreg", trials=40)
    front = trifront.pareto_front(study)

``trifront.run`` takes every setting of ``trifront run`` by its flag name
(``trifront.Settings`` lists them); ``trifront.load_study`` opens a study
written earlier; ``trifront.load_model`` loads a model ``trifront export``
wrote (``predict_proba``, ``predict``, ``.card``).

Names are imported on first use, so ``trifront --help`` does not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "run": "trifront.runner",
    "run_study": "trifront.runner",
    "RunConfig": "trifront.runner",
    "Settings": "trifront.settings",
    "load_study": "trifront.study",
    "load_model": "trifront.deploy",
    "Problem": "trifront.problem",
    "TrialResult": "trifront.problem",
    "SearchSpace": "trifront.space",
    "pareto_front": "trifront.analysis.pareto",
    "pareto_mask": "trifront.analysis.pareto",
    "hypervolume": "trifront.analysis.pareto",
    "load_dataset": "trifront.datasets",
    "list_datasets": "trifront.datasets",
    "TrifrontError": "trifront.errors",
    "ConfigError": "trifront.errors",
    "DataError": "trifront.errors",
    "PrivacyError": "trifront.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # static re-exports for type checkers and IDEs
    from trifront.analysis.pareto import hypervolume, pareto_front, pareto_mask  # noqa: F401
    from trifront.datasets import list_datasets, load_dataset  # noqa: F401
    from trifront.deploy import load_model  # noqa: F401
    from trifront.errors import ConfigError, DataError, PrivacyError, TrifrontError  # noqa: F401
    from trifront.problem import Problem, TrialResult  # noqa: F401
    from trifront.runner import RunConfig, run, run_study  # noqa: F401
    from trifront.settings import Settings  # noqa: F401
    from trifront.space import SearchSpace  # noqa: F401
    from trifront.study import load_study  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trifront' has no attribute {name!r}")
