"""What a study optimises (``Problem``) and what one trial returns (``TrialResult``).

``Problem`` is a frozen configuration: data set, model, fairness metric and
privacy setting, validated at construction. The trial pipeline
(:func:`trifront.trial.evaluate`) takes a problem and one set of parameters,
plans the privacy budget, trains with DP-SGD and scores the model into a
``TrialResult``. Nothing here imports the optimiser or the pipeline.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from trifront.datasets import Dataset, list_datasets, load_dataset, load_user_data
from trifront.datasets.folds import fold_dataset, folds_for
from trifront.errors import ConfigError, unknown_name
from trifront.fairness import FAIRNESS_METRICS
from trifront.models import MODELS
from trifront.privacy import ACCOUNTANTS, ENGINES, check_delta
from trifront.space import PARAMETRISATIONS

SPLITS = ("val", "test")
#: ``Problem.dataset`` for a user's own file (``data_file``).
USER_FILE = "file"
#: Models trifront once offered whose privacy proof does not hold, and why.
REMOVED_MODELS: dict[str, str] = {
    "objpert": (
        "model 'objpert' was removed: diffprivlib's objective perturbation breaks its "
        "theorem's preconditions (the data-norm bound enters epsilon linearly instead of "
        "squared, the intercept is unpenalised, the minimiser is not exact), so its epsilon "
        "cannot be proven; accepted: " + ", ".join(MODELS) + " (DP-SGD)."
    ),
}


@dataclass(frozen=True)
class TrialResult:
    """The outcome of one training run, in natural units.

    Attributes:
        accuracy: Accuracy on ``split``.
        epsilon: Epsilon of the whole training run at ``delta`` (``inf`` when
            trained without privacy).
        unfairness: The fairness gap on ``split`` (0 = parity).
        split: ``"val"`` during search, ``"test"`` in a report's re-evaluation.
        fairness_metric: Name of the gap.
        delta: The delta epsilon is stated at.
        accountant: The accountant that produced ``epsilon``.
        epsilon_rdp: The RDP accountant's epsilon for the same run (cross-check;
            never smaller than ``epsilon`` beyond numerical error).
        noise_multiplier: sigma; Gaussian noise of std ``sigma * max_grad_norm``
            is added to each summed gradient.
        max_grad_norm: Per-example clipping norm C (None: no clipping).
        sample_rate: Poisson sampling rate q (from the public row count).
        steps: Number of DP-SGD steps (from the public row count).
        target_epsilon: The searched epsilon, when the epsilon parametrisation
            is used (``epsilon <= target_epsilon`` always).
        engine: The DP-SGD engine.
        seed: The public seed (model initialisation). The noise and sampling
            seed is secret and appears nowhere, unless ``noise_seeded``.
        n_train: The public training-row count q and T come from (the card's
            or the schema's; the file's own count when ``schema_from_data``).
        train_seconds: Wall time of training.
        eval_seconds: Wall time of accounting + evaluation.
        epsilon_sgd: Epsilon of the DP-SGD steps alone (same accountant).
        epsilon_stats: Epsilon of the fairness knobs' privatised statistics
            alone (0.0 when none is released or they are declared public).
            ``epsilon`` is their composition, not the sum.
        public_statistics: True when the knobs' group statistics were declared
            public (exact, *not* counted in ``epsilon``): the user's explicit opt-in.
        noise_seeded: True when the noise and the Poisson sampling were seeded
            from ``seed`` (``reproducible`` research mode): ``epsilon`` then
            holds only while that seed stays secret.
        schema_from_data: True when the encoding (category lists, bounds,
            column types) and the row count were taken from the private rows
            rather than a public schema: ``epsilon`` does not cover them.
        uses_sensitive_at_prediction: True when predictions use per-group
            thresholds: the sensitive attribute is needed at prediction time.
        knob_fair_weight: Effective fair-loss weight lambda (0: off).
        knob_reweigh: Effective reweighing strength alpha (0: off).
        knob_threshold_gap: Target gap of the group thresholds (None: off).
        knob_fair_target: Gap the fair target steered training to (None: off).
        decision_thresholds: Per-group probability thresholds (group order of
            the data set), None without group thresholds.
        stats_share: The share of the target epsilon given to the statistics.
        stats_noise_counts: Noise multiplier of the (group, label) counts (0: none).
        stats_noise_sums: Noise multiplier of each sum release, one per refresh
            of the fair term (0: none).
        stats_noise_histograms: Noise multiplier of the score histograms (0: none).
        account_seconds: Wall time of the privacy accounting (sigma and epsilon).
        tail_average: Share of the last steps whose iterates were averaged into
            the model (0: the last iterate); post-processing, not in epsilon.
        sensitive_input: True when the model reads the sensitive attribute as
            an input (then predicting needs it, thresholds or not).
        cv_folds: Folds the validation score was cross-validated over (1: the
            single validation split).
        accuracy_se: Standard error of ``accuracy`` across the folds (NaN
            without cross-validation).
        unfairness_se: Standard error of ``unfairness`` across the folds.
        confusion: ``[group, label, decision, count]`` rows of the scoring
            (:func:`~trifront.fairness.metrics.confusion_cells`), for pooling
            runs scored on disjoint rows; None for a cross-validated score. Not
            in :meth:`to_dict` (a run's record, not one of its results).
    """

    accuracy: float
    epsilon: float
    unfairness: float
    split: str
    fairness_metric: str
    delta: float
    accountant: str
    epsilon_rdp: float
    noise_multiplier: float
    max_grad_norm: float | None
    sample_rate: float
    steps: int
    target_epsilon: float | None
    engine: str
    seed: int
    n_train: int
    train_seconds: float
    eval_seconds: float
    epsilon_sgd: float = math.nan
    epsilon_stats: float = 0.0
    public_statistics: bool = False
    noise_seeded: bool = False
    schema_from_data: bool = False
    uses_sensitive_at_prediction: bool = False
    knob_fair_weight: float = 0.0
    knob_reweigh: float = 0.0
    knob_threshold_gap: float | None = None
    knob_fair_target: float | None = None
    decision_thresholds: tuple[float, ...] | None = None
    stats_share: float = 0.0
    stats_noise_counts: float = 0.0
    stats_noise_sums: float = 0.0
    stats_noise_histograms: float = 0.0
    account_seconds: float = 0.0
    tail_average: float = 0.0
    sensitive_input: bool = True
    cv_folds: int = 1
    accuracy_se: float = math.nan
    unfairness_se: float = math.nan
    confusion: list[list[int]] | None = field(default=None, compare=False, repr=False)

    @property
    def values(self) -> tuple[float, float, float]:
        """(accuracy, epsilon, unfairness): the three objectives."""
        return (self.accuracy, self.epsilon, self.unfairness)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``inf`` stays a float; JSON writers must allow it)."""
        out = asdict(self)
        del out["confusion"]
        return out


@functools.lru_cache(maxsize=8)
def _cached_dataset(
    name: str,
    seed: int,
    sensitive: str | None,
    data_file: str | None,
    label: str | None,
    positive: str | None,
    schema_file: str | None,
    sensitive_input: bool = True,
) -> Dataset:
    if data_file is not None:
        ds = load_user_data(data_file, label=label, sensitive=sensitive, positive=positive,
                            seed=seed, schema=schema_file)
    else:
        ds = load_dataset(name, seed=seed, sensitive=sensitive)
    return ds if sensitive_input else ds.without_sensitive_inputs()


@functools.lru_cache(maxsize=16)
def _cached_fold(ds: Dataset, fold: int, folds: int) -> Dataset:
    return fold_dataset(ds, fold=fold, folds=folds)


#: The validation fraction every split of a problem uses (the loaders' default).
VAL_FRACTION = 0.2


@dataclass(frozen=True)
class Problem:
    """What a study optimises: data, model, fairness metric and privacy setting.

    Attributes:
        dataset: A bundled data set name (see ``trifront.datasets.list_datasets``),
            or ``"file"`` with ``data_file`` set.
        model: ``"logreg"`` or ``"mlp"`` (DP-SGD).
        sensitive: Sensitive attribute (None: the card's or the schema's default).
        fairness: Fairness gap (see ``trifront.fairness.FAIRNESS_METRICS``).
        delta: The delta of (epsilon, delta)-DP; must be below 1/n_train.
        engine: DP-SGD engine, ``"fast"`` or ``"opacus"``.
        accountant: Accountant epsilon is reported with.
        parametrisation: ``"epsilon"`` (search target epsilon) or ``"noise"``.
        data_seed: Seed of the train/validation split.
        data_file: A user's CSV or Parquet file (with ``dataset="file"``).
        label: The label column of ``data_file`` (None: the schema's).
        positive: The positive label value of ``data_file`` (None: the
            schema's, or inferred when evident, e.g. 0/1).
        schema_file: A TOML schema of ``data_file`` (``trifront schema``): the
            encoding and the public row count come from it alone. Without one
            they come from the rows (flagged ``schema_from_data``).
        stats_share: Share of the privacy budget given to the fairness knobs'
            statistics, in ``(0, 1)``: with the epsilon parametrisation they
            get noise such that they *alone* spend ``stats_share * target``,
            and sigma is solved for what is left of the composed target; with
            the noise parametrisation they alone spend
            ``stats_share / (1 - stats_share) * epsilon_sgd``. Unused when no
            knob releases a statistic.
        public_statistics: Declare the knobs' group statistics public: exact
            values, not counted in epsilon, flagged in every result. Explicit
            opt-in only; the result then is *not* DP for those statistics.
        allow_group_thresholds: False forbids per-group decision thresholds
            (they need the sensitive attribute at prediction time).
        reproducible: Seed the noise and the Poisson sampling from the trial's
            public seed (research and tests). Off by default: each run draws
            them from the operating system and never stores the seed.
        sensitive_input: Whether the model reads the sensitive attribute's
            columns as inputs. False removes them from the model's inputs
            (``Dataset.without_sensitive_inputs``): the groups still define
            the gap and the knobs' privatised statistics, and a model without
            group thresholds then needs no sensitive attribute to predict.
        tail_average: Share in ``[0, 1]`` of each run's last DP-SGD steps whose
            iterates are averaged into the trained model (0: the last
            iterate). Post-processing of the noisy updates: no privacy cost.
            Studies stored before this setting existed read as 0.
        cv_folds: Score a trial on the validation split by k-fold
            cross-validation over the non-test rows (1: the single split; else
            ``datasets.folds.folds_for(val_fraction)``, 5). For small data sets.
        fold: The fold whose rows :meth:`data` holds out as validation (set
            by the cross-validation of one trial; None: the standard split).
    """

    dataset: str = "adult"
    model: str = "logreg"
    sensitive: str | None = None
    fairness: str = "demographic_parity"
    delta: float = 1e-5
    engine: str = "fast"
    accountant: str = "pld"
    parametrisation: str = "epsilon"
    data_seed: int = 0
    data_file: str | None = None
    label: str | None = None
    positive: str | None = None
    schema_file: str | None = None
    stats_share: float = 0.5
    public_statistics: bool = False
    allow_group_thresholds: bool = True
    reproducible: bool = False
    sensitive_input: bool = True
    tail_average: float = 0.5
    cv_folds: int = 1
    fold: int | None = None

    def __post_init__(self) -> None:
        if self.data_file is not None:
            if self.dataset != USER_FILE:
                raise ConfigError(
                    f"a data file needs dataset={USER_FILE!r}, but got dataset={self.dataset!r}."
                )
            if self.schema_file is None and (self.label is None or self.sensitive is None):
                raise ConfigError(
                    "a user data file needs its label column (--label) and its sensitive "
                    "column (--sensitive), or a schema (--schema) that declares them."
                )
        elif self.dataset not in list_datasets():
            raise unknown_name("dataset", self.dataset, list_datasets())
        elif self.schema_file is not None:
            raise ConfigError("a schema (--schema) applies to a user data file (--data) only.")
        if self.model in REMOVED_MODELS:
            raise ConfigError(REMOVED_MODELS[self.model])
        if self.model not in MODELS:
            raise unknown_name("model", self.model, MODELS)
        if self.fairness not in FAIRNESS_METRICS:
            raise unknown_name("fairness metric", self.fairness, FAIRNESS_METRICS)
        if self.engine not in ENGINES:
            raise unknown_name("engine", self.engine, ENGINES)
        if self.accountant not in ACCOUNTANTS:
            raise unknown_name("accountant", self.accountant, ACCOUNTANTS)
        if self.parametrisation not in PARAMETRISATIONS:
            raise unknown_name("parametrisation", self.parametrisation, PARAMETRISATIONS)
        if not (isinstance(self.delta, float | int) and 0 < self.delta < 1):
            raise ConfigError(f"`0 < delta < 1` must hold, but got delta={self.delta}.")
        if not (isinstance(self.stats_share, float | int) and 0 < self.stats_share < 1):
            raise ConfigError(
                f"`0 < stats_share < 1` must hold, but got stats_share={self.stats_share}."
            )
        if not isinstance(self.sensitive_input, bool):
            raise ConfigError(
                f"`sensitive_input` must be true or false, but got {self.sensitive_input!r}."
            )
        if not (isinstance(self.tail_average, float | int)
                and not isinstance(self.tail_average, bool) and 0 <= self.tail_average <= 1):
            raise ConfigError(
                f"`0 <= tail_average <= 1` must hold, but got tail_average={self.tail_average!r}."
            )
        if self.cv_folds != 1 and self.cv_folds != folds_for(VAL_FRACTION):
            raise ConfigError(
                f"cv_folds must be 1 (one validation split) or {folds_for(VAL_FRACTION)} (folds "
                f"as large as the training split), but got cv_folds={self.cv_folds!r}."
            )
        if self.fold is not None and not (self.cv_folds > 1 and 0 <= self.fold < self.cv_folds):
            raise ConfigError(f"fold={self.fold!r} needs cv_folds > fold, got {self.cv_folds}.")

    def data(self) -> Dataset:
        """The encoded data set (cached per process); with ``fold``, that fold's split."""
        ds = _cached_dataset(
            self.dataset, self.data_seed, self.sensitive, self.data_file, self.label,
            self.positive, self.schema_file, bool(self.sensitive_input),
        )
        if self.fold is None:
            return ds
        return _cached_fold(ds, self.fold, self.cv_folds)

    def validate(self) -> Dataset:
        """Load the data and check the settings that depend on it (delta < 1/n).

        ``n`` is the public training-row count, as everything the privacy
        schedule depends on (DESIGN.md privacy rule 8).
        """
        ds = self.data()
        check_delta(delta=self.delta, n_train=ds.n_train_public)
        return ds
