"""Tests of trifront.datasets: bundled Adult, its card, public-schema encoding, splits."""

from __future__ import annotations

import dataclasses
import gzip
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from trifront.datasets import (
    CategoricalFeature,
    Dataset,
    DatasetCard,
    NumericFeature,
    Split,
    adult,
    encode_features,
    encode_groups,
    encode_labels,
    files,
    get_card,
    list_datasets,
    load_dataset,
    registry,
)
from trifront.datasets.raw import RawData
from trifront.errors import ConfigError, DataError, TrifrontError

N_DATA, N_TEST = 32_561, 16_281


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return load_dataset("adult", seed=0)


@pytest.fixture(scope="module")
def raw() -> RawData:
    return adult.load_raw()


@pytest.fixture
def fresh_caches():
    """Clear the per-process caches before and after a test that bypasses them."""
    registry.clear_caches()
    yield
    registry.clear_caches()


# ------------------------------------------------------------------ registry
def test_list_datasets_and_card() -> None:
    assert list_datasets() == ["adult", "compas", "german"]
    card = get_card("adult")
    assert isinstance(card, DatasetCard)
    assert card.sensitive_attributes == ("sex", "race")
    assert card.positive_label == ">50K"


@pytest.mark.parametrize("call", [get_card, load_dataset])
def test_unknown_dataset_lists_accepted_names(call) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown dataset 'Adult'; accepted: adult, compas, german\."
    ) as e:
        call("Adult")
    assert "Did you mean 'adult'?" in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, TrifrontError)


def test_unknown_sensitive_lists_card_attributes() -> None:
    with pytest.raises(ConfigError, match="sensitive attribute 'gender'") as e:
        load_dataset("adult", sensitive="gender")
    assert "accepted: race, sex" in str(e.value)


@pytest.mark.parametrize("val_fraction", [0.0, 1.0, -0.1, 1.5, True, "0.2", math.nan])
def test_bad_val_fraction(val_fraction) -> None:
    with pytest.raises(ConfigError, match=r"`0 < val_fraction < 1` must hold, but got"):
        load_dataset("adult", val_fraction=val_fraction)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed(seed) -> None:
    with pytest.raises(ConfigError, match="`seed` must be a non-negative integer"):
        load_dataset("adult", seed=seed)


# ------------------------------------------------------------------ raw files
def test_raw_row_counts_and_whitespace(raw: RawData) -> None:
    assert raw.test is not None
    assert raw.train.shape == (N_DATA, len(adult.COLUMNS))
    assert raw.test.shape == (N_TEST, len(adult.COLUMNS))
    for frame in (raw.train, raw.test):
        for col in frame.columns:
            values = frame[col]
            assert not (values.str.startswith(" ") | values.str.endswith(" ")).any(), col


def test_test_labels_parsed_despite_trailing_dot(raw: RawData, ds: Dataset) -> None:
    assert raw.test is not None
    assert set(raw.test["income"]) == {"<=50K", ">50K"}
    # Known counts of the UCI files: 3,846 of 16,281 test rows and 7,841 of
    # 32,561 training rows earn >50K.
    assert int(ds.test.y.sum()) == 3_846
    assert int(ds.train.y.sum() + ds.val.y.sum()) == 7_841


def test_split_sizes(ds: Dataset) -> None:
    assert ds.n_train + len(ds.val) == N_DATA
    assert len(ds.val) == round(0.2 * N_DATA) == 6_512
    assert len(ds.test) == N_TEST
    small = load_dataset("adult", val_fraction=0.1)
    assert len(small.val) == round(0.1 * N_DATA)


# ------------------------------------------------------------------ integrity
def _tamper(src_gz, dst_gz) -> None:
    data = bytearray(gzip.decompress(src_gz.read_bytes()))
    assert data[:2] == b"39"  # first row's age
    data[:2] = b"40"
    dst_gz.write_bytes(gzip.compress(bytes(data)))


