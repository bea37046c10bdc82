"""The raw form a dataset module hands to the generic loader."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True, eq=False)
class RawData:
    """Raw rows of a data set, as strings, one column per raw column of its card.

    Attributes:
        train: Rows from which train and validation are carved.
        test: The data set's own test rows, or None if it has none (the generic
            loader then carves a fixed test split; see ``registry.load_dataset``).
            The frames may be cached and shared: treat them as read-only.
    """

    train: pd.DataFrame
    test: pd.DataFrame | None
