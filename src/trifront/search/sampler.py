"""The trifront sampler: BoTorch multi-objective Bayesian optimisation on an Optuna study.

The chain is BoTorch's: normalised inputs -> one GP per learned objective
(``ModelListGP``) -> an MC objective that maps the GP samples back to the units
the hypervolume is measured in and adds the objectives that are known
functions of the parameters (such as epsilon when the target epsilon is
searched) -> qLogNEHVI against a fixed reference point -> ``optimize_acqf`` ->
parameters. The first trials are scrambled Sobol points.

The sampler never imports training code: the runner passes the reference
point and the known objectives.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from trifront.errors import ConfigError, unknown_name
from trifront.objectives import DIRECTIONS, OBJECTIVES, reference_point_max
from trifront.search.partition import StaircasePartitioning, improvement, nondominated_cells

with warnings.catch_warnings():
    # botorch imports linear_operator, which applies torch.jit.script at import time;
    # torch 2.13 deprecates it. Not ours to fix, and harmless.
    warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", DeprecationWarning)
    from botorch.acquisition import AcquisitionFunction
    from botorch.acquisition.multi_objective.logei import (
        qLogExpectedHypervolumeImprovement,
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.acquisition.multi_objective.objective import MCMultiOutputObjective
    from botorch.acquisition.multi_objective.utils import (
        prune_inferior_points_multi_objective,
    )
    from botorch.exceptions.warnings import (
        BadInitialCandidatesWarning,
        InputDataWarning,
        NumericsWarning,
        OptimizationWarning,
    )
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.models.transforms.input import Warp
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from botorch.posteriors.torch import TorchPosterior
    from botorch.sampling.get_sampler import get_sampler
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from gpytorch.utils.warnings import GPInputWarning
    from linear_operator.utils.warnings import NumericalWarning

__all__ = [
    "ACQUISITIONS",
    "MODEL_DATA",
    "PROPOSAL_KIND",
    "PROPOSAL_SECONDS",
    "KnownObjective",
    "TrifrontSampler",
]

_logger = logging.getLogger(__name__)

KnownObjective = Callable[[dict[str, Any]], Any]
"""A known objective: params -> value in natural units.

Called first with a dict of ``batch_shape x n`` tensors (continuous relaxation:
int dims unrounded) so that the acquisition optimiser gets autograd gradients; a
function that cannot take tensors is called once per point with valid (rounded)
params, and differentiated by central finite differences along float dims.
"""

PROPOSAL_SECONDS = "proposal_seconds"
"""User attribute: wall time of the sampler's proposal for the trial, in seconds."""
PROPOSAL_KIND = "trifront:proposal"
"""System attribute: how the trial was proposed ("sobol", "model" or "sobol-fallback: why")."""
MODEL_DATA = "trifront:model_data"
"""System attribute of model proposals: {"n_train": usable trials, "n_pending": RUNNING ones}."""

# Warnings BoTorch / GPyTorch raise while fitting and optimising on small, noisy
# data (ill-conditioned covariance, L-BFGS stopping early, unstandardised data
# checks). They are not actionable for a caller and the result is still usable;
# anything that makes the result unusable raises and we fall back to Sobol.
_FIT_WARNINGS: tuple[type[Warning], ...] = (
    OptimizationWarning,
    NumericsWarning,
    InputDataWarning,
    BadInitialCandidatesWarning,
    NumericalWarning,
    GPInputWarning,
)

_ACC_CLAMP = 1e-4
_PRUNE_SAMPLES = 256

ACQUISITIONS: tuple[str, ...] = ("logehvi", "lognehvi")
"""Acquisition functions of the trifront sampler (see ``TrifrontSampler``)."""


class _ModelUnavailable(Exception):
    """The model-based proposal cannot be made; the reason is the message."""


