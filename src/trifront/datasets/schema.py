"""A declared, public schema for a user's data file, and its TOML form.

A ``Schema`` says everything the encoder and the privacy schedule may know
about a user's file without looking at its rows (DESIGN.md privacy rules 4 and
8): the label and its two values, the sensitive column and its groups, each
feature's type (numeric with public bounds, or categorical with a public
category list), the columns to ignore, and the public row count ``n``. The user
writes it (or reviews one ``infer_schema`` wrote, with ``Schema.to_toml``) and
declares it public by passing it to ``load_user_data``.

>>> text = Schema(label="y", label_values=("0", "1"), positive="1", sensitive="g",
...               groups=("a", "b"), features=(), n=100).to_toml()
>>> Schema.from_toml(text).n
100
"""

from __future__ import annotations

import numbers
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path

from trifront.datasets import schema_toml
from trifront.datasets.card import CategoricalFeature, Feature, NumericFeature
from trifront.datasets.inference import infer_card
from trifront.datasets.schema_toml import IGNORED, SCHEMA_VERSION, array, key, number, string
from trifront.errors import ConfigError, unknown_name

#: The extra level of every declared categorical feature: a value not in the
#: declared list encodes as this category, so the number of encoded columns is
#: fixed by the schema alone. A schema may not declare it.
OTHER = "(other)"



def _name_ok(key: str, value: object) -> None:
    if not isinstance(value, str) or not value or value != value.strip():
        raise ConfigError(
            f"`{key}` must be a non-empty name without surrounding whitespace (cells are "
            f"compared after stripping), but got {value!r}."
        )


