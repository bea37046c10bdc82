"""The fast DP-SGD engine: per-example gradients in closed form, no DataLoader.

For the built-in models only (:class:`~trifront.models.LogisticRegression` and
:class:`~trifront.models.MLP`). The whole training split stays in memory as
tensors. Each step:

1. takes a Poisson batch (drawn for a whole epoch at once by geometric
   skipping, :func:`poisson_batches`);
2. runs the forward pass and the per-example logit gradient of the whole
   per-example loss ``w_i BCE(z_i, y_i) + a_i sigmoid(z_i)``:
   ``delta_i = w_i (p_i - y_i) + a_i p_i (1 - p_i)`` with ``p_i = sigmoid(z_i)``
   (``a_i``: the fair-loss coefficient, refreshed each epoch, see
   :class:`~trifront.privacy.dpsgd.FairTerm`). Each example's loss depends on
   its own logit only, so its gradient is ``delta_i`` times the gradient of
   ``z_i``, and clipping ``delta_i`` clips the whole per-example gradient;
3. computes each example's gradient norm without forming the gradient. For a
   linear layer with input ``a_i`` and output gradient ``g_i`` the per-example
   gradient is the outer product ``g_i a_i^T`` (plus ``g_i`` for the bias), of
   squared norm ``||g_i||^2 (||a_i||^2 + 1)``. For logistic regression and one
   hidden layer this is known in closed form before the backward pass (see
   :class:`_FlatNet`), so ``delta`` itself is clipped and back-propagated;
   deeper networks back-propagate first and rescale each layer;
4. clips with ``c_i = min(1, C / (||g_i|| + 1e-6))`` over the whole parameter
   vector (Opacus' factor) and forms the clipped sum as matrix products
   ``a^T (c * g)``;
5. adds ``N(0, (sigma C)^2)`` per coordinate, divides by ``q n`` and takes an
   SGD (momentum) step on a flat copy of the parameters, written back to the
   model at the end.

Without ``max_grad_norm`` the same loop runs with ``c_i = 1`` and no noise.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from trifront.errors import ConfigError
from trifront.models.modules import MLP, LogisticRegression
from trifront.privacy.dpsgd import CLIP_EPS, FairTerm, RunRecord, TrainConfig, epoch_starts

SUPPORTED_MODELS: tuple[type[nn.Module], ...] = (LogisticRegression, MLP)
"""Model classes the fast engine trains (exact types, not subclasses)."""

_NOISE_BLOCK_NUMBERS = 1 << 20
"""Most Gaussian numbers drawn per call (noise for several steps at once)."""


def poisson_batches(
    n: int, sample_rate: float, steps: int, generator: torch.Generator
) -> tuple[torch.Tensor, list[int]]:
    """Draw ``steps`` independent Poisson batches of ``0..n-1`` at once.

    Each example is in each batch independently with probability ``q``. The
    ``steps x n`` (step, example) slots are scanned in order by geometric
    skipping: the gaps between selected slots are i.i.d. ``Geometric(q)``
    (failures before a success), drawn as ``floor(E / -log(1 - q))`` with
    ``E ~ Exp(1)``. That is the same distribution as one Bernoulli(q) coin per
    slot, for ``~q n`` random numbers per batch instead of ``n``.

    Args:
        n: Number of examples.
        sample_rate: Inclusion probability ``q`` in ``(0, 1]``.
        steps: Number of batches.
        generator: Source of randomness.

    Returns:
        ``(indices, offsets)``: batch ``k`` is ``indices[offsets[k]:offsets[k + 1]]``
        (sorted, distinct, int64; size ``~ Binomial(n, q)``, possibly 0);
        ``len(offsets) == steps + 1``.
    """
    if sample_rate >= 1.0:
        return torch.arange(n).repeat(steps), [k * n for k in range(steps + 1)]
    total = n * steps  # positions stay exact in float64 below 2**53
    rate = -math.log1p(-sample_rate)
    mean = sample_rate * total
    chunk = int(mean + 8.0 * math.sqrt(mean * (1.0 - sample_rate)) + 16)
    pieces = []
    start = 0.0
    while True:
        gaps = torch.empty(chunk, dtype=torch.float64).exponential_(generator=generator)
        pos = gaps.div_(rate).floor_().add_(1.0).cumsum_(0).add_(start - 1.0)
        k = int(torch.searchsorted(pos, float(total)))
        if k < chunk:
            pieces.append(pos[:k])
            break
        pieces.append(pos)
        start = float(pos[-1]) + 1.0
    slots = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
    bounds = torch.arange(steps + 1, dtype=torch.float64) * n
    offsets = torch.searchsorted(slots, bounds).tolist()
    step_of = torch.floor(slots / n)
    return (slots - step_of * n).long(), offsets


def poisson_indices(n: int, sample_rate: float, generator: torch.Generator) -> torch.Tensor:
    """Draw one Poisson batch: each of ``0..n-1`` is in independently with prob. ``q``.

    Args:
        n: Number of examples.
        sample_rate: Inclusion probability ``q`` in ``(0, 1]``.
        generator: Source of randomness.

    Returns:
        Sorted distinct indices, int64, shape ``(b,)`` with ``b ~ Binomial(n, q)``.
    """
    return poisson_batches(n, sample_rate, 1, generator)[0]


def _check_model(model: nn.Module) -> list[nn.Linear]:
    if type(model) not in SUPPORTED_MODELS:
        names = ", ".join(cls.__name__ for cls in SUPPORTED_MODELS)
        raise ConfigError(
            f"the fast engine trains only the built-in models ({names}), but got "
            f"{type(model).__name__}; use engine='opacus' for other models."
        )
    return model.linear_layers()  # type: ignore[operator]


class _FlatNet:
    """A chain of linear layers with ReLUs in between, on one flat parameter vector.

    The flat vector holds, layer after layer, the *transposed* weight ``W^T``
    (``in x out``, row-major, so the forward pass is a plain ``addmm``) then the
    bias (``out``). For logistic regression this is ``[w, b]``.

    Per-example squared gradient norms: with ``a_l`` the input and ``g_l`` the
    output gradient of layer ``l``, ``||grad_i||^2 = sum_l ||g_l,i||^2
    (||a_l,i||^2 + 1)``. For one or two layers it is known before the backward
    pass, as ``delta_i^2 s_i``:

    * logistic regression: ``s_i = ||x_i||^2 + 1``;
    * one hidden layer ``a = relu(x W1^T + b1)`` with output weights ``w2`` and
      mask ``m_i = 1[a_i > 0]``: ``g_1,i = delta_i (w2 * m_i)``, so
      ``s_i = ||a_i||^2 + 1 + (m_i . w2^2)(||x_i||^2 + 1)``.

    Then ``delta`` itself is clipped and back-propagated, and every layer's
    gradient comes out clipped. Deeper networks back-propagate first, then take
    the norms and rescale each layer.

    Args:
        layers: The model's linear layers in forward order.
        max_grad_norm: ``C``, or ``None`` for no clipping.
    """

    def __init__(self, layers: list[nn.Linear], max_grad_norm: float | None) -> None:
        self.layers = layers
        chunks = []
        for lin in layers:
            chunks += [lin.weight.detach().t().reshape(-1), lin.bias.detach().reshape(-1)]
        self.theta = torch.cat(chunks)
        self.grad = torch.zeros_like(self.theta)
        self.wts: list[torch.Tensor] = []  # W^T views, in x out
        self.bs: list[torch.Tensor] = []
        self.gwts: list[torch.Tensor] = []
        self.gbs: list[torch.Tensor] = []
        off = 0
        for lin in layers:
            out_f, in_f = lin.weight.shape
            for store, gstore, size, shape in (
                (self.wts, self.gwts, out_f * in_f, (in_f, out_f)),
                (self.bs, self.gbs, out_f, (out_f,)),
            ):
                store.append(self.theta[off : off + size].view(shape))
                gstore.append(self.grad[off : off + size].view(shape))
                off += size
        self.depth = len(layers)
        self.clip = max_grad_norm
        # 0-d tensors: arithmetic with them skips wrapping a Python scalar per op.
        c = max_grad_norm if max_grad_norm is not None else 1.0
        dtype = self.theta.dtype
        self.one = torch.tensor(1.0, dtype=dtype)
        self.eps_over_c = torch.tensor(CLIP_EPS / c, dtype=dtype)
        self.inv_c = torch.tensor(1.0 / c, dtype=dtype)

    def write_back(self) -> None:
        """Copy the flat parameters into the model's own parameters."""
        with torch.no_grad():
            for lin, wt, b in zip(self.layers, self.wts, self.bs, strict=True):
                lin.weight.copy_(wt.t())
                lin.bias.copy_(b)

    def grads_as_params(self) -> list[torch.Tensor]:
        """The gradient as tensors shaped like ``model.parameters()``."""
        out = []
        for gwt, gb in zip(self.gwts, self.gbs, strict=True):
            out += [gwt.t().clone(), gb.clone()]
        return out

    def input_constant(self, X: torch.Tensor) -> torch.Tensor | None:
        """Per-example constant of the clipping norms that depends on the input only.

        Args:
            X: Features, shape ``n x d``.

        Returns:
            ``sqrt(||x_i||^2 + 1) / C`` for logistic regression, ``||x_i||^2 + 1``
            otherwise, shape ``(n,)``; ``None`` when not clipping.
        """
        if self.clip is None:
            return None
        norm = torch.linalg.vector_norm(X, dim=1)
        if self.depth == 1:
            return torch.hypot(norm, self.one).mul_(self.inv_c)
        return norm.square_().add_(self.one)

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """Logits of ``X`` (``n x d``) at the current flat parameters, shape ``(n,)``."""
        h = X
        for i in range(self.depth - 1):
            h = torch.addmm(self.bs[i], h, self.wts[i]).clamp_min_(0.0)
        return torch.addmv(self.bs[-1].expand(len(X)), h, self.wts[-1].view(-1))

    # -- one step's computations, shared by training and clipped_grad_sum ---------

    def _divisor(self, delta: torch.Tensor, scaled_norm: torch.Tensor) -> torch.Tensor:
        """``max(1, |delta_i| scaled_norm_i + eps / C)``: dividing by it clips to ``C``.

        With ``scaled_norm_i = ||grad_i|| / (C |delta_i|)`` this is
        ``max(1, (||grad_i|| + eps) / C) = 1 / min(1, C / (||grad_i|| + eps))``,
        the inverse of Opacus' clip factor.
        """
        return torch.addcmul(self.eps_over_c, delta.abs(), scaled_norm).clamp_min_(self.one)

    def step_grad(
        self,
        xb: torch.Tensor,
        yb: torch.Tensor,
        wb: torch.Tensor | None,
        xc: torch.Tensor | None,
        ab: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Store the (clipped) per-example gradient sum of a batch in ``self.grad``.

        Args:
            xb: Batch features, ``b x d``.
            yb: Batch labels in ``{0, 1}``, ``(b,)``.
            wb: Optional batch loss weights, ``(b,)``.
            xc: The batch's :meth:`input_constant`, ``(b,)``; ``None`` computes it
                from ``xb`` (when clipping).
            ab: Optional fair-loss coefficients ``a_i``, ``(b,)``.

        Returns:
            The logits, ``(b,)``.
        """
        if self.clip is not None and xc is None:
            xc = self.input_constant(xb)
        if self.depth == 1:
            return self._step_logreg(xb, yb, wb, xc, ab)
        if self.depth == 2:
            return self._step_one_hidden(xb, yb, wb, xc, ab)
        return self._step_deep(xb, yb, wb, xc, ab)

    def _step_logreg(
        self,
        xb: torch.Tensor,
        yb: torch.Tensor,
        wb: torch.Tensor | None,
        xc: torch.Tensor | None,
        ab: torch.Tensor | None,
    ) -> torch.Tensor:
        z = torch.addmv(self.bs[0].expand(len(xb)), xb, self.wts[0].view(-1))
        delta = _delta(z, yb, wb, ab)
        if xc is not None:
            delta.div_(self._divisor(delta, xc))
        torch.mv(xb.t(), delta, out=self.gwts[0].view(-1))
        torch.sum(delta, dim=0, keepdim=True, out=self.gbs[0])
        return z

    def _step_one_hidden(
        self,
        xb: torch.Tensor,
        yb: torch.Tensor,
        wb: torch.Tensor | None,
        xc: torch.Tensor | None,
        ab: torch.Tensor | None,
    ) -> torch.Tensor:
        a = torch.addmm(self.bs[0], xb, self.wts[0]).clamp_min_(0.0)
        w2 = self.wts[1].view(-1)
        z = torch.addmv(self.bs[1].expand(len(xb)), a, w2)
        delta = _delta(z, yb, wb, ab)
        mask = a.sign()  # ReLU derivative, exactly 0 or 1
        if xc is not None:
            a_norm = torch.linalg.vector_norm(a, dim=1)
            s = torch.addcmul(self.one, a_norm, a_norm).addcmul_(torch.mv(mask, w2 * w2), xc)
            delta.div_(self._divisor(delta, s.sqrt_().mul_(self.inv_c)))
        g1 = torch.outer(delta, w2).mul_(mask)
        torch.mv(a.t(), delta, out=self.gwts[1].view(-1))
        torch.sum(delta, dim=0, keepdim=True, out=self.gbs[1])
        torch.mm(xb.t(), g1, out=self.gwts[0])
        torch.sum(g1, dim=0, out=self.gbs[0])
        return z

    def _step_deep(
        self,
        xb: torch.Tensor,
        yb: torch.Tensor,
        wb: torch.Tensor | None,
        xc: torch.Tensor | None,
        ab: torch.Tensor | None,
    ) -> torch.Tensor:
        acts = [xb]  # the input of each layer
        h = xb
        for i in range(self.depth - 1):
            h = torch.addmm(self.bs[i], h, self.wts[i]).clamp_min_(0.0)
            acts.append(h)
        z = torch.addmv(self.bs[-1].expand(len(xb)), h, self.wts[-1].view(-1))
        delta = _delta(z, yb, wb, ab)
        outs = [delta.view(-1, 1)]  # the output gradient of each layer, last first
        for i in range(self.depth - 1, 0, -1):
            outs.append((outs[-1] @ self.wts[i].t()).mul_(acts[i].sign()))
        outs.reverse()
        if xc is not None:
            sq = xc * torch.linalg.vector_norm(outs[0], dim=1).square_()
            for a, g in zip(acts[1:], outs[1:], strict=True):
                a_norm = torch.linalg.vector_norm(a, dim=1)
                g_norm = torch.linalg.vector_norm(g, dim=1)
                sq.addcmul_(torch.addcmul(self.one, a_norm, a_norm), g_norm.square_())
            scaled = sq.sqrt_().mul_(self.inv_c)
            divisor = self._divisor(torch.ones_like(delta), scaled).view(-1, 1)
            outs = [g / divisor for g in outs]
        for a, g, gwt, gb in zip(acts, outs, self.gwts, self.gbs, strict=True):
            torch.mm(a.t(), g, out=gwt)
            torch.sum(g, dim=0, out=gb)
        return z


def _delta(
    z: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, a: torch.Tensor | None = None
) -> torch.Tensor:
    """Derivative of the per-example loss w.r.t. its logit ``z``, shape ``(b,)``.

    The loss is ``w * BCE(z, y) + a * sigmoid(z)``: the weighted log-loss plus
    the fair-loss term (:class:`~trifront.privacy.dpsgd.FairTerm`), so the
    derivative is ``w (p - y) + a p (1 - p)`` with ``p = sigmoid(z)``. This is
    the one place the fast engine differentiates the loss.
    """
    p = torch.sigmoid(z)
    d = p - y
    if w is not None:
        d.mul_(w)
    if a is not None:
        d.add_(a * p * (1.0 - p))
    return d


def clipped_grad_sum(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    max_grad_norm: float,
    sample_weight: torch.Tensor | None = None,
    fair_coef: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """The fast engine's clipped per-example gradient sum on one fixed batch (no noise).

    Runs the gradient computation of a training step (forward, hand-derived
    per-example gradients, clipping) without updating the model.

    Args:
        model: A built-in model (:data:`SUPPORTED_MODELS`).
        X: Batch features, shape ``b x d``.
        y: Batch labels in ``{0, 1}``, shape ``(b,)``.
        max_grad_norm: Clipping norm ``C``.
        sample_weight: Optional per-example loss weights, shape ``(b,)``.
        fair_coef: Optional fair-loss coefficients ``a_i`` (loss term
            ``a_i sigmoid(z_i)``), shape ``(b,)``.

    Returns:
        One tensor per parameter (``model.parameters()`` order and shapes):
        ``sum_i min(1, C / (||g_i|| + 1e-6)) g_i``.

    Raises:
        ConfigError: If the model is not a built-in model.
    """
    net = _FlatNet(_check_model(model), max_grad_norm)
    with torch.no_grad():
        X = X.to(net.theta.dtype)
        w = None if sample_weight is None else sample_weight.to(X.dtype)
        a = None if fair_coef is None else fair_coef.to(X.dtype)
        net.step_grad(X, y.to(X.dtype), w, None, a)
    return net.grads_as_params()


def clipped_per_example_grads(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    max_grad_norm: float,
    sample_weight: torch.Tensor | None = None,
    fair_coef: torch.Tensor | None = None,
) -> torch.Tensor:
    """Each example's clipped gradient, flattened (a slow helper for tests and audits).

    Runs the training step's computations once per example, so row ``i``
    depends on example ``i`` alone.

    Args:
        model: A built-in model.
        X: Features, shape ``b x d``.
        y: Labels in ``{0, 1}``, shape ``(b,)``.
        max_grad_norm: Clipping norm ``C``.
        sample_weight: Optional per-example loss weights, shape ``(b,)``.
        fair_coef: Optional fair-loss coefficients, shape ``(b,)``.

    Returns:
        Clipped per-example gradients, shape ``b x P`` (``P`` = number of parameters,
        in ``model.parameters()`` order).
    """
    rows = []
    for i in range(len(X)):
        w = None if sample_weight is None else sample_weight[i : i + 1]
        a = None if fair_coef is None else fair_coef[i : i + 1]
        parts = clipped_grad_sum(model, X[i : i + 1], y[i : i + 1], max_grad_norm, w, a)
        rows.append(torch.cat([p.reshape(-1) for p in parts]))
    return torch.stack(rows)


def run(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    sample_weight: torch.Tensor | None,
    config: TrainConfig,
    *,
    sample_rate: float,
    steps: int,
    sampling_generator: torch.Generator,
    noise_generator: torch.Generator,
    fair: FairTerm | None = None,
    expected_batch_size: float | None = None,
) -> RunRecord:
    """Train a built-in model in place with the fast engine.

    Args:
        model: A built-in model; its parameters are updated at the end.
        X: Training features, shape ``n x d``, in the model's dtype.
        y: Labels in ``{0, 1}``, shape ``(n,)``.
        sample_weight: Optional per-example loss weights, shape ``(n,)``.
        config: The training spec.
        sample_rate: Poisson rate ``q``.
        steps: Number of steps.
        expected_batch_size: The divisor of the noisy gradient sum, ``q`` times
            the *public* row count (None: ``q * len(X)``, for a public ``n``).
            A divisor computed from the private count would scale every update
            by a function of the data.
        sampling_generator: Generator of the batches.
        noise_generator: Generator of the Gaussian noise.
        fair: Optional fair-loss term, refreshed at the steps of
            :func:`~trifront.privacy.dpsgd.epoch_starts`.

    Returns:
        The per-step losses and batch sizes, and whether training diverged.

    Raises:
        ConfigError: If the model is not a built-in model.
    """
    clip = config.max_grad_norm
    net = _FlatNet(_check_model(model), clip)
    n = len(X)
    ebs = sample_rate * n if expected_batch_size is None else float(expected_batch_size)
    noise_std = config.noise_multiplier * clip if clip is not None else 0.0
    step_size = config.lr / ebs
    momentum = config.momentum
    buf = torch.zeros_like(net.theta) if momentum > 0 else None
    per_epoch = math.ceil(1 / sample_rate)
    # Noise is drawn for many steps per call (cheaper per number), at most ~4 MB at once.
    noise_rows = max(1, min(per_epoch, _NOISE_BLOCK_NUMBERS // net.theta.numel()))
    noise = torch.empty(noise_rows, net.theta.numel(), dtype=net.theta.dtype)
    losses: list[torch.Tensor] = []
    sizes: list[int] = []
    diverged = False

    with torch.no_grad():
        x_const = net.input_constant(X)  # once, gathered per batch
        coef = None
        refresh_at = set(epoch_starts(steps, sample_rate)) if fair is not None else set()
        for first in range(0, steps, per_epoch):
            block = min(per_epoch, steps - first)
            indices, offsets = poisson_batches(n, sample_rate, block, sampling_generator)
            for k in range(block):
                lo, hi = offsets[k], offsets[k + 1]
                idx = indices[lo:hi]
                if first + k in refresh_at:
                    coef = fair.refresh(net.logits(X)).to(X.dtype)  # type: ignore[union-attr]
                yb = y.index_select(0, idx)
                wb = None if sample_weight is None else sample_weight.index_select(0, idx)
                ab = None if coef is None else coef.index_select(0, idx)
                z = net.step_grad(
                    X.index_select(0, idx),
                    yb,
                    wb,
                    None if x_const is None else x_const.index_select(0, idx),
                    ab,
                )
                if noise_std > 0:
                    row = (first + k) % noise_rows
                    if row == 0:
                        noise.normal_(0.0, noise_std, generator=noise_generator)
                    net.grad.add_(noise[row])
                if buf is not None:
                    buf.mul_(momentum).add_(net.grad)
                    net.theta.add_(buf, alpha=-step_size)
                else:
                    net.theta.add_(net.grad, alpha=-step_size)
                loss = binary_cross_entropy_with_logits(z, yb, weight=wb, reduction="sum")
                if ab is not None:
                    loss = loss + (ab * torch.sigmoid(z)).sum()
                losses.append(loss)
                sizes.append(hi - lo)
            if not (
                bool(torch.isfinite(torch.stack(losses[-block:])).all())
                and bool(torch.isfinite(net.theta).all())
            ):
                diverged = True
                break
    net.write_back()
    return RunRecord(
        losses=torch.stack(losses).double() / ebs,
        batch_sizes=torch.tensor(sizes, dtype=torch.int64),
        diverged=diverged,
    )
