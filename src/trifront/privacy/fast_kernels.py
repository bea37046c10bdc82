"""The fast engine's closed-form kernels: per-example gradients, norms and clipping.

:class:`FlatNet` holds a chain of linear layers (logistic regression, the MLP)
on one flat parameter vector and computes a batch's clipped per-example
gradient sum with matrix products, without forming per-example gradients (see
:mod:`trifront.privacy.fast_engine` for the step as a whole). :func:`_delta` is
the one place the loss is differentiated.
"""

from __future__ import annotations

import torch
from torch import nn

from trifront.privacy.dpsgd import CLIP_EPS

__all__ = ["FlatNet"]


class FlatNet:
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

    # Deliberately unrolled per depth: each has its own closed-form norm, and a step is
    # dispatch-bound (~0.1 ms), so a shared helper would cost more than it saves.
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

    # Deliberately unrolled too: the only depth that back-propagates before clipping.
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
