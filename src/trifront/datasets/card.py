"""Dataset cards: what a data set is, where it comes from, and its public schema.

A card is the only thing the feature encoder may read besides the rows it
encodes (DESIGN.md privacy rule 4): category lists and scaling bounds come from
public documentation, written down here, never from statistics of the training
rows. A card is a frozen record validated on construction, so a malformed card
fails when its module is imported, not half-way through a study.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trifront.errors import ConfigError, unknown_name

INTERSECTION = "*"
"""Joins sensitive attributes into intersectional groups: ``"sex*race"``."""

# Public, monotone transforms a numeric feature may declare. Each maps the
# clipped raw value before it is scaled to [0, 1].
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": np.asarray,
    "log1p": np.log1p,
}


@dataclass(frozen=True)
class NumericFeature:
    """A numeric feature with public bounds.

    Encoding: clip the raw value to ``[lo, hi]``, apply ``transform``, then
    scale linearly so that ``lo`` maps to 0 and ``hi`` to 1. The encoded column
    is named ``name``.

    Attributes:
        name: Column name in the raw file.
        lo: Public lower bound, in raw units.
        hi: Public upper bound, in raw units.
        transform: Name of a monotone transform in ``TRANSFORMS``.
        description: Where the bounds come from and what the column means.
    """

    name: str
    lo: float
    hi: float
    transform: str = "identity"
    description: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise ConfigError(
                f"`lo < hi` (both finite) must hold for numeric feature {self.name!r}, "
                f"but got (lo={self.lo}, hi={self.hi})."
            )
        if self.transform not in TRANSFORMS:
            raise unknown_name("transform", self.transform, TRANSFORMS)
        if self.transform == "log1p" and self.lo <= -1:
            raise ConfigError(
                f"`lo > -1` must hold for the log1p transform of {self.name!r}, "
                f"but got lo={self.lo}."
            )

    @property
    def column_names(self) -> tuple[str, ...]:
        """Names of the encoded columns (one)."""
        return (self.name,)


@dataclass(frozen=True)
class CategoricalFeature:
    """A categorical feature with its full, public category list.

    Encoding: one-hot over ``categories`` in the listed order, one column per
    category named ``"{name}={category}"``. A missing value (one of the card's
    ``missing_values``) encodes as all zeros; any other value not in the list
    is a DataError.

    Attributes:
        name: Column name in the raw file.
        categories: Every category, in a fixed documented order.
        description: Where the list comes from and what the column means.
    """

    name: str
    categories: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.categories:
            raise ConfigError(
                f"a categorical feature needs at least one category, but {self.name!r} "
                "has none."
            )
        duplicated = sorted({c for c in self.categories if self.categories.count(c) > 1})
        if duplicated:
            raise ConfigError(
                f"categories of {self.name!r} must be unique, but got duplicates {duplicated}."
            )

    @property
    def column_names(self) -> tuple[str, ...]:
        """Names of the encoded columns, one per category."""
        return tuple(f"{self.name}={c}" for c in self.categories)


Feature = NumericFeature | CategoricalFeature


@dataclass(frozen=True)
class DatasetCard:
    """Everything public about a data set: provenance, task and schema.

    Attributes:
        name: Registry name (``"adult"``).
        title: Human-readable title.
        description: What one row is and what is predicted.
        source: Where the bundled bytes come from.
        licence: Licence of the data.
        citation: How to cite the data set.
        columns: Every column of the raw file, in file order.
        label: The label column.
        label_values: Every value of the label column.
        positive_label: The value encoded as ``y = 1``.
        sensitive_attributes: Columns usable as the sensitive attribute, each a
            categorical feature; the first is the default. Group ``k`` is the
            ``k``-th category of that feature.
        features: The public schema, in encoding order.
        dropped: ``(column, reason)`` for each raw column that is neither the
            label nor a feature.
        missing_values: Raw strings that mean "unknown".
        notes: Further facts a user should know (e.g. that the model sees the
            sensitive attribute).
        n_rows: Public row count: how many rows the pool the loader splits
            holds (the training file when the data set ships a test file, else
            every row, the fixed test split included), as published by the data
            set's documentation or declared in the user's schema. DP-SGD's
            sampling rate and number of steps derive from it and the split
            fractions, never from counting the private rows (DESIGN.md privacy
            rule 8). None: no public count; the loader then counts the rows and
            flags the data set (``Dataset.schema_from_data``).
    """

    name: str
    title: str
    description: str
    source: str
    licence: str
    citation: str
    columns: tuple[str, ...]
    label: str
    label_values: tuple[str, ...]
    positive_label: str
    sensitive_attributes: tuple[str, ...]
    features: tuple[Feature, ...]
    dropped: tuple[tuple[str, str], ...] = ()
    missing_values: tuple[str, ...] = ("?",)
    notes: tuple[str, ...] = field(default=())
    n_rows: int | None = None

    def __post_init__(self) -> None:
        n = self.n_rows
        if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
            raise ConfigError(
                f"`n_rows` must be None or an integer >= 1 (the public row count), but got "
                f"n_rows={n!r} (card {self.name!r})."
            )
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ConfigError(f"feature names must be unique, but card {self.name!r} has {names}.")
        dropped = [c for c, _ in self.dropped]
        accounted = [*names, self.label, *dropped]
        unknown = [c for c in accounted if c not in self.columns]
        if unknown:
            raise ConfigError(
                f"every feature, label and dropped column must be one of the card's columns, "
                f"but {unknown} are not in {list(self.columns)} (card {self.name!r})."
            )
        unaccounted = [c for c in self.columns if c not in accounted]
        if unaccounted or len(accounted) != len(set(accounted)):
            raise ConfigError(
                "each raw column must be exactly one of: a feature, the label, or dropped "
                f"with a reason; card {self.name!r} leaves {unaccounted} unaccounted and "
                f"lists {sorted({c for c in accounted if accounted.count(c) > 1})} twice."
            )
        if len(self.label_values) != 2 or self.positive_label not in self.label_values:
            raise ConfigError(
                "`label_values` must hold exactly two values, one of them `positive_label`, "
                f"but got label_values={self.label_values}, positive_label="
                f"{self.positive_label!r} (card {self.name!r})."
            )
        if not self.sensitive_attributes:
            raise ConfigError(f"card {self.name!r} must name at least one sensitive attribute.")
        categorical = {f.name for f in self.features if isinstance(f, CategoricalFeature)}
        bad = [a for a in self.sensitive_attributes if a not in categorical]
        if bad:
            raise ConfigError(
                f"sensitive attributes must be categorical features, but {bad} are not; "
                f"categorical features of card {self.name!r}: {sorted(categorical)}."
            )

    # ------------------------------------------------------------------ views
    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the encoded columns, in order (``d`` of them)."""
        return tuple(name for f in self.features for name in f.column_names)

    @property
    def n_features(self) -> int:
        """Number of encoded columns ``d``."""
        return len(self.feature_names)

    def feature(self, name: str) -> Feature:
        """Return the schema entry of a raw feature column.

        Raises:
            ConfigError: If ``name`` is not a feature of this card.
        """
        for f in self.features:
            if f.name == name:
                return f
        accepted = [f.name for f in self.features]
        raise unknown_name(f"feature of dataset {self.name!r}", name, accepted)

    def sensitive_parts(self, sensitive: str) -> tuple[str, ...]:
        """The sensitive attributes a (possibly intersectional) name is made of.

        ``"sex"`` is ``("sex",)``; ``"sex*race"`` is ``("sex", "race")``: one
        group per combination (intersectional fairness). Each part must be one
        of ``sensitive_attributes``, used once.

        Raises:
            ConfigError: If a part is not a sensitive attribute, or repeats.
        """
        parts = tuple(p.strip() for p in str(sensitive).split(INTERSECTION))
        accepted = [*self.sensitive_attributes]
        if len(self.sensitive_attributes) > 1:
            accepted.append(INTERSECTION.join(self.sensitive_attributes[:2]))
        for part in parts:
            if part not in self.sensitive_attributes:
                raise unknown_name("sensitive attribute", str(sensitive), accepted)
        if len(set(parts)) != len(parts):
            raise ConfigError(
                f"an intersectional sensitive attribute uses each attribute once, but got "
                f"{sensitive!r}; accepted: {', '.join(accepted)}."
            )
        return parts

    def group_names(self, sensitive: str) -> tuple[str, ...]:
        """Group names of a sensitive attribute; group ``k`` is ``group_names[k]``.

        For an intersection (``"sex*race"``) the groups are every combination,
        the first attribute varying slowest: ``"Female*White"``, ...

        Raises:
            ConfigError: If ``sensitive`` is not one of ``sensitive_attributes``
                or an intersection of them.
        """
        names: tuple[str, ...] = ("",)
        for part in self.sensitive_parts(sensitive):
            feat = self.feature(part)
            assert isinstance(feat, CategoricalFeature)  # guaranteed by __post_init__
            names = tuple(
                f"{a}{INTERSECTION}{b}" if a else b for a in names for b in feat.categories
            )
        return names

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable) for reports and exports."""
        out = dataclasses.asdict(self)
        out["features"] = [
            {"kind": "numeric" if isinstance(f, NumericFeature) else "categorical",
             **dataclasses.asdict(f)}
            for f in self.features
        ]
        out["n_features"] = self.n_features
        return out

    def to_markdown(self) -> str:
        """A readable description: provenance, task, schema, dropped columns, notes."""
        negative = next(v for v in self.label_values if v != self.positive_label)
        lines = [
            f"# {self.title} (`{self.name}`)",
            "",
            self.description,
            "",
            f"- **Source:** {self.source}",
            f"- **Licence:** {self.licence}",
            f"- **Citation:** {self.citation}",
            f"- **Label:** `{self.label}`: `{self.positive_label}` -> 1, `{negative}` -> 0",
            "- **Sensitive attributes:** "
            + ", ".join(
                f"`{a}` (groups 0..{len(self.group_names(a)) - 1}: "
                + ", ".join(self.group_names(a))
                + ")" + (" *default*" if i == 0 else "")
                for i, a in enumerate(self.sensitive_attributes)
            )
            + (
                f"; intersections with `{INTERSECTION}`, e.g. "
                f"`{INTERSECTION.join(self.sensitive_attributes[:2])}`"
                if len(self.sensitive_attributes) > 1 else ""
            ),
            f"- **Missing values:** {', '.join(repr(m) for m in self.missing_values)} "
            "(categorical: all-zero one-hot; numeric: not allowed)",
            f"- **Encoded features:** {self.n_features}",
            "- **Public row count:** "
            + (
                f"{self.n_rows:,} rows to split (q and the DP-SGD steps derive from it)"
                if self.n_rows is not None
                else "none published; the rows are counted, and reports flag it"
            ),
            "",
            "## Public schema",
            "",
            "| feature | kind | public schema | encoding | notes |",
            "|---|---|---|---|---|",
        ]
        for f in self.features:
            if isinstance(f, NumericFeature):
                t = "" if f.transform == "identity" else f"{f.transform}, "
                lines.append(
                    f"| `{f.name}` | numeric | [{f.lo:g}, {f.hi:g}] | "
                    f"clip, {t}scale to [0, 1] | {f.description} |"
                )
            else:
                lines.append(
                    f"| `{f.name}` | categorical | {len(f.categories)} categories: "
                    f"{', '.join(f.categories)} | one-hot | {f.description} |"
                )
        if self.dropped:
            lines += ["", "## Dropped columns", ""]
            lines += [f"- `{c}`: {reason}" for c, reason in self.dropped]
        if self.notes:
            lines += ["", "## Notes", ""]
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"
