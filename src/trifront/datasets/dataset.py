"""The records a loaded data set is made of: ``Split`` and ``Dataset``."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np

from trifront.datasets.card import DatasetCard
from trifront.errors import DataError


@dataclass(frozen=True, eq=False)
class Split:
    """One split of encoded rows.

    Attributes:
        X: ``n x d`` float32 features, each in [0, 1].
        y: ``n`` int64 labels in {0, 1}; 1 is the card's positive label.
        s: ``n`` int64 group indices in ``[0, n_groups)`` of the dataset's
            sensitive attribute.
    """

    X: np.ndarray
    y: np.ndarray
    s: np.ndarray

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.X.dtype != np.float32:
            raise DataError(
                f"`X` must be a 2-D float32 array, but got ndim={self.X.ndim}, "
                f"dtype={self.X.dtype}."
            )
        for name, arr in (("y", self.y), ("s", self.s)):
            if arr.ndim != 1 or arr.dtype != np.int64 or len(arr) != len(self.X):
                raise DataError(
                    f"`{name}` must be a 1-D int64 array with one entry per row of X "
                    f"(n={len(self.X)}), but got shape={arr.shape}, dtype={arr.dtype}."
                )

    def __len__(self) -> int:
        """Number of rows ``n``."""
        return len(self.y)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set ready for training: card, three encoded splits, and their meaning.

    Attributes:
        card: The dataset card (provenance and public schema).
        train: Training rows (the only rows DP-SGD and its accountant see).
        val: Validation rows (what the search optimises on).
        test: Test rows (what the report re-evaluates on; never searched on).
        feature_names: Name of each of the ``d`` columns of ``X``.
        sensitive: The sensitive attribute ``s`` encodes.
        group_names: ``group_names[k]`` is the name of group ``s == k``.
        seed: The seed that drew the validation rows.
        val_fraction: Fraction of the non-test rows held out for validation.
        test_fraction: Fraction of the file's rows carved as the test split, or
            None when the data set ships its own test file.
        n_train_public: The public number of training rows: the card's public
            row count (``card.n_rows``) split by the same arithmetic and
            fractions as the rows themselves, so it never depends on the
            private rows. DP-SGD's sampling rate ``q = batch_size /
            n_train_public``, its number of steps and the check
            ``delta < 1/n`` use it (DESIGN.md privacy rule 8); Poisson sampling
            still runs over the actual ``train`` rows.
        schema_from_data: True if the encoding or the row count was taken from
            the rows (a user file loaded without a schema, or a card without
            ``n_rows``): the reported epsilon does not cover that, and every
            output must say so.
        inputs: The raw feature columns ``X`` encodes, in card order (None:
            every feature of the card). Set by :meth:`without_sensitive_inputs`.
    """

    card: DatasetCard
    train: Split
    val: Split
    test: Split
    feature_names: tuple[str, ...]
    sensitive: str
    group_names: tuple[str, ...]
    seed: int
    val_fraction: float
    n_train_public: int
    schema_from_data: bool
    test_fraction: float | None = None
    inputs: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n = self.n_train_public
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise DataError(
                f"`n_train_public` must be an integer >= 1, but got n_train_public={n!r}."
            )
        d = len(self.feature_names)
        for name, split in (("train", self.train), ("val", self.val), ("test", self.test)):
            if split.X.shape[1] != d:
                raise DataError(
                    f"every split must have one column per feature name (d={d}), but "
                    f"{name} has {split.X.shape[1]}."
                )

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The raw feature columns the model reads (``X`` encodes them)."""
        return self.inputs if self.inputs is not None else tuple(
            f.name for f in self.card.features)

    @property
    def sensitive_columns(self) -> tuple[str, ...]:
        """The raw columns the sensitive attribute's groups come from."""
        return self.card.sensitive_parts(self.sensitive)

    def without_sensitive_inputs(self) -> Dataset:
        """The same rows with the sensitive attribute's columns removed from ``X``.

        The model then cannot read the sensitive attribute; ``s`` (the groups
        the gap and the knobs' privatised statistics use) is unchanged. A pure
        column selection by the public schema: no statistic of the rows.
        """
        drop = set(self.sensitive_columns)
        keep_features = tuple(c for c in self.input_columns if c not in drop)
        keep = np.array([j for j, f in enumerate(self._column_features())
                         if f not in drop], dtype=np.int64)

        def cut(part: Split) -> Split:
            return Split(X=np.ascontiguousarray(part.X[:, keep]), y=part.y, s=part.s)

        return dataclasses.replace(
            self, train=cut(self.train), val=cut(self.val), test=cut(self.test),
            feature_names=tuple(self.feature_names[j] for j in keep), inputs=keep_features)

    def _column_features(self) -> list[str]:
        """The raw feature each column of ``X`` encodes."""
        return [f.name for name in self.input_columns
                for f in [self.card.feature(name)] for _ in f.column_names]

    @property
    def n_features(self) -> int:
        """Number of feature columns ``d``."""
        return len(self.feature_names)

    @property
    def n_train(self) -> int:
        """Number of training rows actually held; private (use ``n_train_public`` for q, T, δ)."""
        return len(self.train)

    @property
    def n_groups(self) -> int:
        """Number of groups of the sensitive attribute."""
        return len(self.group_names)

    @property
    def majority_rate(self) -> float:
        """Validation accuracy of the constant majority-class predictor.

        The majority class is chosen on the validation split itself, so this is
        the best accuracy any constant predictor reaches there: the floor of the
        utility axis.
        """
        p = float(self.val.y.mean())
        return max(p, 1.0 - p)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.card.name!r}, sensitive={self.sensitive!r}, "
            f"n_train={self.n_train}, n_val={len(self.val)}, n_test={len(self.test)}, "
            f"d={self.n_features}, seed={self.seed}, n_train_public={self.n_train_public}"
            + (", schema_from_data=True)" if self.schema_from_data else ")")
        )
