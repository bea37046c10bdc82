"""The trifront sampler: BoTorch multi-objective Bayesian optimisation on an Optuna study.

The chain is BoTorch's: normalised inputs (``encoding``) -> one GP per learned
objective (``model``, in a ``ModelListGP``) -> an MC objective that maps the GP
samples back to the units the hypervolume is measured in (``transforms``) and
adds the objectives that are known functions of the parameters (``known``; such
as epsilon when the target epsilon is searched) -> qLogNEHVI against a fixed
reference point (``acquisition``) -> ``optimize_acqf`` in a trust region
(``region``) -> parameters. The first trials are scrambled Sobol points.

The sampler never imports training code: the runner passes the reference
point and the known objectives.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from trifront.errors import ConfigError, unknown_name
from trifront.objectives import (
    DIRECTIONS,
    OBJECTIVES,
    UNSEARCHED_MARGIN,
    parse_objectives,
    reference_point_max,
)
from trifront.search.acquisition import HypervolumeObjective, make_acquisition
from trifront.search.encoding import Space, training_data
from trifront.search.known import KnownObjective, known_function
from trifront.search.model import FIT_WARNINGS, ModelUnavailable, fit_gp
from trifront.search.region import trust_region

with warnings.catch_warnings():
    # botorch imports linear_operator, which applies torch.jit.script at import time;
    # torch 2.13 deprecates it. Not ours to fix, and harmless.
    warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", DeprecationWarning)
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.optim import optimize_acqf

__all__ = [
    "ACQUISITIONS",
    "MODEL_DATA",
    "PROPOSAL_KIND",
    "PROPOSAL_SECONDS",
    "KnownObjective",
    "TrifrontSampler",
]

_logger = logging.getLogger(__name__)

PROPOSAL_SECONDS = "proposal_seconds"
"""User attribute: wall time of the sampler's proposal for the trial, in seconds."""
PROPOSAL_KIND = "trifront:proposal"
"""System attribute: how the trial was proposed ("sobol", "model" or "sobol-fallback: why")."""
MODEL_DATA = "trifront:model_data"
"""System attribute of model proposals: {"n_train": usable trials, "n_pending": RUNNING ones}."""

ACQUISITIONS: tuple[str, ...] = ("logehvi", "lognehvi")
"""Acquisition functions of the trifront sampler (see ``TrifrontSampler``)."""


