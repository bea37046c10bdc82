"""The trial pipeline: plan the privacy budget, train with DP-SGD, score.

:func:`evaluate` turns a :class:`~trifront.problem.Problem` and one set of
hyperparameters into a :class:`~trifront.problem.TrialResult`:

1. **Schedule** (public): ``q = B / n`` and ``T = round(epochs / q)`` from the
   data set's *public* training-row count, never from counting the private
   rows (DESIGN.md privacy rule 8).
2. **Budget**: the fairness knobs' privatised statistics get their share of the
   target epsilon, and sigma is solved for the rest of the composed target.
3. **Randomness**: the Poisson draws and every noise draw come from a seed of
   128 bits drawn from the operating system for this run alone; it is never
   stored, logged or printed (rule 7). The public ``seed`` fixes only the
   model's initialisation. ``Problem.reproducible`` derives the secret from the
   public seed instead (research mode), and the result says so.
4. **Train** with the chosen engine, then choose private group thresholds if
   that knob is on, and score on the validation (or test) split.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from trifront.crossval import cross_validated
from trifront.datasets import Dataset, Split
from trifront.errors import ConfigError, TrialFailedError, unknown_name
from trifront.fairness import unfairness
from trifront.fairness.knobs import (
    FairPenalty,
    FairTarget,
    Knobs,
    SummedTerms,
    reweighing_weights,
)
from trifront.fairness.metrics import confusion_cells
from trifront.fairness.private_stats import (
    StatsPlan,
    allocate,
    noisy_cell_counts,
    noisy_histograms,
    stats_generator,
)
from trifront.fairness.thresholds import EDGES, GroupThresholds, choose_thresholds
from trifront.models import make_model, predict_proba
from trifront.privacy import (
    TrainConfig,
    account,
    epsilon,
    noise_for_epsilon,
    sampling_schedule,
    train,
)
from trifront.privacy.dpsgd import FairTerm, StepObserver, epoch_starts
from trifront.problem import SPLITS, Problem, TrialResult

__all__ = ["ExtraRows", "Fitted", "PrivacyPlan", "evaluate", "fit", "initial_model",
           "plan_privacy", "predictions", "secret_seed", "trial_result"]

#: Bits of operating-system entropy behind each run's noise and sampling.
SECRET_BITS = 128


def secret_seed() -> int:
    """A fresh seed of ``SECRET_BITS`` bits from the operating system's CSPRNG.

    The engines spread it over independent generators with numpy's
    ``SeedSequence`` (each torch generator keeps 64 bits of it).
    """
    return secrets.randbits(SECRET_BITS)


@dataclass(frozen=True)
class PrivacyPlan:
    """How one run spends its budget.

    Attributes:
        sample_rate: Poisson sampling rate q (public).
        steps: DP-SGD steps T (public).
        noise_multiplier: sigma of DP-SGD (0: non-private).
        stats: The knobs' statistics and their noise.
        target_epsilon: The searched target, in the epsilon parametrisation.
    """

    sample_rate: float
    steps: int
    noise_multiplier: float
    stats: StatsPlan
    target_epsilon: float | None


def plan_privacy(
    problem: Problem, params: Mapping[str, Any], knobs: Knobs, *, n_public: int
) -> PrivacyPlan:
    """The public schedule, sigma and the statistics' noise of one run.

    The statistics released: the (group, label) counts when lambda or alpha is
    on; one sum release per refresh of the fair term (``len(epoch_starts(steps,
    q))``, several per epoch) when lambda is on; the histograms when group
    thresholds are on. Their budget is ``problem.stats_share`` of the target
    (see :class:`~trifront.problem.Problem`); sigma is solved for the composed
    target. Everything here depends on public values only.
    """
    q, steps = sampling_schedule(
        n_train=n_public, batch_size=int(params["batch_size"]), epochs=int(params["epochs"])
    )
    n_sums = sum_releases(knobs, steps=steps, sample_rate=q)
    wanted: dict[str, Any] = {"counts": knobs.needs_counts, "n_sums": n_sums,
                              "histograms": knobs.group_thresholds is not None}
    any_stats = knobs.needs_counts or n_sums > 0 or knobs.group_thresholds is not None
    delta = problem.delta
    if problem.parametrisation == "epsilon":
        target = float(params["target_epsilon"])
        free = math.isinf(target) or problem.public_statistics or not any_stats
        stats_eps = math.inf if free else problem.stats_share * target
        plan = allocate(stats_epsilon=stats_eps, delta=delta, **wanted)
        sigma = noise_for_epsilon(target_epsilon=target, delta=delta, sample_rate=q,
                                  steps=steps, accountant=problem.accountant,
                                  extra_gaussians=plan.gaussians)
        return PrivacyPlan(q, steps, sigma, plan, target)
    sigma = float(params["noise_multiplier"])
    if sigma == 0 or problem.public_statistics or not any_stats:
        return PrivacyPlan(q, steps, sigma, allocate(stats_epsilon=math.inf, delta=delta,
                                                     **wanted), None)
    eps_sgd = epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=delta,
                      accountant=problem.accountant)
    share = problem.stats_share / (1.0 - problem.stats_share)
    return PrivacyPlan(q, steps, sigma,
                       allocate(stats_epsilon=share * eps_sgd, delta=delta, **wanted), None)


@dataclass(frozen=True, eq=False)
class ExtraRows:
    """Rows trained on after the training split (the audit's canaries).

    They go through the same engine path as every row (Poisson sampling,
    clipping, noise), with loss weight 1 and no fair-loss term; the knobs'
    statistics never read them.

    Attributes:
        X: Encoded features of the rows actually trained on, shape ``k x d``.
        y: Their labels in ``{0, 1}``, shape ``(k,)``.
        public_count: How many rows the schedule counts for them (public:
            every candidate canary, included or not), added to the data set's
            public row count.
    """

    X: np.ndarray
    y: np.ndarray
    public_count: int


def sum_releases(knobs: Knobs, *, steps: int, sample_rate: float) -> int:
    """How many cell-sum releases a run makes: one per refresh for λ and one for the target."""
    return len(epoch_starts(steps, sample_rate)) * knobs.sums_per_refresh


class _PaddedFairTerm:
    """A refreshed term over the first ``n`` rows; the rows after them get ``fill``.

    0 for the fair term's coefficients, 1 for the adaptive weights: the rows
    after ``n`` (the audit's canaries) are trained on as plain DP-SGD rows.
    """

    def __init__(self, inner: FairTerm, n: int, fill: float) -> None:
        self.inner, self.n, self.fill = inner, n, fill

    def refresh(self, logits: torch.Tensor) -> torch.Tensor:
        coef = self.inner.refresh(logits[: self.n])
        return torch.cat([coef, coef.new_full((len(logits) - self.n,), self.fill)])


@dataclass(frozen=True, eq=False)
class Fitted:
    """A trained model with everything needed to score it and to state its privacy.

    Attributes:
        model: The trained torch module (logits).
        thresholds: Private per-group decision thresholds, or None (0.5 cut).
        knobs: The fairness knobs in effect.
        plan: The run's privacy plan (public schedule, sigma, statistics).
        epsilon: Composed epsilon at the problem's delta (inf: non-private).
        epsilon_rdp: The RDP accountant's epsilon (cross-check).
        epsilon_sgd: Epsilon of the DP-SGD steps alone.
        epsilon_stats: Epsilon of the statistics alone.
        n_public: The public training-row count of the schedule.
        schema_from_data: Whether the encoding came from the rows.
        train_seconds: Wall time of training.
        account_seconds: Wall time of the accounting.
        max_grad_norm: Clipping norm C (None: non-private, no clipping).
    """

    model: torch.nn.Module
    thresholds: GroupThresholds | None
    knobs: Knobs
    plan: PrivacyPlan
    epsilon: float
    epsilon_rdp: float
    epsilon_sgd: float
    epsilon_stats: float
    n_public: int
    schema_from_data: bool
    train_seconds: float
    account_seconds: float
    max_grad_norm: float | None


def initial_model(
    problem: Problem, params: Mapping[str, Any], *, n_features: int, seed: int
) -> torch.nn.Module:
    """The untrained model of a configuration: public, a function of the public seed."""
    width = int(params["hidden"]) if "hidden" in params else 64
    hidden = (width,) * int(params.get("depth", 1))
    return make_model(problem.model, n_features=n_features, hidden=hidden, seed=int(seed))


def fit(
    problem: Problem,
    params: Mapping[str, Any],
    *,
    seed: int,
    extra: ExtraRows | None = None,
    observe: StepObserver | None = None,
    data: Dataset | None = None,
    plan: PrivacyPlan | None = None,
) -> Fitted:
    """Train one configuration with DP-SGD (and choose its private thresholds).

    Args:
        problem: The study's problem.
        params: Searched values (see :func:`evaluate`).
        seed: The public seed: model initialisation (and, only when
            ``problem.reproducible``, the noise and sampling).
        extra: Rows appended to the training split (the audit's canaries);
            their ``public_count`` joins the public row count of the schedule.
        observe: The audit's white-box view of every step's noisy gradient
            sum (:class:`~trifront.privacy.dpsgd.StepObserver`); None in training.
        data: Train on these rows instead of ``problem.data()`` (a private-tuning
            study's privately re-split rows; the same public schema and count).
        plan: Use this privacy plan instead of solving one for ``params`` (a
            private-tuning study: every run spends the same plan, which must
            release every statistic the run's knobs read).

    Raises:
        ConfigError: On a missing or invalid parameter.
        PrivacyError: If delta >= 1/n_train or the target epsilon is invalid.
        TrialFailedError: If training diverges.
    """
    ds = problem.validate() if data is None else data
    p = _checked_params(params, problem.parametrisation, problem.model, fixed_plan=plan)
    knobs = Knobs.from_params(p)
    if knobs.group_thresholds is not None and not problem.allow_group_thresholds:
        raise ConfigError(
            "group thresholds are forbidden for this problem (they need the sensitive "
            f"attribute at prediction time), but got group_thresholds={p['group_thresholds']}."
        )
    t0 = time.perf_counter()
    n_public = int(ds.n_train_public) + (0 if extra is None else int(extra.public_count))
    if plan is None:
        plan = plan_privacy(problem, p, knobs, n_public=n_public)
    else:
        _check_plan_covers(plan, knobs, n_public=n_public, params=p)
    sigma, q, steps = plan.noise_multiplier, plan.sample_rate, plan.steps
    private = sigma > 0
    if private:
        spend = account(noise_multiplier=sigma, sample_rate=q, steps=steps,
                        delta=problem.delta, accountant=problem.accountant,
                        extra_gaussians=plan.stats.gaussians)
        eps, eps_rdp = spend.epsilon, spend.epsilon_rdp
        eps_sgd, eps_stats = spend.epsilon_sgd, spend.epsilon_stats
    else:
        eps = eps_rdp = eps_sgd = math.inf
        eps_stats = math.inf if plan.stats.gaussians or plan.stats.public else 0.0
    account_seconds = time.perf_counter() - t0

    # The public seed fixes the initialisation; the noise comes from a secret.
    noise_seed = int(seed) if problem.reproducible else secret_seed()
    model = initial_model(problem, p, n_features=ds.n_features, seed=int(seed))
    config = TrainConfig(
        lr=float(p["lr"]),
        epochs=int(p["epochs"]),
        batch_size=int(p["batch_size"]),
        max_grad_norm=float(p["clip"]) if private else None,
        noise_multiplier=sigma,
        tail_average=float(problem.tail_average),
    )
    X = torch.from_numpy(ds.train.X)
    y = torch.from_numpy(ds.train.y).float()
    gen = stats_generator(noise_seed)
    weights, fair, adaptive = _in_training_knobs(problem, ds, knobs, plan.stats, gen)
    fair_term: Any = fair
    adaptive_term: Any = adaptive
    if extra is not None and len(extra.y):
        n_real, k = len(y), len(extra.y)
        X = torch.cat([X, torch.as_tensor(extra.X, dtype=X.dtype)])
        y = torch.cat([y, torch.as_tensor(extra.y, dtype=y.dtype)])
        weights = None if weights is None else torch.cat([weights, weights.new_ones(k)])
        fair_term = None if fair is None else _PaddedFairTerm(fair, n_real, 0.0)
        adaptive_term = None if adaptive is None else _PaddedFairTerm(adaptive, n_real, 1.0)
    log = train(model, X, y, config, seed=noise_seed, engine=problem.engine,
                sample_weight=weights, fair=fair_term, n_public=n_public, observe=observe,
                adaptive=adaptive_term)
    del noise_seed
    if (log.steps, log.sample_rate) != (steps, q):  # the accountant's schedule is the one run
        raise RuntimeError(f"the engine ran T={log.steps}, q={log.sample_rate} but the "
                           f"accountant was given T={steps}, q={q}.")
    if log.diverged:
        raise TrialFailedError(
            f"training diverged (non-finite loss or parameters) with lr={p['lr']:.4g}, "
            f"clip={p['clip']:.4g}, noise_multiplier={sigma:.4g}."
        )
    thresholds = None
    if knobs.group_thresholds is not None:
        hist = noisy_histograms(
            _logits(model, ds.train.X), ds.train.s, ds.train.y, n_groups=ds.n_groups,
            edges=EDGES, std=plan.stats.noise("histograms"), generator=gen,
        )
        thresholds = choose_thresholds(
            hist, target_gap=knobs.group_thresholds, metric=problem.fairness
        )
    return Fitted(model=model, thresholds=thresholds, knobs=knobs, plan=plan,
                  epsilon=float(eps), epsilon_rdp=float(eps_rdp), epsilon_sgd=float(eps_sgd),
                  epsilon_stats=float(eps_stats), n_public=n_public,
                  schema_from_data=bool(ds.schema_from_data), train_seconds=float(log.seconds),
                  account_seconds=float(account_seconds), max_grad_norm=config.max_grad_norm)


def evaluate(
    problem: Problem, params: Mapping[str, Any], *, seed: int, split: str = "val"
) -> TrialResult:
    """Train one configuration with DP-SGD and measure the three objectives.

    Args:
        problem: The study's problem.
        params: Searched values: ``target_epsilon`` (or ``noise_multiplier``),
            ``clip``, ``lr``, ``batch_size``, ``epochs``, the knobs and, for the
            MLP, ``hidden`` (width) and ``depth`` (hidden layers, default 1).
            ``target_epsilon=inf`` trains without privacy.
        seed: The public seed: model initialisation (and, only when
            ``problem.reproducible``, the noise and sampling).
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
    if split == "val" and problem.cv_folds > 1 and problem.fold is None:
        return cross_validated(problem, params, seed=seed, evaluate=evaluate)
    fitted = fit(problem, params, seed=seed)
    t1 = time.perf_counter()
    ds = problem.data()
    part = ds.val if split == "val" else ds.test
    y_pred = predictions(fitted.model, part, fitted.thresholds)
    accuracy = float(np.mean(y_pred == part.y))
    gap = unfairness(part.y, y_pred, sensitive_features=part.s, metric=problem.fairness)
    eval_seconds = fitted.account_seconds + time.perf_counter() - t1
    result = trial_result(problem, fitted, seed=seed, split=split, accuracy=accuracy,
                          unfairness=gap, eval_seconds=eval_seconds)
    return replace(result, confusion=confusion_cells(
        part.y, y_pred, sensitive_features=part.s))


def trial_result(
    problem: Problem, fitted: Fitted, *, seed: int, split: str, accuracy: float,
    unfairness: float, eval_seconds: float = 0.0,
) -> TrialResult:
    """The record of a fitted run scored on ``split``: objectives, bookkeeping, caveat flags.

    :func:`evaluate` and the model export (``trifront.deploy``) both record a
    run with it, so every output states a run's privacy and flags the same way.

    Args:
        problem: The problem the run was fitted on.
        fitted: The run (:func:`fit`).
        seed: Its public seed.
        split: Where ``accuracy`` and ``unfairness`` were measured.
        accuracy: Accuracy on ``split``.
        unfairness: The fairness gap on ``split``.
        eval_seconds: Wall time of accounting + scoring.
    """
    knobs, plan, stats = fitted.knobs, fitted.plan, fitted.plan.stats
    uses_stats = knobs.needs_counts or knobs.group_thresholds is not None
    return TrialResult(
        accuracy=accuracy,
        epsilon=fitted.epsilon,
        unfairness=unfairness,
        split=split,
        fairness_metric=problem.fairness,
        delta=float(problem.delta),
        accountant=problem.accountant,
        epsilon_rdp=fitted.epsilon_rdp,
        noise_multiplier=float(plan.noise_multiplier),
        max_grad_norm=fitted.max_grad_norm,
        sample_rate=float(plan.sample_rate),
        steps=int(plan.steps),
        target_epsilon=plan.target_epsilon,
        engine=problem.engine,
        seed=int(seed),
        n_train=fitted.n_public,
        train_seconds=fitted.train_seconds,
        eval_seconds=float(eval_seconds),
        epsilon_sgd=fitted.epsilon_sgd,
        epsilon_stats=fitted.epsilon_stats,
        public_statistics=bool(problem.public_statistics and uses_stats),
        noise_seeded=bool(problem.reproducible),
        schema_from_data=fitted.schema_from_data,
        uses_sensitive_at_prediction=fitted.thresholds is not None,
        knob_fair_weight=knobs.fair_weight,
        knob_reweigh=knobs.reweigh,
        knob_threshold_gap=knobs.group_thresholds,
        knob_fair_target=knobs.fair_target,
        decision_thresholds=(None if fitted.thresholds is None
                             else fitted.thresholds.probabilities),
        stats_share=float(problem.stats_share) if stats.gaussians else 0.0,
        stats_noise_counts=stats.noise("counts"),
        stats_noise_sums=stats.noise("sums"),
        stats_noise_histograms=stats.noise("histograms"),
        account_seconds=fitted.account_seconds,
        tail_average=float(problem.tail_average),
        sensitive_input=bool(problem.sensitive_input),
    )


def _in_training_knobs(
    problem: Problem, ds: Dataset, knobs: Knobs, plan: StatsPlan, gen: torch.Generator
) -> tuple[torch.Tensor | None, FairTerm | None, FairTerm | None]:
    """Sample weights (alpha), the fair-loss term (lambda), refreshed weights (target).

    All from privatised counts (and, during training, privatised sums). The
    fair target acts through the refreshed weights or, for the equalized-odds
    metrics, through the fair-loss term (summed with lambda's when both are on).
    """
    if not knobs.needs_counts:
        return None, None, None
    s, y = ds.train.s, ds.train.y
    counts = noisy_cell_counts(s, y, n_groups=ds.n_groups, std=plan.noise("counts"),
                               generator=gen)
    weights = None
    if knobs.reweigh > 0:
        cell_w = reweighing_weights(counts, strength=knobs.reweigh)
        weights = torch.from_numpy(cell_w[s, y])
    fair = None
    if knobs.fair_weight > 0:
        fair = FairPenalty(weight=knobs.fair_weight, metric=problem.fairness, s=s, y=y,
                           counts=counts, sums_std=plan.noise("sums"), generator=gen)
    term: FairTerm | None = fair
    adaptive: FairTerm | None = None
    if knobs.fair_target is not None:
        target = FairTarget(target=knobs.fair_target, metric=problem.fairness, s=s, y=y,
                            counts=counts, sums_std=plan.noise("sums"), generator=gen)
        if target.channel == "weights":
            adaptive = target
        else:
            term = target if fair is None else SummedTerms(fair, target)
    return weights, term, adaptive


def predictions(
    model: torch.nn.Module, part: Split, thresholds: GroupThresholds | None
) -> np.ndarray:
    """0/1 decisions of a trained model on one split (group thresholds if given).

    Raises:
        TrialFailedError: If the model predicts non-finite values.
    """
    if thresholds is None:
        prob = predict_proba(model, part.X)
        if not np.all(np.isfinite(prob)):
            raise TrialFailedError("the trained model predicts non-finite probabilities.")
        y_pred = (prob >= 0.5).astype(np.int64)
    else:
        z = _logits(model, part.X)
        if not np.all(np.isfinite(z)):
            raise TrialFailedError("the trained model predicts non-finite logits.")
        y_pred = thresholds.predict(z, part.s)
    return np.asarray(y_pred, dtype=np.int64)


def _logits(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Logits of the rows of ``X`` (float64 numpy), without tracking gradients."""
    param = next(model.parameters())
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=param.dtype)).reshape(-1).double().numpy()


def _check_plan_covers(
    plan: PrivacyPlan, knobs: Knobs, *, n_public: int, params: Mapping[str, Any]
) -> None:
    """A given plan must be this run's schedule and release what its knobs read."""
    q, steps = sampling_schedule(n_train=n_public, batch_size=int(params["batch_size"]),
                                 epochs=int(params["epochs"]))
    if (q, steps) != (plan.sample_rate, plan.steps):
        raise ConfigError(f"the plan's schedule (q={plan.sample_rate}, T={plan.steps}) is not "
                          f"this run's (q={q}, T={steps}).")
    stats = plan.stats
    n_sums = sum_releases(knobs, steps=steps, sample_rate=q)
    missing = [name for name, needed, released in (
        ("counts", knobs.needs_counts, stats.counts < math.inf),
        ("sums", n_sums > 0, stats.sums < math.inf and stats.n_sums >= n_sums),
        ("histograms", knobs.group_thresholds is not None, stats.histograms < math.inf),
    ) if needed and not released]
    if missing or stats.public:
        raise ConfigError(f"the plan does not release, with noise, the statistics {missing} "
                          "that this run's knobs read.")


def _checked_params(
    params: Mapping[str, Any], parametrisation: str, model: str, *,
    fixed_plan: PrivacyPlan | None = None,
) -> dict[str, Any]:
    privacy = "target_epsilon" if parametrisation == "epsilon" else "noise_multiplier"
    needed = ["clip", "lr", "batch_size", "epochs"] + ([] if fixed_plan else [privacy])
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
