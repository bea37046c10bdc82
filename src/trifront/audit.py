"""Run a one-training-run privacy audit of one configuration.

:func:`audit` trains the configuration once with ``m`` canaries, each added to
the training rows independently with probability 1/2. It scores every canary
from the training's released noisy steps, guesses which were in, and turns the
correct guesses into a lower bound on epsilon with :mod:`trifront.privacy.audit`
(Steinke, Nasr & Jagielski, NeurIPS 2023).

**Canaries** are input-space rows chosen by the auditor. They take the
engine's whole path: Poisson sampling, the per-example gradient, clipping to
``C`` and the noise. A skipped clip or missing noise therefore shows in their
traces; a canary whose gradient the auditor injected directly would bypass
the clip and could not reveal a broken one.

Each canary is a random direction in the *quiet* subspace of the encoded
features, the directions the training rows barely use
(:func:`quiet_subspace`), at norm :data:`CANARY_NORM` times ``max(1, C)``. At
that norm its gradient is far above ``C`` and always clipped, so each canary
spends the whole sensitivity. Its label is the one the *initial* (public)
model gets wrong, so its loss stays high. Without clipping (``epsilon = inf``)
the canaries spread over all directions and are :data:`UNCLIPPED_FACTOR` times
longer. Directions and labels come from the public seed and the non-canary
rows, before the secret inclusion vector is drawn.

**Score** (white box, every step). The engines hand each step's noisy
gradient sum to an observer (:class:`~trifront.privacy.dpsgd.StepObserver`).
:class:`StepRecorder` replays the public SGD updates to know the parameters,
and projects each noisy sum on each canary's own gradient direction in the
first layer's weights. Every row moves the biases, and in an MLP the hidden
activations of all rows overlap in the later layers; the first layer's
weights are where the quiet canaries stand apart. :func:`step_scores` sums
per-step log-likelihood ratios of "sampled with probability q". This is the
strongest view DP-SGD's guarantee covers, since the guarantee holds for the
whole sequence of noisy steps.

Without noise (``epsilon = inf``) a step is decoded jointly: the canaries
sampled together are peeled off one by one (:meth:`StepRecorder._peel`), since
about five of them share the first layer's directions in every batch.

**Strength, measured** (``bench/RESULTS.md``). A broken engine is caught, and
without privacy the bound is 1.2-1.8 (1000 canaries). For a correct engine at the
default schedule (``q`` about 0.01, 3 epochs), the bound is a small fraction
of the claim. Two limits account for this:

* each canary enters only about ``epochs`` batches;
* ``m`` canaries share a logistic regression's ``d`` (about 90) directions
  with the data, so they interfere with each other.

Both limits are inherent to one-run auditing of a small, subsampled model.
For the MLP the canaries' gradient directions drift as the hidden layer
learns, and the score is weaker still.

**Preconditions of the theorem**, as met here (each is tested):

* inclusion is i.i.d. Bernoulli(1/2), drawn from the operating system's CSPRNG
  (or from the public seed in research mode), after the canaries are fixed;
* the rest of the input does not depend on the inclusion vector: the training
  split, the initialisation, and the schedule, which counts all ``m``
  canaries toward the public row count, included or not;
* guesses are a function of the released noisy steps and of public values
  only; the inclusion vector is read only to count correct guesses;
* the number of guesses is fixed in advance per tested ``k``, and the best
  ``k`` is Bonferroni-corrected;
* the bound is compared with the claim at the same delta. The canaries enter
  the DP-SGD steps only (the knobs' statistics never read them), so the
  relevant claim is ``epsilon_sgd <= epsilon``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from trifront.errors import ConfigError
from trifront.privacy.audit import best_guesses
from trifront.problem import Problem
from trifront.trial import ExtraRows, fit, initial_model, secret_seed

__all__ = ["CANARY_NORM", "METHOD", "MIN_CANARIES", "AuditResult", "audit", "make_canaries"]

#: Norm of a canary row, in units of ``max(1, C)``: far above any row of the data.
CANARY_NORM = 20.0
#: Steps between recomputations of the MLP canaries' gradient directions (a
#: logistic regression's directions never change; they are computed once).
REFRESH_STEPS = 10
#: Without clipping, canaries are this many times longer still, so the rows'
#: gradients are small beside theirs; a logistic regression's canaries are kept
#: shorter, since a long one is fitted at its first step and its later traces
#: vanish (bench/RESULTS.md, "One-run privacy audit").
UNCLIPPED_FACTOR = {"logreg": 2.0, "mlp": 5.0}
#: Without noise (no clipping), a step is decoded by peeling canaries off while a
#: projection exceeds this many own contributions (:meth:`StepRecorder._peel`) ...
PEEL_THRESHOLD = 0.5
#: ... at most this many times per step (about 5 canaries enter each batch).
PEEL_MAX = 20
#: Smallest spread of a step's projection the score assumes, in units of ``C``.
TAU_FLOOR = 0.1
#: Fewest canaries an audit accepts.
MIN_CANARIES = 10
METHOD = ("one-run audit (Steinke, Nasr & Jagielski 2023): input-space canaries, each "
          "included with probability 1/2; white-box score of every noisy step")
#: What a lower bound means, in one sentence for reports.
MEANING = ("The empirical lower bound is what a concrete attack proves about the trained "
           "model: with the stated confidence its true epsilon is at least this; it must "
           "stay at or below the claimed epsilon, and a gap between them is expected "
           "(the attack is not optimal), while a bound above the claim means a broken "
           "training or accounting.")


@dataclass(frozen=True)
class AuditResult:
    """One audit's numbers.

    Attributes:
        epsilon: The claim, epsilon of the whole run at ``delta``.
        epsilon_sgd: The claim for the DP-SGD steps alone (what canaries see).
        epsilon_lower_bound: The empirical lower bound at ``confidence``.
        delta: The delta of both.
        canaries: ``m``.
        included: How many canaries were trained on (secret until scored).
        confidence: Confidence of the bound.
        guesses: ``r``, guesses made.
        correct: ``v``, correct guesses.
        method: How the audit was run.
        engine: DP-SGD engine.
        model: Model name.
        seconds: Wall time of the whole audit.
        train_seconds: Wall time of the training.
        violated: Whether the lower bound exceeds ``epsilon_sgd``.
        noise_seeded: Research mode: inclusion and noise came from the public seed.
    """

    epsilon: float
    epsilon_sgd: float
    epsilon_lower_bound: float
    delta: float
    canaries: int
    included: int
    confidence: float
    guesses: int
    correct: int
    method: str
    engine: str
    model: str
    seconds: float
    train_seconds: float
    violated: bool
    noise_seeded: bool

    @property
    def ratio(self) -> float:
        """Lower bound over the claim (0 for an infinite claim)."""
        return self.epsilon_lower_bound / self.epsilon if math.isfinite(self.epsilon) else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The fields, plus ``ratio``, for JSON."""
        return {**asdict(self), "ratio": self.ratio}


