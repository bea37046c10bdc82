"""Test-only data: a small synthetic, biased hiring table as a user's file.

Not part of trifront. Tests import it by name (``tests/`` is on ``sys.path``
through its ``conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trifront.errors import TrifrontError

N = 120


def frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """A synthetic, biased hiring table (not a bundled set)."""
    rng = np.random.default_rng(seed)
    group = np.where(np.arange(n) % 3 == 0, "women", "men")
    years = rng.integers(0, 30, n)
    hired = np.where((years > 10) | ((group == "men") & (rng.random(n) < 0.4)), "yes", "no")
    return pd.DataFrame({
        "years": years,
        "score": rng.normal(60, 10, n).round(2),
        "city": rng.choice(["Lyon", "Paris", "Nice"], n),
        "gender": group,
        "plant": "A",  # constant: dropped
        "hired": hired,
    })


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv", **kw) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False, **kw)
    return path


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and isinstance(exc.value, TrifrontError)
    return msg
