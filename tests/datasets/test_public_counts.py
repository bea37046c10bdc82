"""Tests of the public row counts (DESIGN.md privacy rule 8) of the bundled data sets.

DP-SGD's sampling rate and number of steps come from ``Dataset.n_train_public``,
which is derived from the card's published row count and the split fractions
only, never from counting the private rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import trifront.datasets as datasets_pkg
from trifront.datasets import (
    CategoricalFeature,
    DatasetCard,
    NumericFeature,
    get_card,
    list_datasets,
    load_dataset,
    registry,
)
from trifront.datasets.raw import RawData
from trifront.errors import ConfigError

#: The published counts and where they are documented.
PUBLISHED = {
    "adult": 32_561,  # adult.names: "48842 instances ... (train=32561, test=16281)"
    "compas": 5_278,  # ProPublica's notebook: 3,175 African-American + 2,103 Caucasian of 6,172
    "german": 1_000,  # UCI german.doc: "Number of Instances: 1000"
}


@pytest.fixture
def fresh_caches():
    registry.clear_caches()
    yield
    registry.clear_caches()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_card_row_count_is_the_published_one_and_matches_the_bundled_file(name) -> None:
    card = get_card(name)
    assert card.n_rows == PUBLISHED[name]
    # A check of our bundled file: the pool the loader splits has exactly that many rows.
    assert len(registry._REGISTRY[name].load_raw().train) == card.n_rows


def test_every_registered_card_publishes_a_row_count() -> None:
    assert all(isinstance(get_card(name).n_rows, int) for name in list_datasets())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
@pytest.mark.parametrize(("seed", "val_fraction"), [(0, 0.2), (3, 0.1), (7, 0.37)])
def test_bundled_public_training_count_equals_the_actual_one(name, seed, val_fraction) -> None:
    ds = load_dataset(name, seed=seed, val_fraction=val_fraction)
    assert ds.n_train_public == ds.n_train
    assert ds.schema_from_data is False


def _toy_card(n_rows: int | None) -> DatasetCard:
    return DatasetCard(
        name="toy", title="t", description="d", source="s", licence="l", citation="c",
        columns=("x", "g", "y"), label="y", label_values=("no", "yes"), positive_label="yes",
        sensitive_attributes=("g",),
        features=(NumericFeature("x", 0, 100), CategoricalFeature("g", ("a", "b"))),
        n_rows=n_rows,
    )


def _toy_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "x": [str(i % 100) for i in range(n)],
        "g": ["a" if i % 3 else "b" for i in range(n)],
        "y": ["yes" if i % 4 == 0 else "no" for i in range(n)],
    })


@pytest.mark.parametrize("n", [20, 99, 100, 101, 1_003])
@pytest.mark.parametrize(("val_fraction", "test_fraction"), [(0.2, 0.2), (0.15, 0.3), (0.5, 0.1)])
def test_public_count_uses_the_split_arithmetic(n, val_fraction, test_fraction) -> None:
    """With the true count declared, the public count is the split's own size, exactly."""
    ds = registry.dataset_from_raw(
        _toy_card(n), RawData(train=_toy_rows(n), test=None),
        val_fraction=val_fraction, test_fraction=test_fraction,
    )
    assert ds.n_train_public == ds.n_train
    assert ds.n_train_public == registry.public_train_rows(
        n, val_fraction=val_fraction, test_fraction=test_fraction
    )
    assert registry.public_train_rows(n, val_fraction=val_fraction) == n - round(val_fraction * n)


def test_public_count_ignores_the_actual_rows() -> None:
    """One row more or less in the rows changes n_train, never n_train_public."""
    card = _toy_card(100)
    counts = set()
    for n in (99, 100, 101):
        ds = registry.dataset_from_raw(card, RawData(train=_toy_rows(n), test=None))
        counts.add(ds.n_train_public)
        assert ds.schema_from_data is False
    assert counts == {64}


def test_card_without_a_row_count_is_flagged(monkeypatch, fresh_caches) -> None:
    card = _toy_card(None)
    source = registry.DatasetSource(card, lambda: RawData(train=_toy_rows(100), test=None))
    monkeypatch.setitem(registry._REGISTRY, "toy", source)
    ds = load_dataset("toy")
    assert ds.schema_from_data is True and ds.n_train_public == ds.n_train
    raw = registry.dataset_from_raw(card, RawData(train=_toy_rows(100), test=None))
    assert raw.schema_from_data is True


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "100"])
def test_card_row_count_must_be_a_positive_integer(bad) -> None:
    with pytest.raises(ConfigError, match=r"`n_rows` must be None or an integer >= 1"):
        _toy_card(bad)


def test_card_markdown_and_dict_show_the_public_count() -> None:
    card = get_card("german")
    assert card.to_dict()["n_rows"] == 1_000
    assert "1,000" in card.to_markdown() and "public row count" in card.to_markdown().lower()


def test_public_count_too_small_for_the_splits_is_refused() -> None:
    card = _toy_card(1)
    with pytest.raises(ConfigError, match="public row count"):
        registry.dataset_from_raw(
            card, RawData(train=_toy_rows(100), test=None), val_fraction=0.6
        )


def test_schema_api_is_exported() -> None:
    for name in ("Schema", "infer_schema", "load_schema", "load_user_data", "describe_inferred"):
        assert name in datasets_pkg.__all__ and hasattr(datasets_pkg, name)


def test_every_datasets_module_is_under_400_lines() -> None:
    package = Path(datasets_pkg.__file__).parent
    lengths = {p.name: len(p.read_text().splitlines()) for p in package.glob("*.py")}
    assert {k: v for k, v in lengths.items() if v >= 400} == {}
