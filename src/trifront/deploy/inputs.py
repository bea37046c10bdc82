"""The rows ``trifront predict`` scores, and the table it writes.

Rows come from a file (CSV, TSV or Parquet, read as stripped strings like any
user file) or from a bundled data set; ``split`` picks the rows a loader puts
in one split (the train/validation split is drawn with the model's
``data_seed``, as in training), so ``predict --dataset NAME --split test``
scores exactly the rows the card's test metrics were measured on.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from trifront.datasets.registry import raw_split
from trifront.datasets.splits import SPLIT_NAMES, split_positions
from trifront.datasets.userfile import read_user_table
from trifront.deploy.model import ExportedModel
from trifront.errors import ConfigError, unknown_name

__all__ = ["ALL", "Predictions", "dataset_rows", "file_rows", "predict_rows", "source_name"]

#: ``split`` meaning every row of a file.
ALL = "all"
#: The fractions ``Problem.data()`` loads with (the loaders' defaults).
VAL_FRACTION = 0.2
TEST_FRACTION = 0.2


def dataset_rows(name: str, *, split: str, seed: int) -> pd.DataFrame:
    """Raw rows of one split of a bundled data set (``seed``: the validation split's)."""
    if split not in SPLIT_NAMES:
        raise unknown_name("split of a bundled data set", split, SPLIT_NAMES)
    return raw_split(name, split=split, seed=seed, val_fraction=VAL_FRACTION)


def file_rows(path: str | PathLike[str], *, split: str, seed: int) -> pd.DataFrame:
    """Rows of a file: all of them, or one split carved as ``trifront run --data`` carves it.

    Raises:
        ConfigError: On an unknown split or an unreadable file type.
        DataError: If the file is missing, empty or malformed.
    """
    accepted = (ALL, *SPLIT_NAMES)
    if split not in accepted:
        raise unknown_name("split", split, accepted)
    frame = read_user_table(path).frame
    if split == ALL:
        return frame
    positions = split_positions(len(frame), split=split, seed=seed, val_fraction=VAL_FRACTION,
                                test_fraction=TEST_FRACTION)
    return frame.iloc[positions].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class Predictions:
    """What ``predict`` writes and says.

    Attributes:
        table: ``probability`` (of the positive label), ``prediction`` (0/1) and,
            when the rows have the label column, ``label`` (the true label, 0/1).
        accuracy: Accuracy when the rows are labelled, else None.
        unfairness: The card's fairness gap when the rows are labelled and
            carry the sensitive attribute, else None.
    """

    table: pd.DataFrame
    accuracy: float | None
    unfairness: float | None

    def summary(self, model: ExportedModel, source: str) -> str:
        """One line for the terminal."""
        n = len(self.table)
        text = f"predicted {n} rows of {source}"
        if self.accuracy is not None:
            text += f": accuracy {self.accuracy:.4f}"
        if self.unfairness is not None:
            metric = str(model.card.get("fairness_metric", "")).replace("_", " ")
            text += f", {metric} gap {self.unfairness:.4f} ({model.encoder.sensitive})"
        if n:
            text += f"; predicted positive {float(self.table['prediction'].mean()):.3f}"
        return text


def predict_rows(model: ExportedModel, frame: pd.DataFrame, *, source: str) -> Predictions:
    """Score raw rows with the exported encoder and rule.

    Raises:
        DataError: If a needed column is missing or a value does not fit the schema.
    """
    if len(frame) == 0:
        raise ConfigError(f"{source} holds no rows to predict.")
    prob, decision = model.score(frame, source=source)
    table = pd.DataFrame({"probability": prob, "prediction": decision})
    y = model.encoder.labels(frame)
    if y is None:
        return Predictions(table, None, None)
    table["label"] = y
    accuracy = float(np.mean(decision == y))
    gap = None
    if model.encoder.has_groups(frame):
        from trifront.fairness import unfairness  # Fairlearn: only for labelled rows

        groups = model.encoder.groups(frame, source=source)
        if len(np.unique(groups)) >= 2:
            gap = unfairness(y, decision, sensitive_features=groups,
                             metric=str(model.card["fairness_metric"]))
    return Predictions(table, accuracy, gap)


def source_name(path: str | PathLike[str] | None, dataset: str | None, split: str) -> str:
    """How the rows are named in messages."""
    if path is not None:
        return f"{Path(path).name}" + ("" if split == ALL else f" ({split} split)")
    return f"data set {dataset!r} ({split} split)"
