"""Tests of trifront.datasets.schema: a user file's declared, public schema.

With a schema the encoding (bounds, category lists, which columns are
features) and the public row count come from the schema alone, never from the
rows (DESIGN.md privacy rules 4 and 8).
"""

from __future__ import annotations

import math
import re
import tomllib

import numpy as np
import pytest
from hiring import N
from hiring import frame as _frame
from hiring import one_line as _one_line
from hiring import write as _write
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trifront.datasets import (
    CategoricalFeature,
    NumericFeature,
    Schema,
    describe_inferred,
    infer_schema,
    load_schema,
    load_user_data,
)
from trifront.datasets.schema import OTHER
from trifront.errors import ConfigError, DataError


def _schema(**changes: object) -> Schema:
    fields: dict[str, object] = dict(
        label="hired", label_values=("no", "yes"), positive="yes",
        sensitive="gender", groups=("men", "women"),
        features=(
            NumericFeature("years", 0, 40),
            NumericFeature("score", 0, 100),
            CategoricalFeature("city", ("Lyon", "Nice", "Paris")),
        ),
        ignore=(("plant", "the same for every row"),),
        n=N,
    )
    fields.update(changes)
    return Schema(**fields)  # type: ignore[arg-type]


def _all(ds, attr: str) -> np.ndarray:
    return np.concatenate([getattr(ds.train, attr), getattr(ds.val, attr), getattr(ds.test, attr)])


# ------------------------------------------------------------------ infer and write
def test_infer_schema_reuses_the_inference(tmp_path) -> None:
    frame = _frame()
    schema = infer_schema(_write(tmp_path, frame), label="hired", sensitive="gender")
    assert (schema.label, schema.label_values, schema.positive) == ("hired", ("no", "yes"), "yes")
    assert (schema.sensitive, schema.groups) == ("gender", ("men", "women"))
    assert schema.n == N
    years = schema.feature("years")
    assert isinstance(years, NumericFeature)
    assert (years.lo, years.hi) == (float(frame.years.min()), float(frame.years.max()))
    assert schema.feature("city") == CategoricalFeature("city", ("Lyon", "Nice", "Paris"))
    assert [f.name for f in schema.features] == ["years", "score", "city"]
    assert dict(schema.ignore) == {"plant": "constant in the file (every row is 'A')"}


def test_to_toml_is_commented_public_and_round_trips(tmp_path) -> None:
    schema = infer_schema(_write(tmp_path, _frame()), label="hired", sensitive="gender")
    text = schema.to_toml()
    head = text.split("\n\n")[0]
    assert "public" in head.lower() and "epsilon" in head.lower() and "edit" in head.lower()
    assert "data.csv" in text  # says which file it was inferred from
    tomllib.loads(text)  # valid TOML
    path = tmp_path / "schema.toml"
    path.write_text(text)
    assert load_schema(path) == schema
    assert load_schema(str(path)) == schema


_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).map(
    str.strip
).filter(bool)


@st.composite
def _schemas(draw) -> Schema:
    names = draw(st.lists(_names, min_size=4, max_size=8, unique=True))
    label, sensitive, *rest = names
    values = tuple(draw(st.lists(_names, min_size=2, max_size=2, unique=True)))
    groups = tuple(draw(st.lists(_names, min_size=2, max_size=4, unique=True)))
    features = []
    for name in rest[: len(rest) - 1]:
        if draw(st.booleans()):
            a, b = draw(st.floats(-1e12, 1e12)), draw(st.floats(-1e12, 1e12))
            assume(a != b)
            lo, hi = min(a, b), max(a, b)
            log = lo > -1 and draw(st.booleans())
            features.append(NumericFeature(name, lo, hi, "log1p" if log else "identity",
                                           draw(st.sampled_from(["", "from the form"]))))
        else:
            cats = tuple(draw(st.lists(_names.filter(lambda c: c != OTHER), min_size=1,
                                       max_size=4, unique=True)))
            features.append(CategoricalFeature(name, cats))
    return Schema(
        label=label, label_values=values, positive=draw(st.sampled_from(values)),
        sensitive=sensitive, groups=groups, features=tuple(features),
        ignore=((rest[-1], draw(_names)),), n=draw(st.integers(1, 10**9)),
    )


@settings(max_examples=60, deadline=None)
@given(_schemas())
def test_any_schema_round_trips_through_toml(schema) -> None:
    assert Schema.from_toml(schema.to_toml()) == schema