def quiet_subspace(X: np.ndarray, *, batch_size: float, canaries: int) -> np.ndarray:
    """An orthonormal basis of the feature directions the training rows barely use.

    A canary's trace at a step is hidden by the batch's other rows and by the
    other canaries sampled with it. Along an eigenvector of the rows' second
    moment ``E[x x^T]`` with eigenvalue ``lambda``, a batch of ``B`` rows
    varies by about ``B lambda`` (a linear layer's weight gradient of row
    ``j`` lies along ``x_j``). The ``m / 2`` included canaries, spread over
    ``K`` directions, leave on each other about ``m / (2 K)`` times a
    canary's own trace over the run. The basis is the ``K`` quietest
    eigenvectors, ``K`` minimising ``B mean(lambda_1..K) + m / (2 K)``. The rows are
    the non-canary input, which the theorem lets the auditor know (it does not
    depend on ``S``).

    Args:
        X: Training rows, ``n x d``.
        batch_size: Expected batch size ``B``.
        canaries: ``m``.

    Returns:
        ``d x K`` with orthonormal columns.
    """
    w, V = np.linalg.eigh(X.T @ X / max(len(X), 1))
    sizes = np.arange(1, X.shape[1] + 1)
    cost = batch_size * np.cumsum(np.clip(w, 0, None)) / sizes + canaries / 2 / sizes
    return V[:, : int(sizes[np.argmin(cost)])]


