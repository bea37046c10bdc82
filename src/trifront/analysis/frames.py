"""Studies as tables: one row per trial, objectives and bookkeeping as columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pandas as pd

from trifront.objectives import OBJECTIVES

# Column order of exported tables: identity, objectives, privacy bookkeeping.
LEADING = [
    "trial",
    "state",
    "accuracy",
    "epsilon",
    "delta",
    "unfairness",
    "noise_multiplier",
    "sample_rate",
    "steps",
    "max_grad_norm",
    "accountant",
    "epsilon_rdp",
]


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """All trials of a study as a DataFrame.

    Columns: ``trial``, ``state``, the three objectives (NaN unless COMPLETE),
    the privacy bookkeeping, then the searched parameters and the remaining
    user attributes (``fail_reason`` for failed trials).

    Args:
        study: A trifront study (three objectives).

    Returns:
        One row per trial, in trial order.
    """
    rows: list[dict[str, Any]] = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name}
        values = t.values if t.state == optuna.trial.TrialState.COMPLETE and t.values else None
        for i, name in enumerate(OBJECTIVES):
            row[name] = float(values[i]) if values else np.nan
        row.update(t.params)
        for key, value in t.user_attrs.items():
            row.setdefault(key, value)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=LEADING)
    lead = [c for c in LEADING if c in frame.columns]
    rest = [c for c in frame.columns if c not in lead]
    return frame[lead + rest]
