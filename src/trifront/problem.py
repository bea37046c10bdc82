"""One trial: hyperparameters -> DP-SGD training -> (accuracy, epsilon, unfairness).

``Problem`` names the data set, model, fairness metric and privacy setting of a
study; ``Problem.evaluate(params, seed=...)`` trains one candidate and returns a
frozen ``TrialResult``. It imports data, models, privacy and fairness code and
nothing of the optimiser: the runner hands it parameters and stores what it
returns.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from trifront.datasets import Dataset, Split, list_datasets, load_dataset, load_user_data
from trifront.errors import ConfigError, TrialFailedError, unknown_name
from trifront.fairness import FAIRNESS_METRICS, unfairness
from trifront.models import MODELS, make_model, predict_proba
from trifront.privacy import (
    ACCOUNTANTS,
    ENGINES,
    TrainConfig,
    account,
    check_delta,
    noise_for_epsilon,
    sampling_schedule,
    train,
)
from trifront.privacy.objpert import train_objective_perturbation
from trifront.space import PARAMETRISATIONS

SPLITS = ("val", "test")
#: Models trained by another DP mechanism than DP-SGD.
OBJPERT = "objpert"
ALL_MODELS: tuple[str, ...] = (*MODELS, OBJPERT)
#: ``Problem.dataset`` for a user's own file (``data_file``).
USER_FILE = "file"


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
        sample_rate: Poisson sampling rate q.
        steps: Number of DP-SGD steps.
        target_epsilon: The searched epsilon, when the epsilon parametrisation
            is used (``epsilon <= target_epsilon`` always).
        engine: The DP-SGD engine.
        seed: Training seed.
        n_train: Training examples.
        train_seconds: Wall time of training.
        eval_seconds: Wall time of accounting + evaluation.
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

    @property
    def values(self) -> tuple[float, float, float]:
        """(accuracy, epsilon, unfairness): the three objectives."""
        return (self.accuracy, self.epsilon, self.unfairness)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``inf`` stays a float; JSON writers must allow it)."""
        return asdict(self)


@functools.lru_cache(maxsize=8)
def _cached_dataset(
    name: str,
    seed: int,
    sensitive: str | None,
    data_file: str | None,
    label: str | None,
    positive: str | None,
) -> Dataset:
    if data_file is not None:
        assert label is not None and sensitive is not None
        return load_user_data(data_file, label=label, sensitive=sensitive, positive=positive,
                              seed=seed)
    return load_dataset(name, seed=seed, sensitive=sensitive)


