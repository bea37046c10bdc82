"""TOML helpers of ``schema.Schema``: value writers and the checked reader.

The writers produce TOML literals by hand (the standard library reads TOML,
``tomllib``, but does not write it); ``parse`` turns what ``tomllib`` read
into ``Schema`` keyword arguments, each wrong key a one-line ``ConfigError``
naming the key and what is accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from trifront.datasets.card import CategoricalFeature, Feature, NumericFeature
from trifront.errors import ConfigError, unknown_name

#: Version of the TOML layout written by ``Schema.to_toml``.
SCHEMA_VERSION = 1

#: Reason given to a column listed in ``ignore`` without one.
IGNORED = "ignored in the schema"

_TOP_KEYS = ("features", "ignore", "label", "n", "sensitive", "version")
_LABEL_KEYS = ("column", "positive", "values")
_SENSITIVE_KEYS = ("column", "groups")
_NUMERIC_KEYS = ("description", "hi", "lo", "transform", "type")
_CATEGORICAL_KEYS = ("categories", "description", "type")
_KINDS = ("categorical", "numeric")


# ---------------------------------------------------------------------- writing
def string(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else string(name)


def array(values: tuple[str, ...]) -> str:
    one_line = "[" + ", ".join(string(v) for v in values) + "]"
    if len(one_line) <= 80:
        return one_line
    return "[\n" + "".join(f"    {string(v)},\n" for v in values) + "]"


def number(value: float) -> str:
    v = float(value)
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


# ---------------------------------------------------------------------- reading
def _check_keys(table: Mapping[str, Any], accepted: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in accepted:
            raise unknown_name("key", prefix + key, [prefix + a for a in accepted])


def _get(table: Mapping[str, Any], key: str, prefix: str, what: str) -> Any:
    if key not in table:
        raise ConfigError(f"`{prefix}{key}` is required: {what}.")
    return table[key]


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"`{key}` must be a table ([{key}]), but got {value!r}.")
    return value


def _strings(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"`{key}` must be a list of strings, but got {value!r}.")
    return tuple(value)


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"`{key}` must be a string, but got {value!r}.")
    return value


def _number(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"`{key}` must be a number, but got {value!r}.")
    return float(value)


def parse(data: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``Schema`` from parsed TOML; ConfigError names the key."""
    _check_keys(data, _TOP_KEYS, "")
    if data.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise ConfigError(
            f"`version` must be {SCHEMA_VERSION}, but got {data['version']!r}."
        )
    n = _get(data, "n", "", "the public number of data rows of the file (test rows "
             "included); accepted: an integer >= 1")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(
            f"`n` must be an integer >= 1 (the public number of data rows), but got n={n!r}."
        )
    label = _table(_get(data, "label", "", "a [label] table with column, values, positive"),
                   "label")
    _check_keys(label, _LABEL_KEYS, "label.")
    sensitive = _table(_get(data, "sensitive", "", "a [sensitive] table with column, groups"),
                       "sensitive")
    _check_keys(sensitive, _SENSITIVE_KEYS, "sensitive.")
    raw_ignore = data.get("ignore", [])
    if isinstance(raw_ignore, dict):
        ignore = tuple((c, _text(r, f"ignore.{c}")) for c, r in raw_ignore.items())
    elif isinstance(raw_ignore, list):
        ignore = tuple((c, IGNORED) for c in _strings(raw_ignore, "ignore"))
    else:
        raise ConfigError(
            f"`ignore` must be a list of column names or a table of column = reason, but "
            f"got {raw_ignore!r}."
        )
    features = tuple(
        _feature(name, _table(spec, f"features.{name}"))
        for name, spec in _table(data.get("features", {}), "features").items()
    )
    return dict(
        label=_text(_get(label, "column", "label.", "the label column's name"), "label.column"),
        label_values=_strings(_get(label, "values", "label.", "its two values"),
                              "label.values"),
        positive=_text(_get(label, "positive", "label.", "the value encoded as 1"),
                       "label.positive"),
        sensitive=_text(_get(sensitive, "column", "sensitive.", "the sensitive column's "
                             "name"), "sensitive.column"),
        groups=_strings(_get(sensitive, "groups", "sensitive.", "every group of the "
                             "sensitive column"), "sensitive.groups"),
        features=features,
        n=n,
        ignore=ignore,
    )


def _feature(name: str, spec: Mapping[str, Any]) -> Feature:
    prefix = f"features.{name}."
    kind = _get(spec, "type", prefix, f"the kind of feature; accepted: {', '.join(_KINDS)}")
    if kind not in _KINDS:
        raise ConfigError(
            f"`{prefix}type` must name the kind of feature, but got {kind!r}; accepted: "
            f"{', '.join(_KINDS)}."
        )
    description = _text(spec.get("description", ""), prefix + "description")
    if kind == "numeric":
        _check_keys(spec, _NUMERIC_KEYS, prefix)
        lo = _number(_get(spec, "lo", prefix, "its public lower bound"), prefix + "lo")
        hi = _number(_get(spec, "hi", prefix, "its public upper bound"), prefix + "hi")
        transform = _text(spec.get("transform", "identity"), prefix + "transform")
        try:
            return NumericFeature(name, lo, hi, transform, description)
        except ConfigError as exc:
            raise ConfigError(f"`features.{name}`: {exc}") from None
    _check_keys(spec, _CATEGORICAL_KEYS, prefix)
    categories = _strings(
        _get(spec, "categories", prefix, "its full public category list"), prefix + "categories"
    )
    try:
        return CategoricalFeature(name, categories, description)
    except ConfigError as exc:
        raise ConfigError(f"`features.{name}`: {exc}") from None
