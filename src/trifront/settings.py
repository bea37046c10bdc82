"""One settings model for a run: CLI flags, TOML files and the Python API build it.

Every setting of ``trifront run`` is a field of :class:`Settings`, named after
its long flag (``--focus-unfairness`` is ``focus_unfairness``), with its
default written here and nowhere else. A TOML config file uses the same keys::

    dataset = "adult"
    model = "logreg"
    trials = 40
    storage = "sqlite:///adult.db"
    study = "adult-logreg"
    out = "adult-report"
    delta = 1e-5

    [space.target_epsilon]
    low = 0.1
    high = 5.0

and ``trifront.run(**settings)`` takes them as keyword arguments. Flags given
on the command line override the file.

This module imports no training code: :meth:`Settings.problem` and
:meth:`Settings.search_space` import it when called, so ``trifront --help``
stays fast.
"""

from __future__ import annotations

import math
import numbers
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trifront.errors import ConfigError, unknown_name
from trifront.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    from trifront.problem import Problem
    from trifront.space import SearchSpace

__all__ = ["DEFAULT_STORAGE", "Settings", "load_toml"]

#: The epsilon of every trial of an ``objectives="accuracy,unfairness"`` study
#: when ``max_epsilon`` is not given.
FIXED_EPSILON = 1.0

#: Keyword aliases of the Python API (Optuna's names) -> settings keys.
ALIASES = {"n_trials": "trials", "study_name": "study", "n_startup_trials": "startup_trials"}


