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
from trifront.fairness.knobs import FairPenalty, Knobs, reweighing_weights
from trifront.fairness.private_stats import (
    StatsPlan,
    allocate,
    noisy_cell_counts,
    noisy_histograms,
    stats_generator,
)
from trifront.fairness.thresholds import EDGES, GroupThresholds, choose_thresholds
from trifront.models import MODELS, make_model, predict_proba
from trifront.privacy import (
    ACCOUNTANTS,
    ENGINES,
    TrainConfig,
    account,
    check_delta,
    epsilon,
    noise_for_epsilon,
    sampling_schedule,
    train,
)
from trifront.privacy.dpsgd import epoch_starts
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
        epsilon_sgd: Epsilon of the DP-SGD steps alone (same accountant).
        epsilon_stats: Epsilon of the fairness knobs' privatised statistics
            alone (0.0 when none is released or they are declared public).
            ``epsilon`` is their composition, not the sum.
        public_statistics: True when the knobs' group statistics were declared
            public (exact, *not* counted in ``epsilon``): the user's explicit opt-in.
        uses_sensitive_at_prediction: True when predictions use per-group
            thresholds: the sensitive attribute is needed at prediction time.
        knob_fair_weight: Effective fair-loss weight lambda (0: off).
        knob_reweigh: Effective reweighing strength alpha (0: off).
        knob_threshold_gap: Target gap of the group thresholds (None: off).
        decision_thresholds: Per-group probability thresholds (group order of
            the data set), None without group thresholds.
        stats_share: The share of the target epsilon given to the statistics.
        stats_noise_counts: Noise multiplier of the (group, label) counts (0: none).
        stats_noise_sums: Noise multiplier of each per-epoch sum release (0: none).
        stats_noise_histograms: Noise multiplier of the score histograms (0: none).
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
    uses_sensitive_at_prediction: bool = False
    knob_fair_weight: float = 0.0
    knob_reweigh: float = 0.0
    knob_threshold_gap: float | None = None
    decision_thresholds: tuple[float, ...] | None = None
    stats_share: float = 0.0
    stats_noise_counts: float = 0.0
    stats_noise_sums: float = 0.0
    stats_noise_histograms: float = 0.0

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
    stats_share: float = 0.5
    public_statistics: bool = False
    allow_group_thresholds: bool = True

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
        if not (isinstance(self.stats_share, float | int) and 0 < self.stats_share < 1):
            raise ConfigError(
                f"`0 < stats_share < 1` must hold, but got stats_share={self.stats_share}."
            )

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
                ``hidden`` (width) and ``depth`` (hidden layers, default 1).
                ``target_epsilon=inf`` trains without privacy.
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
        knobs = Knobs.from_params(p)
        if knobs.group_thresholds is not None and not self.allow_group_thresholds:
            raise ConfigError(
                "group thresholds are forbidden for this problem (they need the sensitive "
                f"attribute at prediction time), but got group_thresholds={p['group_thresholds']}."
            )
        t0 = time.perf_counter()
        q, steps = sampling_schedule(
            n_train=ds.n_train, batch_size=int(p["batch_size"]), epochs=int(p["epochs"])
        )
        sigma, plan, target = self._privacy(p, knobs, q=q, steps=steps)
        private = sigma > 0
        if private:
            spend = account(
                noise_multiplier=sigma,
                sample_rate=q,
                steps=steps,
                delta=self.delta,
                accountant=self.accountant,
                extra_gaussians=plan.gaussians,
            )
            eps, eps_rdp = spend.epsilon, spend.epsilon_rdp
            eps_sgd, eps_stats = spend.epsilon_sgd, spend.epsilon_stats
        else:
            eps = eps_rdp = eps_sgd = math.inf
            eps_stats = math.inf if plan.gaussians or plan.public else 0.0
        account_seconds = time.perf_counter() - t0

        width = int(p["hidden"]) if "hidden" in p else 64
        hidden = (width,) * int(p.get("depth", 1))
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
        gen = stats_generator(seed)
        weights, fair = self._in_training_knobs(ds, knobs, plan, gen)
        log = train(model, X, y, config, seed=seed, engine=self.engine,
                    sample_weight=weights, fair=fair)
        if log.diverged:
            raise TrialFailedError(
                f"training diverged (non-finite loss or parameters) with lr={p['lr']:.4g}, "
                f"clip={p['clip']:.4g}, noise_multiplier={sigma:.4g}."
            )

        t1 = time.perf_counter()
        thresholds = None
        if knobs.group_thresholds is not None:
            hist = noisy_histograms(
                _logits(model, ds.train.X), ds.train.s, ds.train.y, n_groups=ds.n_groups,
                edges=EDGES, std=plan.noise("histograms"), generator=gen,
            )
            thresholds = choose_thresholds(
                hist, target_gap=knobs.group_thresholds, metric=self.fairness
            )
        part = ds.val if split == "val" else ds.test
        accuracy, gap = self._score_knobs(model, part, thresholds)
        eval_seconds = account_seconds + time.perf_counter() - t1
        uses_stats = knobs.needs_counts or knobs.group_thresholds is not None
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
            epsilon_sgd=float(eps_sgd),
            epsilon_stats=float(eps_stats),
            public_statistics=bool(self.public_statistics and uses_stats),
            uses_sensitive_at_prediction=thresholds is not None,
            knob_fair_weight=knobs.fair_weight,
            knob_reweigh=knobs.reweigh,
            knob_threshold_gap=knobs.group_thresholds,
            decision_thresholds=None if thresholds is None else thresholds.probabilities,
            stats_share=float(self.stats_share) if plan.gaussians else 0.0,
            stats_noise_counts=plan.noise("counts"),
            stats_noise_sums=plan.noise("sums"),
            stats_noise_histograms=plan.noise("histograms"),
        )

    def _privacy(
        self, p: Mapping[str, Any], knobs: Knobs, *, q: float, steps: int
    ) -> tuple[float, StatsPlan, float | None]:
        """Sigma of DP-SGD, the statistics' noise plan, and the target epsilon.

        The statistics released: the (group, label) counts when lambda or alpha
        is on; one sum release per epoch when lambda is on; the histograms when
        group thresholds are on. Their budget is ``stats_share`` of the target
        (see the class docstring); sigma is solved for the composed target.
        """
        n_sums = len(epoch_starts(steps, q)) if knobs.fair_weight > 0 else 0
        wanted: dict[str, Any] = {"counts": knobs.needs_counts, "n_sums": n_sums,
                  "histograms": knobs.group_thresholds is not None}
        any_stats = knobs.needs_counts or n_sums > 0 or knobs.group_thresholds is not None
        target: float | None = None
        if self.parametrisation == "epsilon":
            target = float(p["target_epsilon"])
            if math.isinf(target) or self.public_statistics or not any_stats:
                plan = allocate(stats_epsilon=math.inf, delta=self.delta, **wanted)
            else:
                plan = allocate(stats_epsilon=self.stats_share * target, delta=self.delta,
                                **wanted)
            sigma = noise_for_epsilon(
                target_epsilon=target,
                delta=self.delta,
                sample_rate=q,
                steps=steps,
                accountant=self.accountant,
                extra_gaussians=plan.gaussians,
            )
            return sigma, plan, target
        sigma = float(p["noise_multiplier"])
        if sigma == 0 or self.public_statistics or not any_stats:
            return sigma, allocate(stats_epsilon=math.inf, delta=self.delta, **wanted), None
        eps_sgd = epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=self.delta,
                          accountant=self.accountant)
        share = self.stats_share / (1.0 - self.stats_share)
        return sigma, allocate(stats_epsilon=share * eps_sgd, delta=self.delta, **wanted), None

    def _in_training_knobs(
        self, ds: Dataset, knobs: Knobs, plan: StatsPlan, gen: torch.Generator
    ) -> tuple[torch.Tensor | None, FairPenalty | None]:
        """Sample weights (alpha) and the fair-loss term (lambda) from privatised counts."""
        if not knobs.needs_counts:
            return None, None
        s, y = ds.train.s, ds.train.y
        counts = noisy_cell_counts(s, y, n_groups=ds.n_groups, std=plan.noise("counts"),
                                   generator=gen)
        weights = None
        if knobs.reweigh > 0:
            cell_w = reweighing_weights(counts, strength=knobs.reweigh)
            weights = torch.from_numpy(cell_w[s, y])
        fair = None
        if knobs.fair_weight > 0:
            fair = FairPenalty(weight=knobs.fair_weight, metric=self.fairness, s=s, y=y,
                               counts=counts, sums_std=plan.noise("sums"), generator=gen)
        return weights, fair

    def _score_knobs(
        self, model: torch.nn.Module, part: Split, thresholds: GroupThresholds | None
    ) -> tuple[float, float]:
        """Accuracy and gap of the model, with group thresholds when given."""
        if thresholds is None:
            return self._score(predict_proba(model, part.X), part)
        z = _logits(model, part.X)
        if not np.all(np.isfinite(z)):
            raise TrialFailedError("the trained model predicts non-finite logits.")
        y_pred = thresholds.predict(z, part.s)
        accuracy = float(np.mean(y_pred == part.y))
        gap = unfairness(part.y, y_pred, sensitive_features=part.s, metric=self.fairness)
        return accuracy, gap

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
            epsilon_sgd=eps,
        )


def _logits(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Logits of the rows of ``X`` (float64 numpy), without tracking gradients."""
    param = next(model.parameters())
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=param.dtype)).reshape(-1).double().numpy()


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
    for key in ("hidden", "depth"):
        if key in p and model != "mlp":
            raise ConfigError(f"`{key}` applies to the MLP only, but model={model!r}.")
    if "depth" in p and (int(p["depth"]) != p["depth"] or int(p["depth"]) < 1):
        raise ConfigError(f"`depth` must be a positive integer, but got depth={p['depth']}.")
    return p