def test_read_verified_accepts_original_and_rejects_tampered(tmp_path) -> None:
    src = files.DATA_DIR / "adult.data.gz"
    good = files.read_verified(src, adult.SHA256["adult.data.gz"])
    assert len(good) == 3_974_305
    bad = tmp_path / "adult.data.gz"
    _tamper(src, bad)
    with pytest.raises(DataError, match="must have sha256 5b00264637"):
        files.read_verified(bad, adult.SHA256["adult.data.gz"])
    with pytest.raises(DataError, match="must exist"):
        files.read_verified(tmp_path / "absent.gz", adult.SHA256["adult.data.gz"])
    (tmp_path / "junk.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="valid gzip"):
        files.read_verified(tmp_path / "junk.gz", adult.SHA256["adult.data.gz"])


def test_load_dataset_refuses_tampered_bundle(tmp_path, monkeypatch, fresh_caches) -> None:
    _tamper(files.DATA_DIR / "adult.data.gz", tmp_path / "adult.data.gz")
    shutil.copyfile(str(files.DATA_DIR / "adult.test.gz"), tmp_path / "adult.test.gz")
    monkeypatch.setattr(files, "DATA_DIR", tmp_path)
    with pytest.raises(DataError, match="sha256"):
        load_dataset("adult")


# ------------------------------------------------------------------ card
def _names_schema() -> dict[str, list[str] | str]:
    """Parse the attribute lines of the bundled adult.names."""
    out: dict[str, list[str] | str] = {}
    for line in adult.read_names().splitlines():
        m = re.fullmatch(r"([a-z-]+): (.+)\.", line.strip())
        if m:
            key, rest = m.groups()
            out[key] = "continuous" if rest == "continuous" else rest.split(", ")
    return out


def test_card_categories_come_from_adult_names() -> None:
    card = get_card("adult")
    documented = _names_schema()
    assert len(documented) == 14
    for feat in card.features:
        if isinstance(feat, CategoricalFeature):
            assert list(feat.categories) == documented[feat.name], feat.name
        else:
            assert documented[feat.name] == "continuous", feat.name


def test_card_drops_fnlwgt_and_education_and_keeps_sex_race() -> None:
    card = get_card("adult")
    names = [f.name for f in card.features]
    assert "fnlwgt" not in names and "education" not in names
    assert dict(card.dropped).keys() == {"fnlwgt", "education"}
    assert "sex" in names and "race" in names
    md = card.to_markdown()
    for needle in ("fnlwgt", "education-num", "CC BY 4.0", "10.24432/C5XW20", "sees `sex`"):
        assert needle in md
    assert card.to_dict()["n_features"] == card.n_features == 88


def test_card_validation() -> None:
    with pytest.raises(ConfigError, match=r"`lo < hi`.*lo=5, hi=5"):
        NumericFeature("x", 5, 5)
    with pytest.raises(ConfigError, match="unknown transform 'log'"):
        NumericFeature("x", 0, 1, transform="log")
    with pytest.raises(ConfigError, match="must be unique"):
        CategoricalFeature("c", ("a", "a"))
    base = {
        "name": "toy", "title": "t", "description": "d", "source": "s", "licence": "l",
        "citation": "c", "columns": ("x", "g", "y"), "label": "y", "label_values": ("0", "1"),
        "positive_label": "1", "sensitive_attributes": ("g",),
        "features": (NumericFeature("x", 0, 1), CategoricalFeature("g", ("a", "b"))),
    }
    DatasetCard(**base)  # valid
    with pytest.raises(ConfigError, match="sensitive attributes must be categorical"):
        DatasetCard(**{**base, "sensitive_attributes": ("x",)})
    with pytest.raises(ConfigError, match=r"unaccounted"):
        DatasetCard(**{**base, "columns": ("x", "g", "y", "extra")})
    with pytest.raises(ConfigError, match="positive_label"):
        DatasetCard(**{**base, "positive_label": "yes"})


# ------------------------------------------------------------------ encoding
def test_features_in_unit_interval_and_dtypes(ds: Dataset) -> None:
    for split in (ds.train, ds.val, ds.test):
        assert split.X.dtype == np.float32 and split.X.shape[1] == ds.n_features == 88
        assert split.X.min() >= 0.0 and split.X.max() <= 1.0
        assert split.y.dtype == np.int64 and set(np.unique(split.y)) == {0, 1}
        assert split.s.dtype == np.int64 and set(np.unique(split.s)) == {0, 1}
    assert ds.feature_names == get_card("adult").feature_names
    assert len(ds.feature_names) == len(set(ds.feature_names))


def test_first_row_known_encoding(raw: RawData) -> None:
    # 39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical,
    # Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K
    card = get_card("adult")
    x = dict(zip(card.feature_names, encode_features(raw.train.iloc[:1], card)[0], strict=True))
    assert x["age"] == pytest.approx((39 - 17) / (90 - 17))
    assert x["education-num"] == pytest.approx((13 - 1) / (16 - 1))
    assert x["capital-gain"] == pytest.approx(math.log1p(2174) / math.log1p(99_999))
    assert x["capital-loss"] == 0.0
    assert x["hours-per-week"] == pytest.approx((40 - 1) / (99 - 1))
    ones = {k for k, v in x.items() if "=" in k and v == 1.0}
    assert ones == {
        "workclass=State-gov", "marital-status=Never-married", "occupation=Adm-clerical",
        "relationship=Not-in-family", "race=White", "sex=Male", "native-country=United-States",
    }
    assert encode_labels(raw.train.iloc[:1], card).tolist() == [0]


def test_encoding_is_independent_of_the_other_rows(raw: RawData) -> None:
    card = get_card("adult")
    full = encode_features(raw.train, card)
    rng = np.random.default_rng(1)
    missing = np.flatnonzero((raw.train["occupation"] == "?").to_numpy())[:20]
    rich = np.flatnonzero(pd.to_numeric(raw.train["capital-gain"]).to_numpy() == 99_999)[:5]
    idx = np.concatenate([rng.choice(len(raw.train), 50, replace=False), missing, rich])
    sub = encode_features(raw.train.iloc[idx], card)
    assert sub.shape == (len(idx), full.shape[1])
    np.testing.assert_array_equal(sub, full[idx])
    one = encode_features(raw.train.iloc[[int(missing[0])]], card)
    np.testing.assert_array_equal(one[0], full[missing[0]])


def _toy_rows(**overrides: str) -> pd.DataFrame:
    row = {
        "age": "39", "workclass": "State-gov", "education-num": "13",
        "marital-status": "Never-married", "occupation": "Adm-clerical",
        "relationship": "Not-in-family", "race": "White", "sex": "Male",
        "capital-gain": "0", "capital-loss": "0", "hours-per-week": "40",
        "native-country": "United-States", "income": "<=50K",
    }
    row.update(overrides)
    return pd.DataFrame([row])


def test_encoding_clips_strips_and_handles_missing() -> None:
    card = get_card("adult")
    names = list(card.feature_names)
    old = encode_features(_toy_rows(age="120", **{"hours-per-week": "0"}), card)[0]
    assert old[names.index("age")] == 1.0 and old[names.index("hours-per-week")] == 0.0
    spaced = encode_features(_toy_rows(sex="  Female ", workclass=" ?"), card)[0]
    assert spaced[names.index("sex=Female")] == 1.0
    workclass = [i for i, n in enumerate(names) if n.startswith("workclass=")]
    assert len(workclass) == 8 and spaced[workclass].sum() == 0.0


def test_encoding_rejects_values_outside_the_schema() -> None:
    card = get_card("adult")
    with pytest.raises(DataError, match=r"'race'.*\['Martian'\]; accepted: White, "):
        encode_features(_toy_rows(race="Martian"), card)
    with pytest.raises(DataError, match=r"numeric feature 'age'.*\['old'\]"):
        encode_features(_toy_rows(age="old"), card)
    with pytest.raises(DataError, match=r"must be one of \['<=50K', '>50K'\].*\['maybe'\]"):
        encode_labels(_toy_rows(income="maybe"), card)
    with pytest.raises(DataError, match="'sex'.*missing value"):
        encode_groups(_toy_rows(sex="?"), card, "sex")
    with pytest.raises(DataError, match=r"\['age'\] are missing"):
        encode_features(_toy_rows().drop(columns="age"), card)


# ------------------------------------------------------------------ splits
def test_same_seed_same_splits_different_seed_different(ds: Dataset) -> None:
    again = load_dataset("adult", seed=0)
    other = load_dataset("adult", seed=1)
    for a, b in ((ds.train, again.train), (ds.val, again.val), (ds.test, again.test)):
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.s, b.s)
    assert len(other.val) == len(ds.val)
    assert not np.array_equal(other.val.X, ds.val.X)
    np.testing.assert_array_equal(other.test.X, ds.test.X)  # test never depends on seed