@dataclass(frozen=True)
class Settings:
    """Everything one ``trifront run`` is told, validated at construction.

    Attributes:
        dataset: A bundled data set (see ``trifront datasets``).
        data: A user's CSV/TSV/Parquet file instead of ``dataset``.
        label: The label column of ``data`` (default: the schema's).
        positive: The positive label value of ``data``.
        schema: A TOML schema of ``data`` (``trifront schema``): the public
            encoding and row count. Without it they are taken from the rows,
            and every output says so (``schema_from_data``).
        model: ``"logreg"`` or ``"mlp"``.
        fairness: The fairness gap (``demographic_parity``, ...).
        sensitive: Sensitive attribute (default: the card's or the schema's).
        delta: delta of (epsilon, delta)-DP.
        parametrisation: ``"epsilon"`` (search target epsilon) or ``"noise"``.
        engine: DP-SGD engine, ``"fast"`` or ``"opacus"``.
        accountant: The accountant epsilon is reported with.
        data_seed: Seed of the train/validation split (public).
        no_group_thresholds: Forbid per-group decision thresholds.
        public_statistics: Declare the knobs' group statistics public (not
            covered by epsilon; flagged in every output).
        stats_share: Share of the target epsilon the knobs' statistics spend.
        no_sensitive_input: The model does not read the sensitive attribute as
            an input (it still defines the groups of the gap and the knobs).
        tail_average: Share of each run's last DP-SGD steps whose iterates are
            averaged into the model (0: the last iterate; default 0.5).
        reproducible: Seed the DP noise and the Poisson sampling from ``seed``
            (research mode): epsilon then holds only while the seed is secret,
            and every output says ``noise_seeded: true``.
        cv_folds: Score each trial by k-fold cross-validation on the non-test
            rows (5), or on the single validation split (1); None chooses 5
            below ``trifront.crossval.CV_BELOW`` public training rows.
        trials: The study's total number of trials.
        sampler: The optimiser (see ``trifront.search.SAMPLERS``).
        startup_trials: Quasi-random trials before model-based proposals.
        seed: Seed of what is public: initialisation, splits, the sampler.
        max_epsilon: The largest target epsilon searched.
        focus_unfairness: Concentrate the search on configurations fairer than this.
        no_anchors: Do not train the space's default configurations first.
        objectives: The searched objectives: ``accuracy,epsilon,unfairness``
            (the 3-D front), ``accuracy,epsilon`` (DPareto's privacy-utility
            front: the fairness knobs are not searched) or
            ``accuracy,unfairness`` (the fairness-utility front, every trial at
            one epsilon: ``max_epsilon``, default ``FIXED_EPSILON``). The gap
            or epsilon not searched is still measured and shown.
        space: Search-bound overrides, ``{name: {"low": .., "high": ..}}``.
        storage: Optuna storage URL.
        study: Study name (default ``<dataset or file stem>-<model>``).
        out: Output directory of ``trifront run``.
        jobs: Trials in flight in a local process pool (None: one per core).
        dask: A Dask scheduler address or ``local:N``.
        trial_timeout: Seconds before a trial is stopped and recorded FAIL.
        private_tuning: Run a private-tuning study (``trifront.privtune``): one
            (study_epsilon, delta) guarantee for the released model, covering
            the search, the selection and the scores.
        study_epsilon: The whole private-tuning study's epsilon.
        mean_trials: Mean of the secret number of runs of a private-tuning study.
        shape: Its distribution: a number >= 0 (0 logarithmic, 1 geometric) or
            ``logarithmic``, ``geometric``, ``poisson``.
        max_unfairness: The private-tuning selection's gap limit (None: any gap).
        batch_size: A private-tuning study's fixed batch size (None: from the
            public row count).
        epochs: A private-tuning study's fixed epochs (None: from the public row count).
        acknowledge_seeded_noise: Accept ``reproducible`` in a private-tuning
            study (the guarantee is then void; research only).
    """

    dataset: str = "adult"
    data: str | None = None
    label: str | None = None
    positive: str | None = None
    schema: str | None = None
    model: str = "logreg"
    fairness: str = "demographic_parity"
    sensitive: str | None = None
    delta: float = 1e-5
    parametrisation: str = "epsilon"
    engine: str = "fast"
    accountant: str = "pld"
    data_seed: int = 0
    no_group_thresholds: bool = False
    public_statistics: bool = False
    stats_share: float = 0.5
    no_sensitive_input: bool = False
    tail_average: float = 0.5
    reproducible: bool = False
    cv_folds: int | None = None
    trials: int = 24
    sampler: str = "trifront"
    startup_trials: int = 8
    seed: int = 0
    max_epsilon: float | None = None
    focus_unfairness: float | None = None
    no_anchors: bool = False
    objectives: str = "accuracy,epsilon,unfairness"
    space: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    storage: str = DEFAULT_STORAGE
    study: str | None = None
    out: str = "trifront-out"
    jobs: int | None = None
    dask: str | None = None
    trial_timeout: float | None = None
    private_tuning: bool = False
    study_epsilon: float | None = None
    mean_trials: float = 10.0
    shape: float | str = "poisson"
    max_unfairness: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    acknowledge_seeded_noise: bool = False

    def __post_init__(self) -> None:
        _integer("trials", self.trials, lowest=1)
        _integer("startup_trials", self.startup_trials, lowest=1)
        _integer("seed", self.seed, lowest=0)
        _integer("data_seed", self.data_seed, lowest=0)
        if self.jobs is not None:
            _integer("jobs", self.jobs, lowest=1)
        _number("delta", self.delta, low=0.0, high=1.0)
        _number("stats_share", self.stats_share, low=0.0, high=1.0)
        if self.max_epsilon is not None:
            _number("max_epsilon", self.max_epsilon, low=0.0)
            if self.parametrisation != "epsilon":
                raise ConfigError(
                    "max_epsilon bounds the searched target epsilon: it needs "
                    f"parametrisation='epsilon', but got {self.parametrisation!r}."
                )
        if self.focus_unfairness is not None:
            _number("focus_unfairness", self.focus_unfairness, low=0.0, high=1.0,
                    high_inclusive=True)
        self._check_objectives()
        if self.trial_timeout is not None:
            _number("trial_timeout", self.trial_timeout, low=0.0)
        if self.data is None and (self.label, self.positive, self.schema) != (None,) * 3:
            raise ConfigError("label, positive and schema apply to a user file (data) only.")
        if not isinstance(self.space, Mapping):
            raise ConfigError(
                f"space must be a table of bounds {{name: {{low, high}}}}, but got {self.space!r}."
            )
        self._check_private_tuning()
        if self.study is not None and not str(self.study).strip():
            raise ConfigError("the study name must be a non-empty string.")

    def _check_objectives(self) -> None:
        from trifront.objectives import OBJECTIVES, parse_objectives

        searched = parse_objectives(self.objectives)
        if "unfairness" not in searched and self.focus_unfairness is not None:
            raise ConfigError(f"focus_unfairness needs unfairness among the objectives, but got "
                              f"objectives={self.objectives!r}.")
        if "epsilon" not in searched and self.parametrisation != "epsilon":
            raise ConfigError("objectives without epsilon fix every trial's target epsilon: they "
                              f"need parametrisation='epsilon', but got {self.parametrisation!r}.")
        if searched != OBJECTIVES and self.private_tuning:
            raise ConfigError("--private-tuning releases one model chosen by its own rule; "
                              f"--objectives {self.objectives} is not accepted with it.")

    def _check_private_tuning(self) -> None:
        if self.study_epsilon is not None:
            _number("study_epsilon", self.study_epsilon, low=0.0)
        ok_mean = (not isinstance(self.mean_trials, bool)
                   and isinstance(self.mean_trials, numbers.Real)
                   and math.isfinite(float(self.mean_trials)) and float(self.mean_trials) >= 1)
        if not ok_mean:
            raise ConfigError(f"`mean_trials >= 1` must hold, but got "
                              f"mean_trials={self.mean_trials!r}.")
        from trifront.privacy.accounting.repeat import parse_shape

        parse_shape(self.shape)
        if self.max_unfairness is not None:
            _number("max_unfairness", self.max_unfairness, low=0.0, high=1.0,
                    high_inclusive=True)
        for key in ("batch_size", "epochs"):
            if getattr(self, key) is not None:
                _integer(key, getattr(self, key), lowest=1)
        if self.private_tuning:
            self.check_private_tuning()
        else:
            given = [k for k in ("study_epsilon", "max_unfairness", "batch_size", "epochs")
                     if getattr(self, k) is not None]
            if given:
                raise ConfigError(f"{', '.join(given)}: only used by a private-tuning study "
                                  "(--private-tuning).")

    def check_private_tuning(self) -> None:
        """Refuse settings under which the study's guarantee would not hold.

        Raises:
            ConfigError: On a missing or bad study epsilon, an adaptive sampler,
                seeded noise without acknowledgement, public statistics, or a user
                file without a declared schema.
        """
        if self.study_epsilon is None:
            raise ConfigError("--private-tuning needs --study-epsilon E, the budget of the whole "
                              "study (a number > 0).")
        if self.sampler not in (*PRIVATE_TUNING_SAMPLERS, "trifront"):
            raise ConfigError(
                f"--private-tuning draws every candidate independently from a fixed prior; the "
                f"adaptive sampler {self.sampler!r} is not covered by its theorem (accepted: "
                "random, or no --sampler)."
            )
        if self.reproducible and not self.acknowledge_seeded_noise:
            raise ConfigError(
                "--private-tuning with --reproducible seeds the noise, the number of runs and the "
                "splits from the public --seed, which voids the guarantee; add "
                "--acknowledge-seeded-noise to run it anyway (research only)."
            )
        if self.public_statistics:
            raise ConfigError("--private-tuning covers every statistic with noise; "
                              "--public-statistics is not accepted with it.")
        if self.data is not None and self.schema is None:
            raise ConfigError("--private-tuning on a user file needs a declared schema (--schema): "
                              "an encoding read from the rows is not covered by epsilon.")

    # -- building --------------------------------------------------------------

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, where: str = "settings") -> Settings:
        """Settings from a flat mapping of keys (aliases such as ``n_trials`` allowed).

        Raises:
            ConfigError: On an unknown key (with "did you mean") or a bad value.
        """
        known = {f.name for f in fields(cls)}
        out: dict[str, Any] = {}
        for key, value in values.items():
            name = ALIASES.get(key, key)
            if name not in known:
                raise unknown_name(f"{where} key", key, sorted(known))
            out[name] = value
        return cls(**out)

    @classmethod
    def load(cls, config: str | Path | None = None, **overrides: Any) -> Settings:
        """The settings of a config file (if any) with ``overrides`` on top.

        An override of None (or False for a switch) keeps the file's value, as
        an unset command-line flag does.
        """
        values: dict[str, Any] = {}
        if config is not None:
            values = load_toml(config)
            cls.from_mapping({k: v for k, v in values.items() if k not in _FIELDS},
                             where="config")  # names an unknown key of the file as such
        for key, value in overrides.items():
            if value is not None and value is not False:
                values[key] = value
        return cls.from_mapping(values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    # -- derived ---------------------------------------------------------------

    @property
    def study_name(self) -> str:
        """The study name: ``study``, or ``<dataset or file stem>-<model>``."""
        if self.study is not None:
            return str(self.study)
        stem = Path(self.data).name.split(".")[0] if self.data else self.dataset
        return f"{stem}-{self.model}"

    def problem(self) -> Problem:
        """The :class:`~trifront.problem.Problem` these settings describe.

        With ``cv_folds=None`` this loads the data to choose the folds from
        the public row count.
        """
        from trifront.problem import USER_FILE, Problem

        problem = Problem(
            dataset=USER_FILE if self.data else self.dataset,
            model=self.model,
            sensitive=self.sensitive,
            fairness=self.fairness,
            delta=float(self.delta),
            engine=self.engine,
            accountant=self.accountant,
            parametrisation=self.parametrisation,
            data_seed=int(self.data_seed),
            data_file=str(Path(self.data).resolve()) if self.data else None,
            label=self.label,
            positive=self.positive,
            schema_file=str(Path(self.schema).resolve()) if self.schema else None,
            stats_share=float(self.stats_share),
            public_statistics=bool(self.public_statistics),
            allow_group_thresholds=not self.no_group_thresholds,
            reproducible=bool(self.reproducible),
            tail_average=self.tail_average,
            sensitive_input=not self.no_sensitive_input,
            cv_folds=1 if self.cv_folds is None else int(self.cv_folds),
        )
        if self.cv_folds is None:
            from trifront.crossval import auto_folds

            folds = auto_folds(problem.validate().n_train_public)
            problem = replace(problem, cv_folds=folds)
        return problem

    def search_space(self, *, n_train: int | None = None) -> SearchSpace:
        """The default space of the model, with ``space`` and ``max_epsilon`` applied.

        Args:
            n_train: The public training-row count (caps the batch size).
        """
        from trifront.space import SearchSpace

        bounds = {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.space.items()}
        if self.max_epsilon is not None:
            bounds["target_epsilon"] = {**bounds.get("target_epsilon", {}),
                                        "high": float(self.max_epsilon)}
        from trifront.objectives import parse_objectives

        searched = parse_objectives(self.objectives)
        if "epsilon" not in searched:
            fixed = FIXED_EPSILON if self.max_epsilon is None else float(self.max_epsilon)
            bounds["target_epsilon"] = {"low": fixed, "high": fixed}
        space = SearchSpace.default(self.model, self.parametrisation, n_train=n_train,
                                    knobs="unfairness" in searched,
                                    group_thresholds=not self.no_group_thresholds)
        return space.with_bounds(bounds)


_FIELDS = frozenset(f.name for f in fields(Settings)) | frozenset(ALIASES)

#: Samplers a private-tuning study accepts: "random" (what it does). The unset
#: default ("trifront") is replaced by it; the CLI refuses an explicit adaptive one.
PRIVATE_TUNING_SAMPLERS = ("random",)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into a flat dict of settings (keys are checked later).

    Raises:
        ConfigError: If the file is missing or not TOML.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist.")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}.") from None


def _integer(name: str, value: Any, *, lowest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
        raise ConfigError(
            f"`{name} >= {lowest}` must hold for an integer, but got {name}={value!r}."
        )


def _number(
    name: str, value: Any, *, low: float, high: float = math.inf, high_inclusive: bool = False
) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and math.isfinite(float(value)) and float(value) > low
          and (float(value) <= high if high_inclusive else float(value) < high))
    if not ok:
        upper = "" if math.isinf(high) else f" {'<=' if high_inclusive else '<'} {high:g}"
        raise ConfigError(f"`{low:g} < {name}{upper}` must hold, but got {name}={value!r}.")