def _constant(value: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """A known objective of hypervolume-form ``value`` everywhere (one not searched)."""

    def constant(X: torch.Tensor) -> torch.Tensor:
        return torch.full(X.shape[:-1], value, dtype=X.dtype)

    return constant


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
        batch: Candidates per model proposal (``q``). With ``batch > 1`` one
            fit and one greedy (sequential) optimisation give the trial asked
            for and the next ``batch - 1`` asks, which get the queued
            candidates without a proposal of their own (their
            ``trifront:model_data`` names the trial whose proposal made them).
            With workers, the runner sets it to the trials that can be in
            flight plus one (six with two workers; never more than the study
            still needs), so the workers train while the driver fits once per
            batch.
        objectives: The searched objectives (``objectives.OBJECTIVE_SETS``).
            An objective not searched gets no GP and a constant above the
            reference point, so the sampler maximises the 2-D hypervolume
            of the others (DPareto's privacy-utility front with
            ``("accuracy", "epsilon")``).
        fixed: Parameters every proposal takes at the given value (natural
            units): the acquisition is maximised with those coordinates held
            there, while the models still learn from trials that varied them.
            ``refine`` holds ``target_epsilon`` at the region's limit.

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
        objectives: Sequence[str] = OBJECTIVES,
        batch: int = 1,
        fixed: Mapping[str, float] | None = None,
    ) -> None:
        self.objectives = parse_objectives(objectives)
        self.fixed = {str(k): float(v) for k, v in dict(fixed or {}).items()}
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"`batch >= 1` must hold for an integer, but got batch={batch!r}.")
        self.batch = batch
        # (the next trial number, the search space, unit-cube candidates, the proposing trial)
        self._queued: tuple[int, tuple[str, ...], list[np.ndarray], int] | None = None
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
        known = {i: f for i, f in dict(known_objectives or {}).items()
                 if not (isinstance(i, int) and 0 <= i < len(OBJECTIVES)
                         and OBJECTIVES[i] not in self.objectives)}
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
        space = Space.from_distributions(search_space)
        trials = [
            t
            for t in study._get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING), use_cache=False
            )
            if t.number != trial.number
        ]
        queued = self._take_queued(study, trial, space)
        if len(trials) < self.n_startup_trials:
            kind, params = "sobol", self._sobol(space, trial.number)
        elif queued is not None:
            kind, params = "model", queued
        else:
            threads = torch.get_num_threads()
            try:
                # The tensors are tiny: intra-op threads only add synchronisation, and
                # on a loaded machine (trials training in other processes) they make
                # BoTorch's box decompositions ~10x slower.
                torch.set_num_threads(self.num_threads)
                params = self._propose(study, trial, space, trials)
                kind = "model"
            except ModelUnavailable as err:
                kind = f"sobol-fallback: {err}"
                _logger.info("Trial %d: %s", trial.number, kind)
                params = self._sobol(space, trial.number)
            finally:
                torch.set_num_threads(threads)
        params.update({k: v for k, v in self.fixed.items() if k in params})
        study._storage.set_trial_system_attr(trial._trial_id, PROPOSAL_KIND, kind)
        study._storage.set_trial_user_attr(
            trial._trial_id, PROPOSAL_SECONDS, time.perf_counter() - start
        )
        return params

    def _fixed_units(self, space: Space) -> dict[int, float]:
        """Unit-cube coordinate of each fixed parameter of ``space``, by column."""
        if not self.fixed:
            return {}
        mid = {n: (d.low + d.high) / 2 for n, d in zip(space.names, space.dists, strict=True)}
        u = space.to_unit({**mid, **{k: v for k, v in self.fixed.items() if k in mid}})
        return {j: float(u[j]) for j, n in enumerate(space.names) if n in self.fixed}

    def _take_queued(self, study: Study, trial: FrozenTrial,
                     space: Space) -> dict[str, Any] | None:
        """The next candidate of the last batch, if it was made for this very ask."""
        queued, self._queued = self._queued, None
        if queued is None:
            return None
        number, names, candidates, source = queued
        if number != trial.number or names != space.names or not candidates:
            return None
        if len(candidates) > 1:
            self._queued = (number + 1, names, candidates[1:], source)
        study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA,
                                             {"batch_of": source})
        return space.to_params(candidates[0])

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

    def _sobol(self, space: Space, trial_number: int) -> dict[str, Any]:
        engine = torch.quasirandom.SobolEngine(
            space.dim, scramble=True, seed=self._trial_seed(0, stream=0)
        )
        engine.fast_forward(trial_number)
        return space.to_params(engine.draw(1, dtype=torch.double)[0].numpy())

    def _fit_gp(self, name: str, X: torch.Tensor, y: torch.Tensor) -> SingleTaskGP:
        """``model.fit_gp`` for objective ``name``, warm-started as the sampler is set up.

        Shapes: ``X`` is ``n x d``, ``y`` is ``n x 1``.
        """
        model = fit_gp(
            X,
            y,
            input_warping=self.input_warping,
            warm_start=self.warm_start,
            states=self._gp_state,
            key=(name, X.shape[-1]),
        )
        self.gp_fit_counts[name] += 1
        return model

    def _propose(
        self, study: Study, trial: FrozenTrial, space: Space, trials: Sequence[FrozenTrial]
    ) -> dict[str, Any]:
        ignored = [i for i, name in enumerate(OBJECTIVES) if name not in self.objectives]
        x_np, y_np, pending_np = training_data(
            space, trials, known={*self.known_objectives, *ignored})
        info: dict[str, Any] = {"n_train": len(x_np), "n_pending": len(pending_np),
                                "reference_point": list(self.reference_point)}
        trial_number = trial.number
        if len(x_np) < 2:
            study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
            raise ModelUnavailable(f"{len(x_np)} usable completed trials (need 2)")
        X = torch.as_tensor(x_np, dtype=torch.double)
        Y = torch.as_tensor(y_np, dtype=torch.double)
        ref = torch.as_tensor(reference_point_max(self.reference_point), dtype=torch.double)
        learned = [i for i in range(len(OBJECTIVES))
                   if i not in self.known_objectives and i not in ignored]
        if not learned:
            study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
            raise ModelUnavailable("every objective is known: nothing to learn")
        pending = torch.as_tensor(pending_np, dtype=torch.double) if len(pending_np) else None
        with torch.random.fork_rng(), warnings.catch_warnings():
            for category in FIT_WARNINGS:
                warnings.simplefilter("ignore", category)
            torch.manual_seed(self._trial_seed(trial_number, stream=1))
            try:
                t0 = time.perf_counter()
                known = {
                    i: known_function(func, index=i, space=space, probe=X)
                    for i, func in self.known_objectives.items()
                }
                for i in ignored:
                    known[i] = _constant(float(ref[i]) + UNSEARCHED_MARGIN)
                model = ModelListGP(
                    *(self._fit_gp(OBJECTIVES[i], X, Y[:, i : i + 1]) for i in learned)
                )
                objective = HypervolumeObjective(learned, known)
                t1 = time.perf_counter()
                acqf = make_acquisition(
                    self.acquisition, model, objective, X, ref, pending, mc_samples=self.mc_samples
                )
                bounds, info["region"] = trust_region(
                    model, objective, X, ref, pending, width=self.local_width
                )
                for j, value in self._fixed_units(space).items():
                    bounds[:, j] = value
                t2 = time.perf_counter()
                candidate, _ = optimize_acqf(
                    acqf,
                    bounds=bounds,
                    q=self.batch,
                    # Greedy: each candidate maximises the acquisition with the ones
                    # before it pending; q one-point optimisations cost less than one
                    # joint q-point optimisation, and share the fit.
                    sequential=self.batch > 1,
                    num_restarts=self.num_restarts,
                    raw_samples=self.raw_samples,
                    options={"maxiter": self.maxiter},
                )
                t3 = time.perf_counter()
            except ModelUnavailable:
                study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
                raise
            except Exception as err:  # noqa: BLE001 - BoTorch raises many types; we fall back
                study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
                raise ModelUnavailable(f"{type(err).__name__}: {err}") from err
        info["seconds"] = {"fit": t1 - t0, "build": t2 - t1, "optimise": t3 - t2}
        study._storage.set_trial_system_attr(trial._trial_id, MODEL_DATA, info)
        U = candidate.detach().reshape(self.batch, -1).numpy()
        if not np.isfinite(U).all():
            raise ModelUnavailable("the acquisition optimiser returned a non-finite point")
        if self.batch > 1:
            self._queued = (trial_number + 1, space.names, list(U[1:]), trial_number)
        return space.to_params(U[0])