def test_train_and_val_partition_the_data_file(ds: Dataset, raw: RawData) -> None:
    full = encode_features(raw.train, get_card("adult")).astype(np.float64)
    parts = np.concatenate([ds.train.X, ds.val.X]).astype(np.float64)
    np.testing.assert_allclose(parts.sum(axis=0), full.sum(axis=0), rtol=1e-9, atol=1e-6)


def test_majority_rate_is_validation_floor(ds: Dataset) -> None:
    assert ds.majority_rate == pytest.approx(0.76, abs=0.01)
    p = ds.val.y.mean()
    assert ds.majority_rate == pytest.approx(max(p, 1 - p))
    assert load_dataset("adult", seed=3).majority_rate != ds.majority_rate


def test_sensitive_groups(ds: Dataset) -> None:
    assert ds.sensitive == "sex" and ds.group_names == ("Female", "Male") and ds.n_groups == 2
    female = ds.feature_names.index("sex=Female")
    np.testing.assert_array_equal(ds.train.s == 0, ds.train.X[:, female] == 1.0)
    race = load_dataset("adult", sensitive="race")
    assert race.n_groups == 5 and race.group_names[0] == "White"
    assert set(np.unique(race.train.s)) == set(range(5))
    black = race.feature_names.index("race=Black")
    np.testing.assert_array_equal(race.test.s == 4, race.test.X[:, black] == 1.0)
    np.testing.assert_array_equal(race.train.X, ds.train.X)  # same rows for the same seed


