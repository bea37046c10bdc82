"""Tests of the bundled COMPAS and German credit data sets and the registry with them."""

from __future__ import annotations

import gzip
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from trifront.datasets import (
    CategoricalFeature,
    Dataset,
    NumericFeature,
    compas,
    encode_features,
    files,
    german,
    get_card,
    list_datasets,
    load_dataset,
    registry,
)
from trifront.errors import ConfigError, DataError


@pytest.fixture
def fresh_caches():
    """Clear the per-process caches before and after a test that bypasses them."""
    registry.clear_caches()
    yield
    registry.clear_caches()


def _all(ds: Dataset, attr: str) -> np.ndarray:
    return np.concatenate([getattr(ds.train, attr), getattr(ds.val, attr), getattr(ds.test, attr)])


# ------------------------------------------------------------------ registry
def test_list_datasets_has_the_three_bundled_sets() -> None:
    assert list_datasets() == ["adult", "compas", "german"]
    assert get_card("compas").sensitive_attributes == ("race", "sex")
    assert get_card("german").sensitive_attributes == ("sex", "age_group")


def test_unknown_dataset_suggests_the_close_name() -> None:
    with pytest.raises(ConfigError, match="accepted: adult, compas, german") as e:
        load_dataset("compass")
    assert "Did you mean 'compas'?" in str(e.value)


# ------------------------------------------------------------------ COMPAS
def test_compas_propublica_filter_counts() -> None:
    frame = compas._parse(files.read_verified(files.DATA_DIR / compas.FILE, compas.SHA256))
    assert len(frame) == compas.N_FILE == 7_214
    kept = compas.propublica_filter(frame)
    assert len(kept) == compas.N_PROPUBLICA == 6_172
    # Known numbers of ProPublica's filtered file.
    assert kept["race"].value_counts().to_dict() == {
        "African-American": 3_175, "Caucasian": 2_103, "Hispanic": 509, "Other": 343,
        "Asian": 31, "Native American": 11,
    }
    assert int((kept["two_year_recid"] == "1").sum()) == 2_809
    assert set(kept["c_charge_degree"]) == {"F", "M"}
    assert (kept["priors_count"] == kept["priors_count.1"]).all()


@pytest.mark.parametrize(
    ("sensitive", "groups", "sizes"),
    [("race", ("African-American", "Caucasian"), [3_175, 2_103]),
     ("sex", ("Female", "Male"), [1_031, 4_247])],
)
def test_compas_loads_rows_labels_groups(sensitive, groups, sizes) -> None:
    ds = load_dataset("compas", sensitive=sensitive)
    assert ds.n_train + len(ds.val) + len(ds.test) == compas.N_ROWS == 5_278
    assert len(ds.test) == round(0.2 * 5_278) == 1_056
    assert int(_all(ds, "y").sum()) == 2_483  # two-year recidivists among them (47.0%)
    assert ds.group_names == groups
    assert np.bincount(_all(ds, "s")).tolist() == sizes
    assert ds.majority_rate == pytest.approx(1 - ds.val.y.mean())  # recidivism < 50%


def test_compas_features_exclude_the_score_and_identifiers() -> None:
    card = get_card("compas")
    names = {f.name for f in card.features}
    assert names == {
        "age", "sex", "race", "juv_fel_count", "juv_misd_count", "juv_other_count",
        "priors_count", "c_charge_degree",
    }
    dropped = dict(card.dropped)
    for col in ("decile_score", "score_text", "v_decile_score", "is_recid"):
        assert col in dropped, col
    assert "COMPAS tool's own output" in dropped["decile_score"]
    assert card.positive_label == "1" and card.label == "two_year_recid"
    md = card.to_markdown()
    for needle in ("ProPublica", "favourable-outcome view", "894 defendants", "No explicit"):
        assert needle in md, needle


def test_compas_known_row_encoding() -> None:
    raw = compas.load_raw().train
    card = get_card("compas")
    # First kept row: 34, Male, African-American, priors 0, F, recidivated.
    first = raw.iloc[:1]
    assert "name" not in first.columns  # the bundled file has no identifying columns
    x = dict(zip(card.feature_names, encode_features(first, card)[0], strict=True))
    assert x["age"] == pytest.approx((34 - 18) / (100 - 18))
    assert x["priors_count"] == 0.0
    assert x["race=African-American"] == 1.0 and x["sex=Male"] == 1.0
    assert x["c_charge_degree=F"] == 1.0
    assert first["two_year_recid"].item() == "1"


def test_compas_bounds_clip_not_fitted() -> None:
    card = get_card("compas")
    priors = card.feature("priors_count")
    assert isinstance(priors, NumericFeature) and (priors.lo, priors.hi) == (0, 40)
    row = compas.load_raw().train.iloc[:1].copy()
    row["priors_count"] = "400"
    row["age"] = "17"
    x = dict(zip(card.feature_names, encode_features(row, card)[0], strict=True))
    assert x["priors_count"] == 1.0 and x["age"] == 0.0


# ------------------------------------------------------------------ German credit
@pytest.mark.parametrize(
    ("sensitive", "groups", "sizes"),
    [("sex", ("female", "male"), [310, 690]), ("age_group", ("<25", ">=25"), [149, 851])],
)
def test_german_loads_rows_labels_groups(sensitive, groups, sizes) -> None:
    ds = load_dataset("german", sensitive=sensitive)
    assert (ds.n_train, len(ds.val), len(ds.test)) == (640, 160, 200)
    assert int(_all(ds, "y").sum()) == 700  # good credit
    assert ds.group_names == groups
    assert np.bincount(_all(ds, "s")).tolist() == sizes


