"""Bundled data sets, their cards (public schema), encoding and seeded splits.

>>> from trifront.datasets import load_dataset
>>> ds = load_dataset("adult", seed=0, sensitive="sex")
>>> ds.train.X.shape[1] == ds.n_features
True

Encoding reads only the card's public schema (category lists from the data
set's documentation, numeric bounds from its public field definitions), never
statistics of the rows, so it costs no privacy budget; DP-SGD's schedule reads
only the card's public row count (``Dataset.n_train_public``). A user's file
gets the same guarantee from a declared ``Schema`` (``load_user_data(path,
schema=...)``); without one its schema is inferred from the rows and the
Dataset says so (``schema_from_data``).
"""

from trifront.datasets.card import CategoricalFeature, DatasetCard, NumericFeature
from trifront.datasets.dataset import Dataset, Split
from trifront.datasets.encoding import encode_features, encode_groups, encode_labels
from trifront.datasets.registry import get_card, list_datasets, load_dataset
from trifront.datasets.schema import Schema, infer_schema, load_schema
from trifront.datasets.user import describe_inferred, load_user_data

__all__ = [
    "CategoricalFeature",
    "Dataset",
    "DatasetCard",
    "NumericFeature",
    "Schema",
    "Split",
    "describe_inferred",
    "encode_features",
    "encode_groups",
    "encode_labels",
    "get_card",
    "infer_schema",
    "list_datasets",
    "load_dataset",
    "load_schema",
    "load_user_data",
]