@dataclass(frozen=True)
class Schema:
    """The public schema of a user's data file (validated on construction).

    Attributes:
        label: The label column.
        label_values: Its two values.
        positive: The value encoded as ``y = 1``.
        sensitive: The sensitive-attribute column; a model input too, one-hot
            over ``groups`` (encoded after ``features``).
        groups: Every group of ``sensitive``; group ``k`` is ``groups[k]``. A
            row with another value is a DataError.
        features: The features in encoding order (``NumericFeature``: clipped
            to ``[lo, hi]``, transformed, scaled to [0, 1]; ``CategoricalFeature``:
            one-hot over ``categories`` plus one ``OTHER`` column for any other
            value).
        n: Public number of data rows of the file (all of them: the test,
            validation and training rows). DP-SGD's sampling rate and number
            of steps derive from it, never from counting the rows.
        ignore: ``(column, reason)`` for each column left out (a bare column
            name is accepted and gets a default reason).
        inferred_from: Name of the file ``infer_schema`` read this schema from
            ("" if it was declared); not part of equality, not stored in TOML
            (``to_toml`` writes it as a warning comment).
    """

    label: str
    label_values: tuple[str, ...]
    positive: str
    sensitive: str
    groups: tuple[str, ...]
    features: tuple[Feature, ...]
    n: int
    ignore: tuple[tuple[str, str], ...] = ()
    inferred_from: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        ignore = tuple(
            (item, IGNORED) if isinstance(item, str) else tuple(item) for item in self.ignore
        )
        for name, value in (("label_values", tuple(self.label_values)),
                            ("groups", tuple(self.groups)),
                            ("features", tuple(self.features)), ("ignore", ignore)):
            object.__setattr__(self, name, value)
        _name_ok("label.column", self.label)
        _name_ok("sensitive.column", self.sensitive)
        for v in self.label_values:
            _name_ok("label.values", v)
        if len(self.label_values) != 2 or len(set(self.label_values)) != 2:
            raise ConfigError(
                f"`label.values` must hold exactly two distinct values, but got "
                f"{list(self.label_values)}."
            )
        if self.positive not in self.label_values:
            raise ConfigError(
                f"`label.positive` must be one of `label.values` "
                f"{', '.join(repr(v) for v in self.label_values)}, but got {self.positive!r}."
            )
        for g in self.groups:
            _name_ok("sensitive.groups", g)
        if len(self.groups) < 2 or len(set(self.groups)) != len(self.groups):
            raise ConfigError(
                f"`sensitive.groups` must hold at least two distinct groups, but got "
                f"{list(self.groups)}."
            )
        if self.label == self.sensitive:
            raise ConfigError(
                f"the label and the sensitive attribute must be different columns, but both "
                f"are {self.label!r}."
            )
        for f in self.features:
            if not isinstance(f, NumericFeature | CategoricalFeature):
                raise ConfigError(
                    f"`features` must hold NumericFeature or CategoricalFeature entries, but "
                    f"got {f!r}."
                )
            _name_ok(f"features.{f.name}", f.name)
            if isinstance(f, CategoricalFeature):
                for c in f.categories:
                    _name_ok(f"features.{f.name}.categories", c)
                if OTHER in f.categories:
                    raise ConfigError(
                        f"`features.{f.name}.categories` must not include {OTHER!r}, which "
                        "is reserved for the values outside the list, but it does."
                    )
        for item in self.ignore:
            if len(item) != 2 or not all(isinstance(x, str) for x in item):
                raise ConfigError(
                    f"`ignore` must hold (column, reason) pairs of strings, but got {item!r}."
                )
            _name_ok("ignore", item[0])
        columns = self.columns
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise ConfigError(
                "each column may appear once in a schema (as the label, the sensitive "
                f"column, a feature or ignored), but {repeated} appear more than once."
            )
        n = self.n
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ConfigError(
                f"`n` must be an integer >= 1 (the public number of data rows), but got "
                f"n={n!r}."
            )

    # ------------------------------------------------------------------ views
    @property
    def columns(self) -> tuple[str, ...]:
        """Every declared column: label, sensitive, features, then ignored ones."""
        return (self.label, self.sensitive, *(f.name for f in self.features),
                *(c for c, _ in self.ignore))

    @property
    def n_features(self) -> int:
        """Encoded columns ``d``: fixed by the schema alone, whatever the rows."""
        per_feature = [
            1 if isinstance(f, NumericFeature) else len(f.categories) + 1 for f in self.features
        ]
        return sum(per_feature) + len(self.groups)

    def feature(self, name: str) -> Feature:
        """The declared feature ``name``.

        Raises:
            ConfigError: If ``name`` is not a declared feature.
        """
        for f in self.features:
            if f.name == name:
                return f
        raise unknown_name("schema feature", name, [f.name for f in self.features])

    # ------------------------------------------------------------------ TOML
    def to_toml(self) -> str:
        """The schema as a commented TOML file a user can review and edit.

        ``Schema.from_toml(s.to_toml()) == s`` for every schema ``s``.
        """
        src = self.inferred_from
        lines = [
            "# trifront schema of a data file: label, sensitive attribute, features, rows.",
            "#",
            "# Every value in this file is PUBLIC. trifront encodes the rows with these",
            "# values alone (numbers clipped to [lo, hi]; categories one-hot over the list,",
            f'# plus one "{OTHER}" column for any value not listed) and takes DP-SGD\'s',
            "# sampling rate and number of steps from `n`; reports may show any of it.",
            "# The reported epsilon covers the encoding only if every value here is public",
            "# knowledge (documentation, a form's valid ranges, a published count), not",
            "# computed from the private rows: editing this file into such values is how",
            "# you make epsilon cover the encoding. Then declare it: `trifront run --data",
            "# DATA --schema THIS.toml` (and evaluate, audit, export); in Python,",
            "# trifront.run(data=DATA, schema=THIS) or load_user_data(DATA, schema=THIS).",
        ]
        if src:
            lines += [
                "#",
                f"# INFERRED FROM {src}: `n`, every bound, every category list, the groups",
                "# and the dropped columns below were computed from its rows, so they are",
                "# NOT public yet. Replace each value marked 'inferred' with a public one.",
            ]
        lines += ["", f"version = {SCHEMA_VERSION}", "",
                  "# Public number of data rows of the file (test, validation and training",
                  "# rows): the sampling rate and the number of steps derive from it."]
        if src:
            lines.append(f"# inferred: the rows counted in {src}; use a published count.")
        lines += [f"n = {self.n}", "", "[label]", f"column = {string(self.label)}",
                  f"values = {array(self.label_values)}", f"positive = {string(self.positive)}",
                  "", "# The sensitive attribute; also a model input, one-hot over its groups.",
                  "# A row whose value is not a declared group is refused."]
        if src:
            lines.append(f"# inferred: the groups present in {src}.")
        lines += ["[sensitive]", f"column = {string(self.sensitive)}",
                  f"groups = {array(self.groups)}"]
        if self.ignore:
            lines += ["", "# Columns left out, each with its reason.", "[ignore]"]
            lines += [f"{key(c)} = {string(reason)}" for c, reason in self.ignore]
        if self.features:
            lines += ["", "# Features, in encoding order."]
        for f in self.features:
            lines.append("")
            if isinstance(f, NumericFeature):
                if src:
                    lines.append(f"# inferred: lo and hi are the minimum and maximum in {src}.")
                lines += [f"[features.{key(f.name)}]", 'type = "numeric"',
                          f"lo = {number(f.lo)}", f"hi = {number(f.hi)}"]
                if f.transform != "identity":
                    lines.append(f"transform = {string(f.transform)}")
            else:
                if src:
                    lines.append(f"# inferred: the values present in {src}; list every "
                                 "public value.")
                lines += [f"[features.{key(f.name)}]", 'type = "categorical"',
                          f"categories = {array(f.categories)}"]
            if f.description:
                lines.append(f"description = {string(f.description)}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<string>") -> Schema:
        """Parse a schema written in TOML (the layout of ``to_toml``).

        Args:
            text: The TOML text.
            source: Where it comes from, for error messages.

        Raises:
            ConfigError: One line naming the source, the key and what is accepted.
        """
        where = f"schema {source}"
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where} is not valid TOML ({exc}).") from None
        try:
            return cls(**schema_toml.parse(data))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def load_schema(path: str | PathLike[str]) -> Schema:
    """Read a schema from a TOML file (see ``Schema.to_toml`` for the layout).

    Args:
        path: The TOML file.

    Returns:
        The Schema.

    Raises:
        ConfigError: If the file is missing or unreadable, is not valid TOML, or
            a key is unknown, missing or holds a value that is not accepted
            (one line naming the key and what is accepted).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"schema file {str(p)!r} does not exist; give the path of a TOML schema (one "
            "can be written with infer_schema(...).to_toml())."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"schema file {str(p)!r} cannot be read as UTF-8 text ({exc}).") from None
    return Schema.from_toml(text, source=f"file {str(p)!r}")


def infer_schema(
    path: str | PathLike[str],
    *,
    label: str,
    sensitive: str,
    positive: str | None = None,
    ignore: Sequence[str] = (),
    min_group_size: int = 30,
    min_rows: int = 50,
) -> Schema:
    """Infer a schema from a user's file, for the user to review, edit and declare.

    The same inference (and the same checks) as ``load_user_data`` without a
    schema: the row count ``n``, the bounds, the category lists, the groups and
    which columns are constant are all read from the rows, so they are *not*
    public until the user has reviewed them and replaced what is not
    (``to_toml`` writes a commented file saying so).

    Args:
        path: The file (CSV/TSV/Parquet; see ``load_user_data``).
        label: The label column (exactly two values).
        sensitive: The sensitive-attribute column (at least two groups).
        positive: The label value encoded as 1 (see ``load_user_data``).
        ignore: Columns to leave out altogether.
        min_group_size: Fewest rows any sensitive group may have in the file.
        min_rows: Fewest data rows the file may have.

    Returns:
        The inferred Schema; ``inferred_from`` names the file.

    Raises:
        ConfigError: For a bad argument, unknown column name or positive label.
        DataError: For a bad file or bad cells (see ``load_user_data``).
    """
    card, frame = infer_card(
        path, label=label, sensitive=sensitive, positive=positive,
        min_group_size=min_group_size, min_rows=min_rows, ignore=ignore,
    )
    return Schema(
        label=label,
        label_values=card.label_values,
        positive=card.positive_label,
        sensitive=sensitive,
        groups=card.group_names(sensitive),
        features=tuple(replace(f, description="") for f in card.features if f.name != sensitive),
        ignore=card.dropped,
        n=len(frame),
        inferred_from=Path(path).name,
    )