# ------------------------------------------------------------------ loading with a schema
def test_schema_fixes_the_feature_count_whatever_the_rows(tmp_path) -> None:
    frame = _frame()
    schema = _schema()
    base = load_user_data(_write(tmp_path, frame), schema=schema)
    expected = 2 + (3 + 1) + 2  # two numeric, city with its "other" level, two groups
    assert base.n_features == expected == base.card.n_features == schema.n_features
    odd = frame.copy()
    odd.loc[0, "city"] = "Marseille"  # unseen category
    odd.loc[1, "years"] = 1_000  # extreme value
    odd.loc[2, "score"] = -1e9
    ds = load_user_data(_write(tmp_path, odd, "odd.csv"), schema=schema)
    assert ds.feature_names == base.feature_names
    X = _all(ds, "X")
    assert X.min() >= 0.0 and X.max() <= 1.0
    names = list(ds.feature_names)
    assert f"city={OTHER}" in names
    assert int(X[:, names.index(f"city={OTHER}")].sum()) == 1
    # the extreme value is clipped: it does not rescale the other rows
    years = np.sort(X[:, names.index("years")])
    assert years[-1] == 1.0
    np.testing.assert_allclose(years[:-1] * 40, np.sort(odd.years.drop(1)), atol=1e-4)


def test_one_row_more_or_less_keeps_the_public_count(tmp_path) -> None:
    frame = _frame(n=N + 1)
    schema = _schema()
    publics, actual = set(), set()
    for n in (N - 1, N, N + 1):
        ds = load_user_data(_write(tmp_path, frame.iloc[:n], f"d{n}.csv"), schema=schema)
        publics.add(ds.n_train_public)
        actual.add(ds.n_train)
        assert ds.schema_from_data is False and ds.card.n_rows == N
    assert len(publics) == 1 and len(actual) > 1
    assert publics == {N - round(0.2 * N) - round(0.2 * (N - round(0.2 * N)))}


def test_without_a_schema_the_schema_comes_from_the_data(tmp_path) -> None:
    ds = load_user_data(_write(tmp_path, _frame()), label="hired", sensitive="gender")
    assert ds.schema_from_data is True
    assert ds.n_train_public == ds.n_train
    assert ds.card.n_rows is None


def test_schema_path_and_label_from_the_schema(tmp_path) -> None:
    path = _write(tmp_path, _frame())
    spath = tmp_path / "s.toml"
    spath.write_text(_schema().to_toml())
    a = load_user_data(path, schema=spath)
    b = load_user_data(path, schema=str(spath), label="hired", sensitive="gender",
                       positive="yes")
    assert a.sensitive == b.sensitive == "gender" and a.card.label == "hired"
    np.testing.assert_array_equal(a.train.X, b.train.X)
    assert a.group_names == ("men", "women")


def test_schema_card_holds_no_statistic_of_the_rows(tmp_path) -> None:
    ds = load_user_data(_write(tmp_path, _frame()), schema=_schema())
    card = ds.card
    text = card.to_markdown() + describe_inferred(card) + repr(card.to_dict())
    assert "sha256" not in text
    assert not re.search(r"\d+ rows\)", text)  # no group counts
    assert "SCHEMA FROM THE DATA" not in text
    assert "declared" in card.notes[0].lower()
    assert card.feature("years") == NumericFeature(
        "years", 0, 40, description=card.feature("years").description
    )
    assert dict(card.dropped)["plant"] == "the same for every row"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"label": "city"}, r"label.*'city'.*schema.*'hired'"),
        ({"sensitive": "city"}, r"sensitive.*'city'.*schema.*'gender'"),
        ({"positive": "no"}, r"positive.*'no'.*schema.*'yes'"),
        ({"ignore": ["score"]}, r"`ignore`.*schema"),
    ],
)
def test_arguments_must_agree_with_the_schema(tmp_path, kw, message) -> None:
    path = _write(tmp_path, _frame())
    with pytest.raises(ConfigError, match=message) as e:
        load_user_data(path, schema=_schema(), **kw)
    _one_line(e)


def test_no_schema_needs_label_and_sensitive(tmp_path) -> None:
    path = _write(tmp_path, _frame())
    with pytest.raises(ConfigError, match="label= and sensitive="):
        load_user_data(path, label="hired")


# ------------------------------------------------------------------ file against schema
def test_declared_column_missing_from_the_file(tmp_path) -> None:
    path = _write(tmp_path, _frame().drop(columns=["score"]))
    with pytest.raises(DataError, match=r"column 'score'.*schema.*missing from.*data\.csv") as e:
        load_user_data(path, schema=_schema())
    _one_line(e)


def test_label_value_not_declared(tmp_path) -> None:
    frame = _frame()
    frame.loc[3, "hired"] = "maybe"
    with pytest.raises(DataError, match=r"label column 'hired'.*'maybe'.*row 5") as e:
        load_user_data(_write(tmp_path, frame), schema=_schema())
    assert "'no', 'yes'" in _one_line(e)