@dataclass(frozen=True)
class Problem:
    """What a study optimises: data, model, fairness metric and privacy setting.

    Attributes:
        dataset: A bundled data set name (see ``trifront.datasets.list_datasets``),
            or ``"file"`` with ``data_file`` set.
        model: ``"logreg"`` or ``"mlp"`` (DP-SGD), or ``"objpert"``
            (diffprivlib's objective-perturbation logistic regression, pure DP).
        sensitive: Sensitive attribute (None: the data set card's default).
        fairness: Fairness gap (see ``trifront.fairness.FAIRNESS_METRICS``).
        delta: The delta of (epsilon, delta)-DP; must be below 1/n_train.
        engine: DP-SGD engine, ``"fast"`` or ``"opacus"``.
        accountant: Accountant epsilon is reported with.
        parametrisation: ``"epsilon"`` (search target epsilon) or ``"noise"``.
        data_seed: Seed of the train/validation split.
        data_file: A user's CSV or Parquet file (with ``dataset="file"``).
        label: The label column of ``data_file``.
        positive: The positive label value of ``data_file`` (None: inferred
            when evident, e.g. 0/1).
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

    def __post_init__(self) -> None:
        if self.data_file is not None:
            if self.dataset != USER_FILE:
                raise ConfigError(
                    f"a data file needs dataset={USER_FILE!r}, but got dataset={self.dataset!r}."
                )
            if self.label is None or self.sensitive is None:
                raise ConfigError(
                    "a user data file needs both its label column (--label) and its "
                    "sensitive column (--sensitive)."
                )
        elif self.dataset not in list_datasets():
            raise unknown_name("dataset", self.dataset, list_datasets())
        if self.model not in ALL_MODELS:
            raise unknown_name("model", self.model, ALL_MODELS)
        if self.model == OBJPERT and self.parametrisation != "epsilon":
            raise ConfigError(
                f"model {OBJPERT!r} is parametrised by epsilon only, but got "
                f"parametrisation={self.parametrisation!r}."
            )
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

    def data(self) -> Dataset:
        """The encoded data set (cached per process)."""
        return _cached_dataset(
            self.dataset, self.data_seed, self.sensitive, self.data_file, self.label,
            self.positive,
        )

    def validate(self) -> Dataset:
        """Load the data and check the settings that depend on it (delta < 1/n)."""
        ds = self.data()
        check_delta(delta=self.delta, n_train=ds.n_train)
        return ds

    def evaluate(
        self, params: Mapping[str, Any], *, seed: int, split: str = "val"
    ) -> TrialResult:
        """Train one configuration with DP-SGD and measure the three objectives.

        Args:
            params: Searched values: ``target_epsilon`` (or ``noise_multiplier``),
                ``clip``, ``lr``, ``batch_size``, ``epochs`` and, for the MLP,
                ``hidden``. ``target_epsilon=inf`` trains without privacy.
            seed: Seed of initialisation, sampling and noise.
            split: Where accuracy and unfairness are measured: ``"val"`` during
                the search; ``"test"`` only for the report's re-evaluation.

        Returns:
            The trial's result.

        Raises:
            ConfigError: On a missing or invalid parameter.
            PrivacyError: If delta >= 1/n_train or the target epsilon is invalid.
            TrialFailedError: If training diverges.
        """
        if split not in SPLITS:
            raise unknown_name("split", split, SPLITS)
        ds = self.validate()
        if self.model == OBJPERT:
            return self._evaluate_objpert(ds, params, seed=seed, split=split)
        p = _checked_params(params, self.parametrisation, self.model)
        t0 = time.perf_counter()
        q, steps = sampling_schedule(
            n_train=ds.n_train, batch_size=int(p["batch_size"]), epochs=int(p["epochs"])
        )
        target: float | None = None
        if self.parametrisation == "epsilon":
            target = float(p["target_epsilon"])
            sigma = noise_for_epsilon(
                target_epsilon=target,
                delta=self.delta,
                sample_rate=q,
                steps=steps,
                accountant=self.accountant,
            )
        else:
            sigma = float(p["noise_multiplier"])
        private = sigma > 0
        if private:
            spend = account(
                noise_multiplier=sigma,
                sample_rate=q,
                steps=steps,
                delta=self.delta,
                accountant=self.accountant,
            )
            eps, eps_rdp = spend.epsilon, spend.epsilon_rdp
        else:
            eps = eps_rdp = math.inf
        account_seconds = time.perf_counter() - t0

        hidden = (int(p["hidden"]),) if "hidden" in p else (64,)
        model = make_model(self.model, n_features=ds.n_features, hidden=hidden, seed=seed)
        config = TrainConfig(
            lr=float(p["lr"]),
            epochs=int(p["epochs"]),
            batch_size=int(p["batch_size"]),
            max_grad_norm=float(p["clip"]) if private else None,
            noise_multiplier=sigma,
        )
        X = torch.from_numpy(ds.train.X)
        y = torch.from_numpy(ds.train.y).float()
        log = train(model, X, y, config, seed=seed, engine=self.engine)
        if log.diverged:
            raise TrialFailedError(
                f"training diverged (non-finite loss or parameters) with lr={p['lr']:.4g}, "
                f"clip={p['clip']:.4g}, noise_multiplier={sigma:.4g}."
            )

        t1 = time.perf_counter()
        part = ds.val if split == "val" else ds.test
        accuracy, gap = self._score(predict_proba(model, part.X), part)
        eval_seconds = account_seconds + time.perf_counter() - t1
        return TrialResult(
            accuracy=accuracy,
            epsilon=float(eps),
            unfairness=gap,
            split=split,
            fairness_metric=self.fairness,
            delta=float(self.delta),
            accountant=self.accountant,
            epsilon_rdp=float(eps_rdp),
            noise_multiplier=float(sigma),
            max_grad_norm=config.max_grad_norm,
            sample_rate=float(q),
            steps=int(steps),
            target_epsilon=target,
            engine=self.engine,
            seed=int(seed),
            n_train=ds.n_train,
            train_seconds=float(log.seconds),
            eval_seconds=float(eval_seconds),
        )

    def _score(self, prob: np.ndarray, part: Split) -> tuple[float, float]:
        """Accuracy and fairness gap of thresholded probabilities on one split."""
        if not np.all(np.isfinite(prob)):
            raise TrialFailedError("the trained model predicts non-finite probabilities.")
        y_pred = (prob >= 0.5).astype(np.int64)
        accuracy = float(np.mean(y_pred == part.y))
        gap = unfairness(part.y, y_pred, sensitive_features=part.s, metric=self.fairness)
        return accuracy, gap

    def _evaluate_objpert(
        self, ds: Dataset, params: Mapping[str, Any], *, seed: int, split: str
    ) -> TrialResult:
        for key in ("target_epsilon", "regularisation"):
            if key not in params:
                raise ConfigError(
                    f"parameter {key!r} is required for model {OBJPERT!r}; got {sorted(params)}."
                )
        eps = float(params["target_epsilon"])
        reg = float(params["regularisation"])
        if not (reg > 0 and math.isfinite(reg)):
            raise ConfigError(
                f"`regularisation > 0` must hold, but got {params['regularisation']}."
            )
        model, seconds = train_objective_perturbation(
            ds, epsilon=eps, regularisation=reg, seed=seed
        )
        t1 = time.perf_counter()
        part = ds.val if split == "val" else ds.test
        scores = model.predict_proba(part.X.astype(np.float64))  # type: ignore[attr-defined]
        prob = np.asarray(scores)[:, 1]
        accuracy, gap = self._score(prob, part)
        return TrialResult(
            accuracy=accuracy,
            # Pure epsilon-DP implies (epsilon, delta)-DP for every delta >= 0.
            epsilon=eps,
            unfairness=gap,
            split=split,
            fairness_metric=self.fairness,
            delta=float(self.delta),
            accountant="pure-dp",
            epsilon_rdp=eps,
            noise_multiplier=0.0,
            max_grad_norm=None,
            sample_rate=1.0,
            steps=1,
            target_epsilon=eps,
            engine="diffprivlib",
            seed=int(seed),
            n_train=ds.n_train,
            train_seconds=float(seconds),
            eval_seconds=float(time.perf_counter() - t1),
        )


def _checked_params(params: Mapping[str, Any], parametrisation: str, model: str) -> dict[str, Any]:
    privacy = "target_epsilon" if parametrisation == "epsilon" else "noise_multiplier"
    needed = [privacy, "clip", "lr", "batch_size", "epochs"]
    missing = [k for k in needed if k not in params]
    if missing:
        raise ConfigError(f"parameters {missing} are required; got {sorted(params)}.")
    p = dict(params)
    for key in ("clip", "lr"):
        value = float(p[key])
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"`{key} > 0` must hold and be finite, but got {key}={p[key]}.")
    for key in ("batch_size", "epochs"):
        if int(p[key]) != p[key] or int(p[key]) < 1:
            raise ConfigError(f"`{key}` must be a positive integer, but got {key}={p[key]}.")
    if "hidden" in p and model != "mlp":
        raise ConfigError(f"`hidden` applies to the MLP only, but model={model!r}.")
    return p
