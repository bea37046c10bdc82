"""The exported encoder: a model's public schema, and raw rows turned into its inputs.

The encoder is the schema the model was trained with, nothing else: the
bundled data set's card, or the card built from the user's declared schema
(or, flagged ``schema_from_data``, the one inferred from the rows). It keeps
only what encoding needs (feature types, bounds, category lists, the label and
the sensitive attribute's groups), never the card's provenance, which for an
inferred card names the private file's sha256. Encoding goes through
:mod:`trifront.datasets.encoding`, the functions training used, so the
exported model sees exactly the values it was trained and scored on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trifront.datasets import (
    CategoricalFeature,
    Dataset,
    DatasetCard,
    NumericFeature,
    encode_features,
    encode_groups,
    encode_labels,
)
from trifront.datasets.card import Feature
from trifront.datasets.encoding import to_other
from trifront.datasets.schema import OTHER
from trifront.datasets.userfile import MISSING_MARKERS
from trifront.deploy.layout import ModelDirError
from trifront.errors import ConfigError, DataError

__all__ = ["ENCODER_FORMAT", "Encoder"]

ENCODER_FORMAT = "trifront-encoder"
_VERSION = 1
#: ``unlisted`` of a categorical feature whose list has no ``OTHER`` level.
_REFUSE = "error"


@dataclass(frozen=True, eq=False)
class Encoder:
    """A model's public schema: which raw columns it reads and how it encodes them.

    Attributes:
        card: The public schema as a card (features, label, sensitive attributes;
            no provenance).
        sensitive: The sensitive attribute the fairness gap and group thresholds
            use (an intersection such as ``"sex*race"`` allowed).
        inputs: The raw feature columns the model reads, in card order (None:
            every feature of the card; a model trained with
            ``sensitive_input=False`` does not read the sensitive columns).
    """

    card: DatasetCard
    sensitive: str
    inputs: tuple[str, ...] | None = None

    @classmethod
    def of(cls, ds: Dataset) -> Encoder:
        """The encoder of a loaded data set (its card's public schema, its inputs)."""
        return cls(card=ds.card, sensitive=ds.sensitive, inputs=ds.inputs)

    # ------------------------------------------------------------------ views
    @property
    def group_names(self) -> tuple[str, ...]:
        """Group ``k`` of the sensitive attribute is ``group_names[k]``."""
        return self.card.group_names(self.sensitive)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the encoded columns (the model's inputs), in order."""
        return tuple(name for c in self.feature_columns
                     for name in self.card.feature(c).column_names)

    @property
    def n_features(self) -> int:
        """Encoded columns ``d`` (the model's input width)."""
        return len(self.feature_names)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """The raw columns the model's inputs are encoded from."""
        if self.inputs is not None:
            return self.inputs
        return tuple(f.name for f in self.card.features)

    @property
    def sensitive_columns(self) -> tuple[str, ...]:
        """The raw columns the sensitive attribute (its groups) is read from."""
        return self.card.sensitive_parts(self.sensitive)

    @property
    def sensitive_is_input(self) -> bool:
        """Whether a sensitive column is also a model input (a feature)."""
        return any(c in self.feature_columns for c in self.sensitive_columns)

    # --------------------------------------------------------------- encoding
    def check_columns(self, frame: pd.DataFrame, needed: Sequence[str], *, source: str) -> None:
        """Refuse rows that lack a column the model needs.

        Raises:
            DataError: Naming the first missing column (and how many more).
        """
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            more = f" (and {len(missing) - 1} more: {missing[1:]})" if len(missing) > 1 else ""
            raise DataError(
                f"column {missing[0]!r}, which the model's schema needs, is missing from "
                f"{source}{more}; needed: {', '.join(needed)}."
            )

    def features(self, frame: pd.DataFrame, *, source: str = "the rows") -> np.ndarray:
        """Encode raw rows into the model's ``n x d`` float32 inputs.

        A categorical value outside a declared schema's list encodes as its
        ``OTHER`` level; outside a bundled card's list it is refused.

        Raises:
            DataError: A missing column, a value outside the schema, an empty
                cell where the schema declares no missing value, or junk in a
                numeric column (naming the column).
        """
        self.check_columns(frame, self.feature_columns, source=source)
        mapped: dict[str, pd.Series] = {}
        for f in self.card.features:
            if f.name not in self.feature_columns:
                continue
            if isinstance(f, CategoricalFeature) and OTHER in f.categories:
                values = frame[f.name].astype(str).str.strip()
                empty = values.str.lower().isin(MISSING_MARKERS).to_numpy()
                if empty.any():
                    raise DataError(
                        f"column {f.name!r} of {source} has {int(empty.sum())} empty or NaN "
                        f"cells (the first at data row {int(np.flatnonzero(empty)[0]) + 1}); "
                        "the schema declares no missing value."
                    )
                mapped[f.name] = to_other(values, f.categories, other=OTHER)
        if mapped:
            frame = frame.assign(**mapped)
        return encode_features(frame, self.card, inputs=self.inputs)

    def labels(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The true labels (1 = the positive value) when the rows have the label column."""
        if self.card.label not in frame.columns:
            return None
        return encode_labels(frame, self.card)

    def has_groups(self, frame: pd.DataFrame) -> bool:
        """Whether the rows carry every column of the sensitive attribute."""
        return all(c in frame.columns for c in self.sensitive_columns)

    def groups(self, frame: pd.DataFrame, *, source: str = "the rows") -> np.ndarray:
        """Group indices of the rows (the sensitive attribute must be known for each).

        Raises:
            DataError: If a sensitive column is missing, or a value is not a group.
        """
        self.check_columns(frame, self.sensitive_columns, source=source)
        return encode_groups(frame, self.card, self.sensitive)

    # --------------------------------------------------------------- storage
    def to_dict(self) -> dict[str, Any]:
        """``encoder.json``: the public schema, plain data."""
        card = self.card
        return {
            "format": ENCODER_FORMAT,
            "version": _VERSION,
            "dataset": card.name,
            "label": card.label,
            "label_values": list(card.label_values),
            "positive_label": card.positive_label,
            "sensitive": self.sensitive,
            "sensitive_attributes": list(card.sensitive_attributes),
            "group_names": list(self.group_names),
            "missing_values": list(card.missing_values),
            "features": [_feature_dict(f) for f in card.features],
            "inputs": list(self.feature_columns),
            "feature_names": list(self.feature_names),
            "n_features": self.n_features,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Encoder:
        """Rebuild the encoder of ``encoder.json``, checking it is consistent.

        Raises:
            ModelDirError: If a key is missing or the schema does not hold together.
        """
        where = "encoder.json"
        if data.get("format") != ENCODER_FORMAT or data.get("version") != _VERSION:
            raise ModelDirError(
                f"{where} must be format {ENCODER_FORMAT!r} version {_VERSION}, but got "
                f"{data.get('format')!r} version {data.get('version')!r}."
            )
        try:
            features = tuple(_feature_of(f) for f in data["features"])
            label = str(data["label"])
            card = DatasetCard(
                name=str(data["dataset"]), title=str(data["dataset"]),
                description="the public schema of an exported model", source="",
                licence="", citation="", columns=(*(f.name for f in features), label),
                label=label, label_values=tuple(data["label_values"]),
                positive_label=str(data["positive_label"]),
                sensitive_attributes=tuple(data["sensitive_attributes"]),
                features=features, missing_values=tuple(data["missing_values"]),
            )
            every = tuple(f.name for f in features)
            listed = [str(c) for c in data.get("inputs", every)]
            unknown = [c for c in listed if c not in every]
            if unknown:
                raise ValueError(f"its inputs {unknown} are not features")
            inputs = tuple(c for c in every if c in listed)
            encoder = cls(card=card, sensitive=str(data["sensitive"]),
                          inputs=None if inputs == every else inputs)
            groups = encoder.group_names
        except KeyError as exc:
            raise ModelDirError(f"{where} lacks the key {exc.args[0]!r}.") from None
        except (ConfigError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{where} does not hold a valid schema: {exc}") from None
        for key, have in (("feature_names", list(encoder.feature_names)),
                          ("group_names", list(groups)), ("n_features", encoder.n_features)):
            if data.get(key) != have:
                raise ModelDirError(
                    f"{where} is inconsistent: its features give {key}={have!r}, but it "
                    f"records {data.get(key)!r}."
                )
        return encoder


def _feature_dict(f: Feature) -> dict[str, Any]:
    if isinstance(f, NumericFeature):
        return {"kind": "numeric", "name": f.name, "lo": f.lo, "hi": f.hi,
                "transform": f.transform}
    return {"kind": "categorical", "name": f.name, "categories": list(f.categories),
            "unlisted": OTHER if OTHER in f.categories else _REFUSE}


def _feature_of(spec: Mapping[str, Any]) -> Feature:
    kind = spec.get("kind")
    if kind == "numeric":
        return NumericFeature(str(spec["name"]), float(spec["lo"]), float(spec["hi"]),
                              str(spec.get("transform", "identity")))
    if kind == "categorical":
        categories = tuple(str(c) for c in spec["categories"])
        unlisted = spec.get("unlisted", _REFUSE)
        if unlisted not in (OTHER, _REFUSE) or (unlisted == OTHER) != (OTHER in categories):
            raise ConfigError(
                f"feature {spec.get('name')!r}: `unlisted` must be {OTHER!r} exactly when the "
                f"categories end in it, else {_REFUSE!r}, but got {unlisted!r}."
            )
        return CategoricalFeature(str(spec["name"]), categories)
    raise ConfigError(f"feature kind must be 'numeric' or 'categorical', but got {kind!r}.")