def test_sensitive_value_not_a_declared_group(tmp_path) -> None:
    frame = _frame()
    frame.loc[7, "gender"] = "nonbinary"
    with pytest.raises(DataError, match=r"sensitive column 'gender'.*'nonbinary'.*row 9") as e:
        load_user_data(_write(tmp_path, frame), schema=_schema())
    assert "'men', 'women'" in _one_line(e)


def test_undeclared_column_in_the_file(tmp_path) -> None:
    frame = _frame().assign(extra=1)
    with pytest.raises(DataError, match=r"column 'extra'.*not declared.*ignore") as e:
        load_user_data(_write(tmp_path, frame), schema=_schema())
    _one_line(e)


def test_junk_in_a_declared_numeric_column(tmp_path) -> None:
    frame = _frame().astype(str)
    frame.loc[3, "years"] = "ten"
    with pytest.raises(DataError, match=r"'years'.*'ten'") as e:
        load_user_data(_write(tmp_path, frame), schema=_schema())
    _one_line(e)


def test_ignored_column_absent_from_the_file_is_fine(tmp_path) -> None:
    ds = load_user_data(_write(tmp_path, _frame().drop(columns=["plant"])), schema=_schema())
    assert ds.n_features == 8


# ------------------------------------------------------------------ schema validation
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label_values": ("yes",)}, r"`label.values`"),
        ({"positive": "maybe"}, r"`label.positive`"),
        ({"groups": ("men",)}, r"`sensitive.groups`"),
        ({"label": " hired"}, "whitespace"),
        ({"sensitive": "hired"}, "different columns"),
        ({"n": 0}, "`n` must be an integer >= 1"),
        ({"n": True}, "`n` must be an integer >= 1"),
        ({"features": (CategoricalFeature("city", ("Lyon", OTHER)),)}, r"city.*reserved"),
        ({"features": (NumericFeature("hired", 0, 1),)}, "once"),
        ({"ignore": (("years", "x"),)}, "once"),
    ],
)
def test_schema_validation(changes, message) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        _schema(**changes)
    _one_line(e)


def _good_toml() -> str:
    return _schema().to_toml()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("[label]", "[lable]"), r"unknown key 'lable'.*Did you mean 'label'"),
        (lambda t: t.replace(f"n = {N}\n", ""), r"`n`.*required"),
        (lambda t: t.replace(f"n = {N}", "n = 0"), r"`n` must be an integer >= 1"),
        (lambda t: t.replace(f"n = {N}", 'n = "many"'), r"`n` must be an integer >= 1"),
        (lambda t: t.replace('positive = "yes"', 'positive = "Yes"'), r"`label.positive`"),
        (lambda t: t.replace('values = ["no", "yes"]', 'values = ["no"]'), r"`label.values`"),
        (lambda t: t.replace('type = "categorical"', 'type = "text"'),
         r"`features.city.type`.*accepted: categorical, numeric"),
        (lambda t: t.replace("hi = 40", "hi = -1"), r"`features.years`.*lo < hi"),
        (lambda t: t.replace("hi = 40", 'hi = "forty"'), r"`features.years.hi` must be a number"),
        (lambda t: t.replace("hi = 40", "hi = 40\ncolour = 1"),
         r"unknown key 'features.years.colour'"),
        (lambda t: t.replace('"Lyon"', f'"{OTHER}"'), r"`features.city.categories`.*reserved"),
        (lambda t: t + "\n[[oops\n", r"not valid TOML"),
    ],
)
def test_load_schema_errors_name_the_key(tmp_path, edit, message) -> None:
    path = tmp_path / "schema.toml"
    path.write_text(edit(_good_toml()))
    with pytest.raises(ConfigError, match=message) as e:
        load_schema(path)
    assert "schema.toml" in _one_line(e)


def test_load_schema_missing_file_and_ignore_as_a_list(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as e:
        load_schema(tmp_path / "none.toml")
    _one_line(e)
    path = tmp_path / "schema.toml"
    text = _good_toml()
    start = text.index("[ignore]")
    end = text.index("\n\n", start)
    path.write_text('ignore = ["plant"]\n' + text[:start] + text[end + 2:])
    assert load_schema(path).ignore == (("plant", "ignored in the schema"),)


def test_log1p_transform_and_bounds_in_the_schema(tmp_path) -> None:
    schema = _schema(features=(
        NumericFeature("years", 0, 40, "log1p"),
        NumericFeature("score", 0, 100),
        CategoricalFeature("city", ("Lyon", "Nice", "Paris")),
    ))
    ds = load_user_data(_write(tmp_path, _frame()), schema=schema)
    years = _all(ds, "X")[:, list(ds.feature_names).index("years")]
    top = int(_frame().years.max())
    assert np.isclose(years.max(), math.log1p(top) / math.log1p(40), atol=1e-6)
