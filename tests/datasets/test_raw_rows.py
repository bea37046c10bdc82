"""Raw rows of a split, and encoding that does its string work once per distinct value."""

import numpy as np
import pandas as pd
import pytest

from trifront.datasets import (
    CategoricalFeature,
    DatasetCard,
    NumericFeature,
    encode_features,
    get_card,
    load_dataset,
)
from trifront.datasets.encoding import category_codes, encode_numeric
from trifront.datasets.registry import raw_split
from trifront.datasets.splits import split_positions
from trifront.errors import ConfigError, DataError


@pytest.mark.parametrize("name", ["german", "compas"])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_raw_split_holds_the_rows_the_loader_put_in_that_split(name, split):
    ds = load_dataset(name, seed=3)
    rows = raw_split(name, split=split, seed=3)
    assert np.array_equal(encode_features(rows, get_card(name)), getattr(ds, split).X)


def test_split_positions_partition_the_rows():
    parts = [split_positions(1000, split=s, seed=1, val_fraction=0.2, test_fraction=0.2)
             for s in ("train", "val", "test")]
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))
    with pytest.raises(ConfigError, match="own test file"):
        split_positions(10, split="test", seed=0, val_fraction=0.2, test_fraction=None)
    with pytest.raises(ConfigError, match="unknown split"):
        split_positions(10, split="holdout", seed=0, val_fraction=0.2, test_fraction=0.2)


CARD = DatasetCard(
    name="toy", title="toy", description="", source="", licence="", citation="",
    columns=("x", "c", "y"), label="y", label_values=("0", "1"), positive_label="1",
    sensitive_attributes=("c",),
    features=(NumericFeature("x", 0, 10), CategoricalFeature("c", ("1", "1.0", "True", "a"))),
)


def _naive_numeric(values):
    raw = values.astype(str).str.strip()
    return np.clip(pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float), 0, 10) / 10


@pytest.mark.parametrize("values", [
    pd.Series([" 1", "2 ", "2", "10.5", "-3", " 1"]),
    pd.Series([1, 2, 2, 11, -3, 1]),
    pd.Series([1.5, 2.0, 2.0, np.inf, -0.0, 0.0]),
    pd.Series([1, 1.0, "1", " 2.5 ", 2.5, "3"], dtype=object),
])
def test_numeric_encoding_equals_the_cell_by_cell_one(values):
    got = encode_numeric(values, CARD.features[0], card=CARD)
    assert np.array_equal(got, _naive_numeric(values))


def test_categories_of_mixed_python_objects_are_not_merged():
    # 1, 1.0 and True hash alike; each must keep its own string.
    values = pd.Series([1, 1.0, True, " a", 1], dtype=object)
    codes = category_codes(values, CARD.features[1], card=CARD)
    assert codes.tolist() == [0, 1, 2, 3, 0]


def test_junk_is_counted_over_every_row():
    values = pd.Series(["1", "x", "x", "2", "y"])
    with pytest.raises(DataError, match=r"3 values such as \['x', 'y'\]"):
        encode_numeric(values, CARD.features[0], card=CARD)
