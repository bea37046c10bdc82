"""Tests of trifront.datasets.user: the user's own CSV/Parquet file, and every bad input."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hiring import N
from hiring import frame as _frame
from hiring import one_line as _one_line
from hiring import write as _write

from trifront.datasets import (
    CategoricalFeature,
    NumericFeature,
    describe_inferred,
    load_user_data,
    userfile,
)
from trifront.datasets import user as user_mod
from trifront.errors import ConfigError, DataError


# ------------------------------------------------------------------ round trip
def test_user_csv_loads_and_round_trips(tmp_path) -> None:
    frame = _frame()
    path = _write(tmp_path, frame)
    ds = load_user_data(path, label="hired", sensitive="gender", seed=0)
    assert ds.n_train + len(ds.val) + len(ds.test) == N
    assert (ds.n_train, len(ds.val), len(ds.test)) == (77, 19, 24)
    assert ds.group_names == ("men", "women") and ds.sensitive == "gender"
    card = ds.card
    assert card.name == "user:data.csv" and card.positive_label == "yes"
    assert card.feature("years") == NumericFeature(
        "years", float(frame.years.min()), float(frame.years.max()),
        description=card.feature("years").description,
    )
    assert isinstance(card.feature("city"), CategoricalFeature)
    assert card.feature("city").categories == ("Lyon", "Nice", "Paris")
    assert dict(card.dropped) == {"plant": "constant in the file (every row is 'A')"}
    assert card.notes[0] == user_mod.SCHEMA_FROM_DATA_NOTE

    # Decode the whole data set and compare it with the file, row for row.
    X = np.concatenate([ds.train.X, ds.val.X, ds.test.X])
    y = np.concatenate([ds.train.y, ds.val.y, ds.test.y])
    s = np.concatenate([ds.train.s, ds.val.s, ds.test.s])
    assert X.min() >= 0.0 and X.max() <= 1.0
    names = list(ds.feature_names)
    f = card.feature("years")
    years = X[:, names.index("years")] * (f.hi - f.lo) + f.lo
    order = np.lexsort((years, s, y))  # rows are shuffled across splits: compare sorted
    ref = frame.assign(y=(frame.hired == "yes").astype(int), s=(frame.gender == "women") * 1)
    ref = ref.sort_values(["y", "s", "years"], kind="stable")
    np.testing.assert_allclose(years[order], ref.years.to_numpy(), atol=1e-4)
    assert int(y.sum()) == int((frame.hired == "yes").sum())
    assert np.bincount(s).tolist() == [int((frame.gender == g).sum()) for g in ("men", "women")]
    women = names.index("gender=women")
    np.testing.assert_array_equal(s == 1, X[:, women] == 1.0)

    # Same seed, same splits; the test split does not depend on the seed.
    again = load_user_data(path, label="hired", sensitive="gender", seed=0)
    other = load_user_data(path, label="hired", sensitive="gender", seed=3)
    np.testing.assert_array_equal(again.val.X, ds.val.X)
    np.testing.assert_array_equal(other.test.X, ds.test.X)
    assert not np.array_equal(other.val.X, ds.val.X)


def test_describe_inferred_shows_types_and_the_caveat(tmp_path) -> None:
    ds = load_user_data(_write(tmp_path, _frame()), label="hired", sensitive="gender")
    text = describe_inferred(ds.card)
    assert "label 'hired': 'yes' -> 1, 'no' -> 0" in text
    assert "groups 0 = 'men', 1 = 'women'" in text
    assert "years   numeric      [0, 29]" in text
    assert "categorical  3 values: Lyon, Nice, Paris" in text
    assert "plant   dropped      constant" in text
    assert "SCHEMA FROM THE DATA" in text and "statistics of the data" in text
    assert "SCHEMA FROM THE DATA" in ds.card.to_markdown()


def test_positive_given_ignore_tsv_and_messy_whitespace(tmp_path) -> None:
    frame = _frame().assign(hired=lambda f: f.hired.map({"yes": " Hire", "no": "Reject "}))
    path = _write(tmp_path, frame, name="d.tsv", sep="\t")
    ds = load_user_data(path, label="hired", sensitive="gender", positive="Reject",
                        ignore=["city"])
    assert ds.card.positive_label == "Reject" and ds.card.label_values == ("Hire", "Reject")
    assert not any(n.startswith("city") for n in ds.feature_names)
    assert dict(ds.card.dropped)["city"] == "ignored at the user's request"
    n_reject = int(frame.hired.str.strip().eq("Reject").sum())
    assert int(ds.train.y.sum() + ds.val.y.sum() + ds.test.y.sum()) == n_reject


def test_numeric_label_pair_needs_no_positive(tmp_path) -> None:
    frame = _frame().assign(hired=lambda f: (f.hired == "yes").astype(float))  # 0.0 / 1.0
    ds = load_user_data(_write(tmp_path, frame), label="hired", sensitive="gender")
    assert ds.card.positive_label == "1.0"


def test_parquet_round_trip(tmp_path) -> None:
    pytest.importorskip("pyarrow")
    frame = _frame()
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    ds = load_user_data(path, label="hired", sensitive="gender")
    assert ds.n_train + len(ds.val) + len(ds.test) == N


# ------------------------------------------------------------------ bad input, case by case
def test_missing_file(tmp_path) -> None:
    with pytest.raises(DataError, match=r"'.*nope\.csv' does not exist; give the path") as e:
        load_user_data(tmp_path / "nope.csv", label="hired", sensitive="gender")
    _one_line(e)


def test_unknown_column_says_did_you_mean(tmp_path) -> None:
    path = _write(tmp_path, _frame())
    with pytest.raises(ConfigError, match="unknown label column 'hire'") as e:
        load_user_data(path, label="hire", sensitive="gender")
    assert "Did you mean 'hired'?" in _one_line(e) and "accepted: city, gender" in str(e.value)
    with pytest.raises(ConfigError, match="unknown sensitive column 'sex'"):
        load_user_data(path, label="hired", sensitive="sex")


def test_label_with_three_classes(tmp_path) -> None:
    frame = _frame()
    frame.loc[:9, "hired"] = "maybe"
    path = _write(tmp_path, frame)
    with pytest.raises(DataError, match="exactly two classes, but it has 3: 'maybe' \\(10 rows\\)"):
        load_user_data(path, label="hired", sensitive="gender")


def test_label_with_one_class(tmp_path) -> None:
    path = _write(tmp_path, _frame().assign(hired="yes"))
    with pytest.raises(DataError, match=r"exactly two classes, but it has 1: 'yes' \(120 rows\)"):
        load_user_data(path, label="hired", sensitive="gender")


def test_positive_not_a_label_value(tmp_path) -> None:
    path = _write(tmp_path, _frame())
    with pytest.raises(ConfigError, match=r"but got 'Yes'; accepted: 'no', 'yes'\.") as e:
        load_user_data(path, label="hired", sensitive="gender", positive="Yes")
    _one_line(e)


def test_ambiguous_label_needs_positive(tmp_path) -> None:
    frame = _frame().assign(hired=lambda f: f.hired.map({"yes": "hire", "no": "reject"}))
    path = _write(tmp_path, frame)
    with pytest.raises(ConfigError, match=r"'hire' and 'reject'.*--positive"):
        load_user_data(path, label="hired", sensitive="gender")


def test_sensitive_with_one_group(tmp_path) -> None:
    path = _write(tmp_path, _frame().assign(gender="women"))
    with pytest.raises(DataError, match="at least two groups, but every row is 'women'"):
        load_user_data(path, label="hired", sensitive="gender")


def test_sensitive_group_below_minimum(tmp_path) -> None:
    frame = _frame()
    frame.loc[:4, "gender"] = "nonbinary"
    path = _write(tmp_path, frame)
    with pytest.raises(DataError, match=r"min_group_size=30 rows, but 'nonbinary' has 5 rows"):
        load_user_data(path, label="hired", sensitive="gender")
    ds = load_user_data(path, label="hired", sensitive="gender", min_group_size=5)
    assert ds.n_groups == 3


@pytest.mark.parametrize("marker", ["", "NaN", "NA", "null"])
def test_nan_or_empty_cells_give_count_and_first_row(tmp_path, marker) -> None:
    frame = _frame().astype(str)
    frame.loc[6, "score"] = marker  # data row 7 -> file row 8 (the header is row 1)
    frame.loc[40, "city"] = marker
    frame.loc[50, "score"] = marker
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="has 3 empty or NaN cells") as e:
        load_user_data(path, label="hired", sensitive="gender")
    msg = _one_line(e)
    assert "column 'score' at row 8 (the header is row 1)" in msg
    assert "['score', 'city']" in msg


def test_file_of_ten_rows(tmp_path) -> None:
    path = _write(tmp_path, _frame(n=10))
    with pytest.raises(DataError, match="has 10 data rows, but at least min_rows=50"):
        load_user_data(path, label="hired", sensitive="gender")


def test_non_numeric_junk_in_numeric_column(tmp_path) -> None:
    frame = _frame().astype(str)
    frame.loc[3, "years"] = "ten"
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'years' holds numbers in 119 of 120 rows") as e:
        load_user_data(path, label="hired", sensitive="gender")
    assert "'ten' at row 5 (the header is row 1)" in _one_line(e)


def test_empty_file(tmp_path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("")
    with pytest.raises(DataError, match="is empty; a header line"):
        load_user_data(path, label="hired", sensitive="gender")
    path.write_text("\n\n")
    with pytest.raises(DataError, match="is empty"):
        load_user_data(path, label="hired", sensitive="gender")


def test_file_without_columns_or_rows(tmp_path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(",,\n1,2,3\n")
    with pytest.raises(DataError, match="has no columns"):
        load_user_data(path, label="hired", sensitive="gender")
    path.write_text("years,gender,hired\n")
    with pytest.raises(DataError, match="has 0 data rows"):
        load_user_data(path, label="hired", sensitive="gender")


# ------------------------------------------------------------------ more bad input
def test_bad_file_endings_and_malformed_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"must end in one of \.csv"):
        load_user_data(tmp_path / "data.xlsx", label="hired", sensitive="gender")
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match="not a well-formed comma-separated file"):
        load_user_data(path, label="a", sensitive="b")
    path.write_text("a,a,b\n1,2,3\n")
    with pytest.raises(DataError, match=r"must be unique, but \['a'\]"):
        load_user_data(path, label="a", sensitive="b")
    path.write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(DataError, match="must be UTF-8"):
        load_user_data(path, label="a", sensitive="b")


def test_bad_arguments(tmp_path) -> None:
    path = _write(tmp_path, _frame())
    with pytest.raises(ConfigError, match="must be different columns"):
        load_user_data(path, label="hired", sensitive="hired")
    with pytest.raises(ConfigError, match="`min_group_size` must be an integer >= 1"):
        load_user_data(path, label="hired", sensitive="gender", min_group_size=0)
    with pytest.raises(ConfigError, match="`ignore` must not list"):
        load_user_data(path, label="hired", sensitive="gender", ignore=["hired"])
    with pytest.raises(ConfigError, match=r"`0 < test_fraction < 1` must hold"):
        load_user_data(path, label="hired", sensitive="gender", test_fraction=1.0)


def test_too_many_categories(tmp_path) -> None:
    frame = _frame(n=300).assign(name=[f"person{i}" for i in range(300)])
    path = _write(tmp_path, frame)
    with pytest.raises(DataError, match="'name' has 300 distinct values, but at most 100"):
        load_user_data(path, label="hired", sensitive="gender")
    assert load_user_data(path, label="hired", sensitive="gender", ignore=["name"]).n_train > 0


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1 not really")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        userfile.importlib.util, "find_spec",
        lambda name, *a: None if name in ("pyarrow", "fastparquet") else real(name, *a),
    )
    with pytest.raises(ConfigError, match="needs pyarrow.*`pip install pyarrow`") as e:
        load_user_data(path, label="hired", sensitive="gender")
    _one_line(e)


def test_parquet_cells_are_checked_like_csv(tmp_path, monkeypatch) -> None:
    """The Parquet path (reader faked, so it runs without pyarrow) numbers data rows from 1."""
    frame = _frame()
    frame["score"] = frame["score"].astype(float)
    frame.loc[9, "score"] = np.nan
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        userfile.importlib.util, "find_spec",
        lambda name, *a: object() if name == "pyarrow" else real(name, *a),
    )
    monkeypatch.setattr(userfile.pd, "read_parquet", lambda p: frame.copy())
    with pytest.raises(DataError, match=r"1 empty or NaN cells.*row 10 \(data rows count from 1\)"):
        load_user_data(path, label="hired", sensitive="gender")
    frame.loc[9, "score"] = 61.5
    ds = load_user_data(path, label="hired", sensitive="gender")
    assert ds.n_train + len(ds.val) + len(ds.test) == N
    assert isinstance(ds.card.feature("score"), NumericFeature)


@pytest.mark.parametrize(("sep", "name"), [(";", "data.csv"), ("\t", "data.csv"),
                                           (";", "data.csv.gz"), (",", "data.tsv")])
def test_the_delimiter_is_read_from_the_header(tmp_path, sep, name) -> None:
    # A spreadsheet in a comma-decimal locale writes ';'-separated ".csv" files.
    frame = _frame()
    path = _write(tmp_path, frame, name=name, sep=sep)
    ds = load_user_data(path, label="hired", sensitive="gender", seed=0)
    reference = load_user_data(_write(tmp_path, frame, name="plain.csv"), label="hired",
                               sensitive="gender", seed=0)
    np.testing.assert_array_equal(ds.train.X, reference.train.X)
    assert ds.feature_names == reference.feature_names