def test_german_derived_columns_follow_the_documentation() -> None:
    raw = german.load_raw().train
    assert raw.shape == (1_000, len(german.COLUMNS))
    assert raw["personal_status"].value_counts().to_dict() == {
        "A93": 548, "A92": 310, "A94": 92, "A91": 50,
    }
    female = raw["personal_status"].isin(["A92", "A95"])
    assert ((raw["sex"] == "female") == female).all()
    ages = pd.to_numeric(raw["age"])
    assert ((raw["age_group"] == "<25") == (ages < 25)).all()
    # First row: A11 6 A34 A43 1169 ... age 67, A93 (male single), credit 1 (good).
    assert raw.iloc[0][["sex", "age_group", "credit"]].tolist() == ["male", ">=25", "1"]
    with pytest.raises(DataError, match=r"personal_status must be one of.*\['A99'\]"):
        german.derive_columns(raw.iloc[:1].assign(personal_status="A99"))


def test_german_categories_are_the_documented_codes() -> None:
    maps = german.read_values_maps()
    card = get_card("german")
    checked = 0
    for feat in card.features:
        if isinstance(feat, CategoricalFeature) and feat.name in german.VALUES_MAP_KEYS:
            documented = list(maps[german.VALUES_MAP_KEYS[feat.name]])
            assert sorted(feat.categories) == sorted(documented), feat.name
            checked += 1
    assert checked == 13
    assert sorted(maps["credit"]) == sorted(card.label_values)
    assert maps["credit"][card.positive_label] == "good"
    assert set(german.SEX_OF_STATUS) == set(maps["status_sex"])
    for code, sex in german.SEX_OF_STATUS.items():
        assert maps["status_sex"][code].startswith(sex), code


# ------------------------------------------------------------------ both
@pytest.mark.parametrize("name", ["compas", "german"])
def test_encoding_in_unit_interval_and_fixed_test_split(name) -> None:
    a, b = load_dataset(name, seed=0), load_dataset(name, seed=7)
    for split in (a.train, a.val, a.test):
        assert split.X.dtype == np.float32 and split.X.shape[1] == a.n_features
        assert split.X.min() >= 0.0 and split.X.max() <= 1.0
        assert set(np.unique(split.y)) == {0, 1}
    np.testing.assert_array_equal(a.test.X, b.test.X)  # fixed test split
    assert not np.array_equal(a.val.X, b.val.X)
    # Only documented-but-absent codes give all-zero columns (the lists are not fitted).
    unused = {n for n, m in zip(a.feature_names, _all(a, "X").max(axis=0), strict=True) if m == 0}
    assert unused == ({"purpose=A47", "personal_status=A95"} if name == "german" else set())


@pytest.mark.parametrize(
    ("name", "file", "sha"),
    [("compas", compas.FILE, compas.SHA256), ("german", german.FILE, german.SHA256[german.FILE])],
)
def test_tampered_bundle_is_refused(name, file, sha, tmp_path, monkeypatch, fresh_caches) -> None:
    data = bytearray(gzip.decompress((files.DATA_DIR / file).read_bytes()))
    assert files.read_verified(files.DATA_DIR / file, sha) == bytes(data)
    pos = data.index(b"\n") + 1  # first byte of the second line
    data[pos : pos + 1] = b"9" if data[pos : pos + 1] != b"9" else b"8"
    for other in files.DATA_DIR.iterdir():
        if other.name.endswith(".gz"):
            shutil.copyfile(str(other), tmp_path / other.name)
    (tmp_path / file).write_bytes(gzip.compress(bytes(data)))
    monkeypatch.setattr(files, "DATA_DIR", tmp_path)
    with pytest.raises(DataError, match=f"must have sha256 {sha[:12]}"):
        load_dataset(name)


def test_intersectional_groups_are_every_combination_and_match_fairlearn():
    import fairlearn.metrics as flm
    import pandas as pd

    from trifront.fairness.metrics import unfairness

    both = load_dataset("adult", sensitive="sex*race", seed=3)
    sex = load_dataset("adult", sensitive="sex", seed=3)
    race = load_dataset("adult", sensitive="race", seed=3)
    n_race = len(race.group_names)
    assert len(both.group_names) == len(sex.group_names) * n_race
    assert both.group_names[1] == f"{sex.group_names[0]}*{race.group_names[1]}"
    for split in ("train", "val", "test"):
        s = getattr(both, split).s
        assert (s == getattr(sex, split).s * n_race + getattr(race, split).s).all()
    # The gap over the combined groups is Fairlearn's intersectional gap over both columns.
    rng = np.random.default_rng(0)
    y_pred = rng.integers(0, 2, len(both.val.y))
    features = pd.DataFrame({"sex": sex.val.s, "race": race.val.s})
    for metric, fn in (("demographic_parity", flm.demographic_parity_difference),
                       ("equalized_odds", flm.equalized_odds_difference)):
        ours = unfairness(both.val.y, y_pred, sensitive_features=both.val.s, metric=metric)
        theirs = fn(both.val.y, y_pred, sensitive_features=features)
        assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize(("name", "message"), [("sex*sex", "each attribute once"),
                                               ("sex*age", "Did you mean 'sex*race'")])
def test_bad_intersections_are_refused(name, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_dataset("adult", sensitive=name)