def test_records_are_frozen_and_arrays_writable_copies(ds: Dataset) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.seed = 3  # type: ignore[misc]
    fresh = load_dataset("adult", seed=0)
    assert fresh.test.X.flags.writeable and fresh.train.X.flags.writeable
    fresh.test.X[:] = 7.0  # must not leak into the cache
    assert load_dataset("adult", seed=0).test.X.max() <= 1.0


def test_split_validates_shapes() -> None:
    X = np.zeros((3, 2), dtype=np.float32)
    y = np.zeros(3, dtype=np.int64)
    assert len(Split(X=X, y=y, s=y)) == 3
    with pytest.raises(DataError, match="float32"):
        Split(X=X.astype(np.float64), y=y, s=y)
    with pytest.raises(DataError, match="`s` must be a 1-D int64 array"):
        Split(X=X, y=y, s=y[:2])


def test_generic_loader_carves_fixed_test_split(monkeypatch, fresh_caches) -> None:
    card = DatasetCard(
        name="toy", title="t", description="d", source="s", licence="l", citation="c",
        columns=("x", "g", "y"), label="y", label_values=("no", "yes"), positive_label="yes",
        sensitive_attributes=("g",),
        features=(NumericFeature("x", 0, 100), CategoricalFeature("g", ("a", "b"))),
    )
    n = 100
    frame = pd.DataFrame({
        "x": [str(i) for i in range(n)],
        "g": ["a" if i % 3 else "b" for i in range(n)],
        "y": ["yes" if i % 4 == 0 else "no" for i in range(n)],
    })
    source = registry.DatasetSource(card, lambda: RawData(train=frame, test=None), 0.3)
    monkeypatch.setitem(registry._REGISTRY, "toy", source)
    assert "toy" in list_datasets()
    a, b = load_dataset("toy", seed=0), load_dataset("toy", seed=5)
    assert (len(a.train), len(a.val), len(a.test)) == (56, 14, 30)
    np.testing.assert_array_equal(a.test.X, b.test.X)
    assert not np.array_equal(a.val.X, b.val.X)
    xs = np.concatenate([a.train.X[:, 0], a.val.X[:, 0], a.test.X[:, 0]]) * 100
    np.testing.assert_allclose(np.sort(xs), np.arange(n), atol=1e-4)