def _to_model_np(index: int, v: np.ndarray) -> np.ndarray:
    """Natural-unit objective ``index`` -> model (maximisation) form, numpy ``n``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if index == 0:
            p = np.clip(v, _ACC_CLAMP, 1 - _ACC_CLAMP)
            return np.log(p) - np.log1p(-p)
        if index == 1:
            return np.where(v > 0, -np.log10(np.where(v > 0, v, 1.0)), np.nan)
        return -v


def _to_model_torch(index: int, v: torch.Tensor) -> torch.Tensor:
    """Natural-unit objective ``index`` -> model (maximisation) form, torch, any shape."""
    if index == 0:
        return torch.logit(v.clamp(_ACC_CLAMP, 1 - _ACC_CLAMP))
    if index == 1:
        return -torch.log10(v)
    return -v


def _to_hv_torch(index: int, v: torch.Tensor) -> torch.Tensor:
    """Natural-unit objective ``index`` -> hypervolume (maximisation) form, any shape.

    The form of ``objectives.to_maximisation``: accuracy, ``-log10 eps``, ``-gap``.
    """
    if index == 0:
        return v
    return _to_model_torch(index, v)


def _model_to_hv_torch(index: int, v: torch.Tensor) -> torch.Tensor:
    """Model form -> hypervolume form: only accuracy differs (logit -> probability)."""
    return torch.sigmoid(v) if index == 0 else v


class _HypervolumeObjective(MCMultiOutputObjective):
    """GP samples of the learned objectives + known objectives -> hypervolume form.

    The GPs model ``logit(accuracy)`` (accuracy lives in (0, 1)), ``-log10 eps``
    and ``-gap``; the hypervolume the sampler maximises is the one trifront
    reports, over (accuracy, log10 eps, gap), so accuracy samples go back
    through the sigmoid. Known objectives are functions of ``X``.

    Args:
        learned: Objective indices of the model's outputs, in output order.
        known: Objective index -> function of unit-cube ``X`` (``batch x q x d``)
            giving its hypervolume-form value (``batch x q``).
    """

    def __init__(
        self, learned: Sequence[int], known: Mapping[int, Callable[[torch.Tensor], torch.Tensor]]
    ) -> None:
        super().__init__()
        self.learned = tuple(learned)
        self.known = dict(known)

    def forward(self, samples: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        columns: list[torch.Tensor] = []
        for index in range(len(OBJECTIVES)):
            if index in self.known:
                if X is None:
                    raise ValueError("known objectives need the inputs X")
                columns.append(self.known[index](X).expand(samples.shape[:-1]))
            else:
                column = samples[..., self.learned.index(index)]
                columns.append(_model_to_hv_torch(index, column))
        return torch.stack(columns, dim=-1)


def _mean_front(
    model: ModelListGP, objective: _HypervolumeObjective, X: torch.Tensor
) -> torch.Tensor:
    """Posterior mean at ``X`` (``n x d``) in hypervolume form, ``n x 3`` (no gradient)."""
    with torch.no_grad():
        mean = cast(TorchPosterior, model.posterior(X)).mean
        return objective(mean.unsqueeze(0), X=X.unsqueeze(0))[0]


class _LogNEHVI(qLogNoisyExpectedHypervolumeImprovement):
    """qLogNEHVI whose per-sample box decompositions use ``StaircasePartitioning``.

    Same cells as BoTorch's ``FastNondominatedPartitioning`` (proved in the
    tests), ~30x faster for 3 objectives; other objective counts keep BoTorch's.
    """

    def _set_cell_bounds(self, num_new_points: int) -> None:
        if cast(torch.Tensor, self.ref_point).shape[-1] == 3 and self.alpha == 0:
            # BoTorch builds one ``p_class(ref_point=..., Y=...)`` per sample here.
            self.p_class = StaircasePartitioning  # type: ignore[assignment]
            self.p_kwargs = {}
        super()._set_cell_bounds(num_new_points)


class _PointwiseKnown(torch.autograd.Function):
    """A point-by-point known objective with a finite-difference gradient.

    Forward: ``evaluate(X)`` for ``X`` of shape ``batch_shape x n x d`` gives
    ``batch_shape x n``. Backward: central differences (step ``1e-4`` in the unit
    cube, one-sided at the bounds) along the continuous dims ``smooth``; zero
    along int and stepped dims, which are rounded anyway.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        X: torch.Tensor,
        evaluate: Callable[[torch.Tensor], torch.Tensor],
        smooth: list[int],
    ) -> torch.Tensor:
        ctx.save_for_backward(X)
        ctx.evaluate, ctx.smooth = evaluate, smooth
        return evaluate(X.detach())

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        (X,) = ctx.saved_tensors
        X = X.detach()
        grad = torch.zeros_like(X)
        for j in ctx.smooth:
            up, down = X.clone(), X.clone()
            up[..., j] = (X[..., j] + 1e-4).clamp(max=1.0)
            down[..., j] = (X[..., j] - 1e-4).clamp(min=0.0)
            width = up[..., j] - down[..., j]
            grad[..., j] = (ctx.evaluate(up) - ctx.evaluate(down)) / width
        return grad * grad_out.unsqueeze(-1), None, None