def make_canaries(
    n_features: int, m: int, *, norm: float, seed: int, basis: np.ndarray | None = None
) -> np.ndarray:
    """``m`` canary rows: independent uniformly random directions of norm ``norm``.

    Args:
        n_features: Encoded feature count ``d``.
        m: Number of canaries.
        norm: Euclidean norm of each row.
        seed: Public seed.
        basis: Optional ``d x K`` orthonormal basis the directions are drawn in
            (:func:`quiet_subspace`); None: the whole feature space.

    Returns:
        Rows, shape ``m x d`` (float64).
    """
    rng = np.random.default_rng([int(seed), 0xA0D17])
    k = n_features if basis is None else basis.shape[1]
    X = rng.standard_normal((m, k))
    if basis is not None:
        X = X @ basis.T
    return X / np.linalg.norm(X, axis=1, keepdims=True) * norm


def _logits(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    param = next(model.parameters())
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=param.dtype)).reshape(-1).double().numpy()


def _flat_params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()


class StepRecorder:
    """The auditor's white-box view: each step's noisy sum along each canary's gradient.

    It replays the public part of training: from the public initial model it
    applies each released noisy step (plain SGD, ``theta -= lr * noisy_sum /
    (q n)``, what both engines do), so it knows the parameters at every step.
    Every ``refresh`` steps it computes each canary's own loss gradient at
    those parameters (with ``torch.func``, independently of the engine under
    audit). It records each step's noisy sum along the unit direction of that
    gradient's part in the first layer's weights (where the quiet canaries
    stand apart from the rows), in units of ``C`` (without clipping: of the
    canaries' median initial gradient norm). A sampled canary whose gradient
    is clipped shows as about ``+1``.

    Args:
        model: A copy of the public initial model (its parameters are read only).
        X: Canary rows, ``m x d``.
        y: Canary labels, ``(m,)``.
        lr: Learning rate.
        divisor: The engine's divisor of the noisy sum, ``q n`` (public).
        clip: ``C``, or None without clipping.
        refresh: Steps between two computations of the canaries' gradients.
    """

    def __init__(self, model: torch.nn.Module, X: np.ndarray, y: np.ndarray, *, lr: float,
                 divisor: float, clip: float | None, refresh: int = 1) -> None:
        from torch.func import functional_call, grad, vmap

        self.names = [k for k, _ in model.named_parameters()]
        self.shapes = [p.shape for p in model.parameters()]
        self.theta = _flat_params(model)
        dtype = next(model.parameters()).dtype
        self.X = torch.as_tensor(X, dtype=dtype)
        self.y = torch.as_tensor(y, dtype=dtype)
        self.step_size = lr / divisor
        self.refresh = max(1, int(refresh))
        self.scale = 1.0 if clip is None else float(clip)
        self.fixed_scale = clip is not None
        self.unit: torch.Tensor | None = None
        self.rows: list[torch.Tensor] = []

        def loss(p: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            z = functional_call(model, p, (x.unsqueeze(0),)).reshape(())
            return torch.nn.functional.binary_cross_entropy_with_logits(z, t)

        self._grads = vmap(grad(loss), in_dims=(None, 0, 0))

    def _params(self) -> dict[str, torch.Tensor]:
        out, off = {}, 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            size = int(np.prod(shape))
            out[name] = self.theta[off: off + size].view(shape).to(self.X.dtype)
            off += size
        return out

    def __call__(self, step: int, noisy_sum: list[torch.Tensor]) -> None:
        flat = torch.cat([t.reshape(-1) for t in noisy_sum]).double()
        if self.unit is None or step % self.refresh == 0:
            g = self._grads(self._params(), self.X, self.y)
            G = torch.cat([g[k].reshape(len(self.X), -1) * (k == self.names[0])
                           for k in self.names], dim=1).double()
            norm = G.norm(dim=1, keepdim=True).clamp_min(1e-300)
            if self.unit is None and not self.fixed_scale:
                self.scale = float(norm.median())
            self.unit = G / norm
        along = self.unit @ flat / self.scale
        self.rows.append(along if self.fixed_scale else self._peel(along))
        self.theta -= self.step_size * flat

    def _peel(self, along: torch.Tensor) -> torch.Tensor:
        """Decode a step without noise jointly: peel the strongest canaries off one by one.

        Without clipping and noise a step's sum is its rows' and its sampled
        canaries' gradients. The canaries share the first layer's directions,
        so projecting on one canary at a time also picks up the others' traces.
        Matching pursuit: take the canary with the largest projection, record
        it, remove its whole component from the sum (through the canaries' Gram
        matrix), and repeat while a projection exceeds :data:`PEEL_THRESHOLD`,
        at most :data:`PEEL_MAX` times. A function of the released step and
        public values only.

        Args:
            along: ``(m,)`` the step's sum along each canary's unit gradient, in
                units of the canaries' median initial gradient norm.

        Returns:
            ``(m,)`` the peeled canaries' projections and the others' residuals.
        """
        assert self.unit is not None
        residual = along.clone()
        out = along.clone()
        peeled = torch.zeros_like(out, dtype=torch.bool)
        for _ in range(PEEL_MAX):
            masked = torch.where(peeled, torch.full_like(out, -math.inf), residual)
            c = int(torch.argmax(masked))
            if float(masked[c]) < PEEL_THRESHOLD:
                break
            out[c], peeled[c] = masked[c], True
            residual = residual - residual[c] * (self.unit @ self.unit[c])
        return torch.where(peeled, out, residual)

    def projections(self) -> np.ndarray:
        """``T x m``: step ``t``'s noisy sum along canary ``i``, in units of ``C``."""
        if not self.rows:
            return np.zeros((0, len(self.X)))
        return torch.stack(self.rows).numpy()


def step_scores(a: np.ndarray, *, sample_rate: float, tau_floor: float = 0.0) -> np.ndarray:
    """Per-canary log-likelihood ratio of "sampled with probability q at each step".

    Each step's projection (in units of the canary's own contribution) is
    modelled as ``N(0, tau^2)`` when the canary is out of the batch and
    ``N(1, tau^2)`` when in; ``tau`` is estimated from all projections (median
    absolute deviation, after removing each canary's median over steps), and
    is at least ``tau_floor`` (without noise most projections are near 0).
    The
    score sums ``log(1 - q + q exp((a - 1/2) / tau^2))`` over steps: the
    Neyman-Pearson statistic of that model. It reads the released steps and
    public values only.

    Args:
        a: ``T x m`` projections (:meth:`StepRecorder.projections`).
        sample_rate: Poisson rate ``q`` (public).
        tau_floor: Smallest ``tau`` used.

    Returns:
        ``(m,)`` scores, higher for canaries more likely trained on.
    """
    if a.size == 0:
        return np.zeros(a.shape[1])
    centred = a - np.median(a, axis=0, keepdims=True)
    tau = 1.4826 * float(np.median(np.abs(centred)))
    tau = max(tau, tau_floor, 1e-12)
    llr = (centred - 0.5) / tau**2
    q = min(max(sample_rate, 1e-12), 1 - 1e-12)
    terms = np.logaddexp(math.log1p(-q), math.log(q) + llr)
    return terms.sum(axis=0)


def draw_inclusion(m: int, *, seed: int | None) -> np.ndarray:
    """The secret inclusion vector: ``m`` i.i.d. fair coins.

    Args:
        m: Number of canaries.
        seed: None draws from the operating system (the default); an integer
            only in research mode.
    """
    rng = np.random.default_rng(secret_seed() if seed is None else [int(seed), 0x5EC2E7])
    return rng.random(m) < 0.5


def audit(
    problem: Problem,
    params: Mapping[str, Any],
    *,
    seed: int,
    canaries: int = 1000,
    confidence: float = 0.95,
) -> AuditResult:
    """Train once with canaries and bound epsilon from below.

    Args:
        problem: The problem (data set, model, engine, delta, ...).
        params: The configuration, as for :func:`trifront.trial.evaluate`.
        seed: The public seed (initialisation, canaries).
        canaries: ``m >= MIN_CANARIES``.
        confidence: Confidence of the bound, in ``(0, 1)``.

    Returns:
        The audit's result.

    Raises:
        ConfigError: On bad counts or confidence, or an invalid configuration.
        TrialFailedError: If training diverges.
    """
    if isinstance(canaries, bool) or int(canaries) != canaries or canaries < MIN_CANARIES:
        raise ConfigError(f"`canaries >= {MIN_CANARIES}` must hold (an integer), "
                          f"but got canaries={canaries}.")
    if not 0 < confidence < 1:
        raise ConfigError(f"`0 < confidence < 1` must hold, but got confidence={confidence}.")
    t0 = time.perf_counter()
    ds = problem.validate()
    m = int(canaries)
    clip = float(params["clip"]) if "clip" in params else 1.0
    private = math.isfinite(float(params.get("target_epsilon", 0.0))) and float(
        params.get("noise_multiplier", 1.0)) > 0
    # Clipped canaries hide least among the rows in the directions the rows barely
    # use; unclipped ones dwarf the rows anyway and interfere least spread over all.
    norm = CANARY_NORM * max(1.0, clip) * (1.0 if private else UNCLIPPED_FACTOR[problem.model])
    n_public = ds.n_train_public + m
    q = int(params["batch_size"]) / n_public
    basis = None
    if private:
        basis = quiet_subspace(ds.train.X, batch_size=q * ds.n_train_public, canaries=m)
    X_c = make_canaries(ds.n_features, m, norm=norm, seed=seed, basis=basis)
    start = initial_model(problem, params, n_features=ds.n_features, seed=int(seed))
    z0 = _logits(start, X_c)
    y_c = (z0 < 0).astype(np.float64)  # the label the public initial model gets wrong
    included = draw_inclusion(m, seed=seed if problem.reproducible else None)
    extra = ExtraRows(X=X_c[included], y=y_c[included], public_count=m)
    recorder = StepRecorder(initial_model(problem, params, n_features=ds.n_features,
                                          seed=int(seed)),
                            X_c, y_c, lr=float(params["lr"]), divisor=q * n_public,
                            clip=clip if private else None,
                            refresh=10**9 if problem.model == "logreg" else REFRESH_STEPS)
    fitted = fit(problem, params, seed=seed, extra=extra, observe=recorder)
    scores = step_scores(recorder.projections(), sample_rate=fitted.plan.sample_rate,
                         tau_floor=TAU_FLOOR)
    outcome = best_guesses(scores, included, confidence=confidence, delta=problem.delta)
    lower = outcome.epsilon_lower_bound
    return AuditResult(
        epsilon=fitted.epsilon, epsilon_sgd=fitted.epsilon_sgd, epsilon_lower_bound=lower,
        delta=float(problem.delta), canaries=m, included=int(included.sum()),
        confidence=float(confidence), guesses=outcome.guesses, correct=outcome.correct,
        method=METHOD, engine=problem.engine, model=problem.model,
        seconds=time.perf_counter() - t0, train_seconds=fitted.train_seconds,
        violated=bool(lower > fitted.epsilon_sgd), noise_seeded=bool(problem.reproducible),
    )