@dataclass(frozen=True)
class _Space:
    """The numeric dims of the relative search space, sorted by name.

    Unit coordinates are ``(t(x) - t(low)) / (t(high) - t(low))`` with ``t = log``
    for log-scale dims and the identity otherwise.
    """

    names: tuple[str, ...]
    dists: tuple[FloatDistribution | IntDistribution, ...]

    @classmethod
    def from_distributions(cls, space: Mapping[str, BaseDistribution]) -> _Space:
        names = tuple(sorted(space))
        return cls(names, tuple(space[n] for n in names))  # type: ignore[misc]

    @property
    def dim(self) -> int:
        return len(self.names)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        log = np.array([d.log for d in self.dists], dtype=bool)
        low = np.array([math.log(d.low) if d.log else d.low for d in self.dists], dtype=float)
        high = np.array([math.log(d.high) if d.log else d.high for d in self.dists], dtype=float)
        return low, high, log

    def to_unit(self, params: Mapping[str, Any]) -> np.ndarray:
        """Params -> unit-cube point of shape ``d``."""
        lo, hi, log = self._bounds()
        x = np.array(
            [
                math.log(params[n]) if d.log else float(params[n])
                for n, d in zip(self.names, self.dists, strict=True)
            ]
        )
        return np.clip((x - lo) / (hi - lo), 0.0, 1.0)

    def to_params(self, u: np.ndarray) -> dict[str, Any]:
        """Unit-cube point (shape ``d``) -> valid params: rounded to steps, clipped."""
        return self.to_params_rows(np.asarray(u, dtype=float).reshape(1, -1))[0]

    def to_params_rows(self, U: np.ndarray) -> list[dict[str, Any]]:
        """Unit-cube points ``n x d`` -> ``n`` valid params dicts (rounded, clipped)."""
        lo, hi, log = self._bounds()
        t = lo + np.clip(U, 0.0, 1.0) * (hi - lo)
        x = np.where(log, np.exp(t), t)
        for j, dist in enumerate(self.dists):
            if dist.step is not None:
                x[:, j] = dist.low + np.round((x[:, j] - dist.low) / dist.step) * dist.step
        x = np.clip(x, [d.low for d in self.dists], [d.high for d in self.dists])
        columns = [
            np.round(x[:, j]).astype(int).tolist()
            if isinstance(d, IntDistribution)
            else x[:, j].tolist()
            for j, d in enumerate(self.dists)
        ]
        return [dict(zip(self.names, row, strict=True)) for row in zip(*columns, strict=True)]

    def to_param_tensors(self, X: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unit-cube ``batch_shape x n x d`` -> {name: ``batch_shape x n``}, unrounded."""
        lo, hi, log = self._bounds()
        lo_t, hi_t = X.new_tensor(lo), X.new_tensor(hi)
        t = lo_t + X * (hi_t - lo_t)
        return {
            name: (t[..., i].exp() if log[i] else t[..., i]) for i, name in enumerate(self.names)
        }


class TrifrontSampler(BaseSampler):
    """Multi-objective BO for (accuracy, epsilon, unfairness) with a known-epsilon model.

    Relative search space: the intersection of the completed trials' spaces
    (before any trial completes, the distributions of the earliest trial that
    has params). Float and int dims, log or linear, with or without step, are
    modelled. Categorical and single-valued dims are left to the independent
    sampler (``RandomSampler(seed)``), as are params outside the intersection.

    Proposals:

    * Sobol: while fewer than ``n_startup_trials`` trials are COMPLETE or
      RUNNING, the trial gets point ``trial.number`` of a seeded scrambled Sobol
      sequence over the unit cube (the very first trial of a study has no known
      search space yet and is sampled by the independent sampler).
    * Model: inputs normalised to ``[0, 1]^d`` (log dims in log space).
      Outcomes modelled in maximisation form: ``logit(acc)``, ``-log10 eps``,
      ``-gap``. One ``SingleTaskGP`` (Standardize, learned noise: DP-SGD is
      noisy) per learned objective, warm-started from the previous fit, in a
      ``ModelListGP``. An MC objective maps the samples to the form the
      reported hypervolume uses (accuracy, ``-log10 eps``, ``-gap``) and
      computes the known objectives from the inputs exactly. The acquisition
      (``acquisition``) is qLogNEHVI with the completed trials as
      ``X_baseline`` (the default; its per-sample box decompositions by
      ``StaircasePartitioning``) or qLogEHVI against the Pareto front of the
      posterior mean at the completed trials; the other RUNNING trials are
      ``X_pending``; optimised by ``optimize_acqf`` (q=1) in a box of side
      ``local_width`` around the point that adds most to the front (a trust
      region), or over the whole cube. The fit / build / optimise wall times
      and the region go into the ``trifront:model_data`` system attribute.
    * Fallback: if the model cannot be built or optimised (too few usable
      trials, fit or optimisation error, non-finite candidate) the Sobol point
      is used and the reason stored in the trial's ``trifront:proposal``
      system attribute and logged at INFO level.

    Failed or pruned trials and trials with non-finite values are excluded from
    the model. Every proposal stores its wall time in the ``proposal_seconds``
    user attribute. Proposals are deterministic for a given seed and history
    of the study and of the sampler (with ``warm_start`` a GP fit starts where
    the sampler's previous fit ended; ``warm_start=False`` makes each proposal
    a function of the seed and the study alone).

    Args:
        seed: Seed of the Sobol sequence, the acquisition optimiser and the
            independent sampler. None draws one from the OS.
        n_startup_trials: Number of Sobol trials before the model is used.
        reference_point: (accuracy, epsilon, unfairness) in natural units, e.g.
            from ``objectives.reference_point``.
        known_objectives: Objective index -> function of the params giving its
            natural-unit value, e.g. ``{1: lambda p: p["epsilon"]}``. No GP is
            fitted for these. Written with arithmetic (or torch ops) it is
            evaluated on tensors and differentiated by autograd; otherwise
            (e.g. it calls ``float()``) per point, with finite differences.
        num_restarts: Restarts of the acquisition optimiser.
        raw_samples: Raw samples for choosing the restarts' initial points.
        mc_samples: Quasi-MC samples of the acquisition estimate.
        maxiter: Maximum L-BFGS-B iterations per restart.
        num_threads: Torch intra-op threads while proposing (restored afterwards).
        acquisition: ``"lognehvi"`` (default): qLogNEHVI, which integrates
            over the noise of the baseline observations (DP-SGD is noisy), one
            box decomposition per MC sample; ``"logehvi"``: qLogEHVI against the
            Pareto front of the GP posterior mean at the completed trials, one
            decomposition per proposal.
        warm_start: Start each GP fit from the previous proposal's
            hyperparameters.
        input_warping: Learn a Kumaraswamy input warping per dimension
            (BoTorch ``Warp``) in the GPs.
        local_width: The acquisition is maximised in a box of this side
            (unit-cube coordinates, clipped to the cube) centred on the
            completed trial whose posterior mean adds the most hypervolume to
            the front (a trust region; the centre moves to wherever the front
            is sparsest). None searches the whole cube. With few trials in
            many dimensions the GPs are most uncertain at the cube's faces,
            and a global maximiser keeps proposing them (measured in
            ``bench/RESULTS.md``); the box keeps proposals where they refine
            the front. In ``(0, 1]``.

    Raises:
        ConfigError: On a malformed reference point, known objective or budget.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        n_startup_trials: int = 8,
        reference_point: Sequence[float],
        known_objectives: Mapping[int, KnownObjective] | None = None,
        num_restarts: int = 4,
        raw_samples: int = 256,
        mc_samples: int = 32,
        maxiter: int = 100,
        num_threads: int = 1,
        acquisition: str = "lognehvi",
        warm_start: bool = True,
        input_warping: bool = False,
        local_width: float | None = 0.2,
    ) -> None:
        ref = tuple(float(r) for r in reference_point)
        if len(ref) != len(OBJECTIVES):
            raise ConfigError(
                "the length of the reference point must match the number of objectives. "
                f"Got {len(ref)} elements, but expected {len(OBJECTIVES)}."
            )
        if not (0 < ref[0] < 1 and ref[1] > 0 and all(map(math.isfinite, ref))):
            raise ConfigError(
                "the reference point must have 0 < accuracy < 1 and a positive, finite "
                f"epsilon, but got {ref}."
            )
        known = dict(known_objectives or {})
        for index, func in known.items():
            if index not in range(len(OBJECTIVES)) or not callable(func):
                raise ConfigError(
                    "`known_objectives` must map an objective index in {0, 1, 2} to a "
                    f"callable, but got {index!r}: {func!r}."
                )
        if n_startup_trials < 0:
            raise ConfigError(f"`n_startup_trials >= 0` must hold, but got {n_startup_trials}.")
        if not 1 <= num_restarts <= raw_samples:
            raise ConfigError(
                "`1 <= num_restarts <= raw_samples` must hold, but got "
                f"(num_restarts={num_restarts}, raw_samples={raw_samples})."
            )
        if local_width is not None and not 0 < local_width <= 1:
            raise ConfigError(f"`0 < local_width <= 1` must hold, but got {local_width}.")
        if min(mc_samples, maxiter, num_threads) < 1:
            raise ConfigError(
                "`mc_samples`, `maxiter` and `num_threads` must be >= 1, but got "
                f"(mc_samples={mc_samples}, maxiter={maxiter}, num_threads={num_threads})."
            )
        self.reference_point = ref
        self.known_objectives: dict[int, KnownObjective] = known
        self.n_startup_trials = n_startup_trials
        self.num_restarts = num_restarts
        self.raw_samples = raw_samples
        self.mc_samples = mc_samples
        self.maxiter = maxiter
        self.num_threads = num_threads
        if acquisition not in ACQUISITIONS:
            raise unknown_name("acquisition", acquisition, ACQUISITIONS)
        self.acquisition = acquisition
        self.warm_start = warm_start
        self.input_warping = input_warping
        self.local_width = local_width
        self._gp_state: dict[tuple[str, int], dict[str, torch.Tensor]] = {}
        self.gp_fit_counts: dict[str, int] = dict.fromkeys(OBJECTIVES, 0)
        """How many GPs were fitted per objective (known objectives stay at 0)."""
        self._seed = seed
        self._base_seed = self._draw_base_seed(seed)
        self._independent_sampler = RandomSampler(seed=seed)
        self._intersection = IntersectionSearchSpace()

    @staticmethod
    def _draw_base_seed(seed: int | None) -> int:
        entropy = np.random.SeedSequence(seed).generate_state(1)[0]
        return int(entropy)

    def _trial_seed(self, trial_number: int, stream: int) -> int:
        state = np.random.SeedSequence([self._base_seed, stream, trial_number])
        return int(state.generate_state(1)[0])

    def reseed_rng(self) -> None:
        """Reseed from the OS (Optuna calls this in each worker of a parallel study)."""
        self._base_seed = self._draw_base_seed(None)
        self._independent_sampler.reseed_rng()

    # --- search space -------------------------------------------------------

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        space = self._intersection.calculate(study)
        if not space:
            started = [
                t
                for t in study._get_trials(deepcopy=False, use_cache=True)
                if t.number != trial.number and t.distributions
            ]
            if started:
                space = min(started, key=lambda t: t.number).distributions
        return {
            name: dist
            for name, dist in sorted(space.items())
            if isinstance(dist, FloatDistribution | IntDistribution) and not dist.single()
        }

    # --- proposals ----------------------------------------------------------

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if tuple(study.directions) != DIRECTIONS:
            raise ConfigError(
                "the trifront sampler needs a study with directions (maximize, minimize, "
                f"minimize) for {OBJECTIVES}, but got {[d.name for d in study.directions]}."
            )
        start = time.perf_counter()
        space = _Space.from_distributions(search_space)
        trials = [
            t
            for t in study._get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING), use_cache=False
            )
            if t.number != trial.number
        ]
        if len(trials) < self.n_startup_trials:
            kind, params = "sobol", self._sobol(space, trial.number)
        else:
            threads = torch.get_num_threads()
            try:
                # The tensors are tiny: intra-op threads only add synchronisation, and
                # on a loaded machine (trials training in other processes) they make
                # BoTorch's box decompositions ~10x slower.
                torch.set_num_threads(self.num_threads)
                params = self._propose(study, trial, space, trials)
                kind = "model"
            except _ModelUnavailable as err:
                kind = f"sobol-fallback: {err}"
                _logger.info("Trial %d: %s", trial.number, kind)
                params = self._sobol(space, trial.number)
            finally:
                torch.set_num_threads(threads)
        study._storage.set_trial_system_attr(trial._trial_id, PROPOSAL_KIND, kind)
        study._storage.set_trial_user_attr(
            trial._trial_id, PROPOSAL_SECONDS, time.perf_counter() - start
        )
        return params

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._independent_sampler.sample_independent(
            study, trial, param_name, param_distribution
        )

    def _sobol(self, space: _Space, trial_number: int) -> dict[str, Any]:
        engine = torch.quasirandom.SobolEngine(
            space.dim, scramble=True, seed=self._trial_seed(0, stream=0)
        )
        engine.fast_forward(trial_number)
        return space.to_params(engine.draw(1, dtype=torch.double)[0].numpy())

    def _training_data(
        self, space: _Space, trials: Sequence[FrozenTrial]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit inputs ``n x d`` and model-form outcomes ``n x 3`` of usable trials,
        and the unit inputs ``p x d`` of the pending (RUNNING) trials."""
        xs, ys, pending = [], [], []
        for t in trials:
            if not all(n in t.params for n in space.names):
                continue
            if t.state == TrialState.RUNNING:
                pending.append(space.to_unit(t.params))
                continue
            if t.values is None or len(t.values) != len(OBJECTIVES):
                continue
            v = np.asarray(t.values, dtype=float)
            y = np.array([_to_model_np(i, v[i : i + 1])[0] for i in range(len(OBJECTIVES))])
            learned = [i for i in range(len(OBJECTIVES)) if i not in self.known_objectives]
            if not np.isfinite(y[learned]).all():
                continue
            xs.append(space.to_unit(t.params))
            ys.append(y)
        d = space.dim
        return (
            np.array(xs).reshape(-1, d),
            np.array(ys).reshape(-1, len(OBJECTIVES)),
            np.array(pending).reshape(-1, d),
        )

    def _known_function(
        self, index: int, space: _Space, probe: torch.Tensor
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Known objective ``index`` as a differentiable function of unit ``X``.

        ``X`` is ``batch_shape x n x d``; the result ``batch_shape x n`` is in
        hypervolume form. Tensor-friendly functions are evaluated on all points
        at once and differentiated by autograd; others are evaluated point by
        point on valid (rounded) params, with central finite differences.
        """
        func = self.known_objectives[index]

        def vectorised(X: torch.Tensor) -> torch.Tensor:
            value = torch.as_tensor(func(space.to_param_tensors(X)), dtype=X.dtype)
            return _to_hv_torch(index, value)

        def evaluate(X: torch.Tensor) -> torch.Tensor:
            rows = X.reshape(-1, X.shape[-1]).numpy()
            out = torch.tensor([float(func(p)) for p in space.to_params_rows(rows)], dtype=X.dtype)
            return _to_hv_torch(index, out.reshape(X.shape[:-1]))

        smooth = [
            j
            for j, d in enumerate(space.dists)
            if isinstance(d, FloatDistribution) and d.step is None
        ]

        def pointwise(X: torch.Tensor) -> torch.Tensor:
            return cast(torch.Tensor, _PointwiseKnown.apply(X, evaluate, smooth))

        try:
            y = vectorised(probe)
            ok = y.shape == probe.shape[:-1] and bool(torch.isfinite(y).all())
        except Exception:  # noqa: BLE001 - any failure means "not tensor-friendly"
            ok = False
        if ok:
            return vectorised
        try:
            y = pointwise(probe)
        except Exception as err:
            raise _ModelUnavailable(f"known objective {OBJECTIVES[index]} raised {err!r}") from err
        if not torch.isfinite(y).all():
            raise _ModelUnavailable(f"known objective {OBJECTIVES[index]} is not finite")
        return pointwise

    def _fit_gp(self, name: str, X: torch.Tensor, y: torch.Tensor) -> SingleTaskGP:
        """A ``SingleTaskGP`` (Standardize, learned noise) fitted to ``X``, ``y``.

        Shapes: ``X`` is ``n x d``, ``y`` is ``n x 1``.

        With ``warm_start``, the hyperparameters start from the previous fit of
        the same objective (same input dimension), so L-BFGS needs few steps; the
        outcome transform is always recomputed from ``y``.
        """
        warp = None
        if self.input_warping:
            warp = Warp(d=X.shape[-1], indices=list(range(X.shape[-1])), bounds=None)
        model = SingleTaskGP(X, y, outcome_transform=Standardize(m=1), input_transform=warp)
        key = (name, X.shape[-1])
        previous = self._gp_state.get(key) if self.warm_start else None
        if previous is not None:
            try:
                model.load_state_dict(previous, strict=False)
            except RuntimeError:  # shapes changed: fit from the defaults
                self._gp_state.pop(key, None)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        self._gp_state[key] = {
            k: v.detach().clone()
            for k, v in model.state_dict().items()
            if not k.startswith("outcome_transform") and "train" not in k
        }
        self.gp_fit_counts[name] += 1
        return model

    def _propose(
        self, study: Study, trial: FrozenTrial, space: _Space, trials: Sequence[FrozenTrial]
    ) -> dict[str, Any]:
        x_np, y_np, pending_np = self._training_data(space, trials)
        info: dict[str, Any] = {"n_train": len(x_np), "n_pending": len(pending_np)}
        trial_number = trial.number
        if len(x_np) < 2:
            study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
            raise _ModelUnavailable(f"{len(x_np)} usable completed trials (need 2)")
        X = torch.as_tensor(x_np, dtype=torch.double)
        Y = torch.as_tensor(y_np, dtype=torch.double)
        ref = torch.as_tensor(reference_point_max(self.reference_point), dtype=torch.double)
        learned = [i for i in range(len(OBJECTIVES)) if i not in self.known_objectives]
        if not learned:
            study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
            raise _ModelUnavailable("every objective is known: nothing to learn")
        pending = torch.as_tensor(pending_np, dtype=torch.double) if len(pending_np) else None
        with torch.random.fork_rng(), warnings.catch_warnings():
            for category in _FIT_WARNINGS:
                warnings.simplefilter("ignore", category)
            torch.manual_seed(self._trial_seed(trial_number, stream=1))
            try:
                t0 = time.perf_counter()
                known = {i: self._known_function(i, space, X) for i in self.known_objectives}
                model = ModelListGP(
                    *(self._fit_gp(OBJECTIVES[i], X, Y[:, i : i + 1]) for i in learned)
                )
                objective = _HypervolumeObjective(learned, known)
                t1 = time.perf_counter()
                acqf = self._acquisition(model, objective, X, ref, pending)
                bounds, info["region"] = self._region(model, objective, X, ref, pending)
                t2 = time.perf_counter()
                candidate, _ = optimize_acqf(
                    acqf,
                    bounds=bounds,
                    q=1,
                    num_restarts=self.num_restarts,
                    raw_samples=self.raw_samples,
                    options={"maxiter": self.maxiter},
                )
                t3 = time.perf_counter()
            except _ModelUnavailable:
                study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
                raise
            except Exception as err:  # noqa: BLE001 - BoTorch raises many types; we fall back
                study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
                raise _ModelUnavailable(f"{type(err).__name__}: {err}") from err
        info["seconds"] = {"fit": t1 - t0, "build": t2 - t1, "optimise": t3 - t2}
        study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
        u = candidate.detach().reshape(-1).numpy()
        if not np.isfinite(u).all():
            raise _ModelUnavailable("the acquisition optimiser returned a non-finite point")
        return space.to_params(u)

    def _region(
        self,
        model: ModelListGP,
        objective: _HypervolumeObjective,
        X: torch.Tensor,
        ref: torch.Tensor,
        pending: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Bounds (``2 x d``) the acquisition is maximised in, and what they are.

        A box of side ``local_width`` around the baseline point whose posterior
        mean (hypervolume form) has the largest exclusive hypervolume
        contribution; the whole unit cube when ``local_width`` is None or no
        posterior mean beats the reference point. Pending trials count in the
        front at their posterior means (they cannot be centres): a running
        trial near a sparse part of the front lowers its neighbours'
        contributions, so parallel proposals spread over the front.
        """
        d = X.shape[-1]
        cube = torch.stack([torch.zeros(d), torch.ones(d)]).to(X)
        if self.local_width is None:
            return cube, {"kind": "global"}
        everything = X if pending is None else torch.cat([X, pending])
        y = _mean_front(model, objective, everything)
        best, center = 0.0, None
        for i in torch.nonzero((y[: len(X)] > ref).all(dim=-1)).flatten().tolist():
            cells = nondominated_cells(torch.cat([y[:i], y[i + 1 :]]), ref)
            contribution = float(improvement(cells, y[i : i + 1])[0])
            if contribution > best:
                best, center = contribution, i
        if center is None:
            return cube, {"kind": "global", "why": "no posterior mean beats the reference point"}
        half = self.local_width / 2
        c = X[center]
        box = torch.stack([(c - half).clamp(0.0, 1.0), (c + half).clamp(0.0, 1.0)])
        return box, {"kind": "local", "center": c.tolist(), "width": self.local_width}

    def _acquisition(
        self,
        model: ModelListGP,
        objective: _HypervolumeObjective,
        X: torch.Tensor,
        ref: torch.Tensor,
        pending: torch.Tensor | None,
    ) -> AcquisitionFunction:
        """The acquisition function over ``model`` with baseline ``X`` (``n x d``).

        Both acquisitions measure hypervolume in ``objective``'s form against
        ``ref`` (hypervolume form). ``"lognehvi"``: qLogNEHVI, which integrates
        over the baseline's uncertainty with one box decomposition per MC
        sample (``StaircasePartitioning``) and caches the baseline's Cholesky
        root. ``"logehvi"``: qLogEHVI against one decomposition of the front of
        the posterior mean at the baseline (denoised values; known objectives
        exact).
        """
        sampler = get_sampler(
            cast(TorchPosterior, model.posterior(X[:1])),
            sample_shape=torch.Size([self.mc_samples]),
        )
        if self.acquisition == "lognehvi":
            # Keep the baseline points that are Pareto-optimal under at least one of
            # _PRUNE_SAMPLES joint posterior samples (BoTorch's default, 2048, makes
            # this a Python loop of ~0.4 s at 100 trials; points it would add have a
            # probability below ~1/256 of being on the front).
            baseline = prune_inferior_points_multi_objective(
                model=model, X=X, ref_point=ref, objective=objective, num_samples=_PRUNE_SAMPLES
            )
            return _LogNEHVI(
                model=model,
                sampler=sampler,
                objective=objective,
                ref_point=ref,
                X_baseline=baseline,
                X_pending=pending,
                prune_baseline=False,
                cache_root=True,
            )
        partitioning = StaircasePartitioning(ref_point=ref, Y=_mean_front(model, objective, X))
        return qLogExpectedHypervolumeImprovement(
            model=model,
            ref_point=ref,
            partitioning=partitioning,  # type: ignore[arg-type]  # duck-typed: bounds, front
            sampler=sampler,
            objective=objective,
            X_pending=pending,
        )
