"""The trust region: the box the trifront sampler maximises its acquisition in.

With few trials in many dimensions the GPs are most uncertain at the cube's
faces, and a global maximiser keeps proposing them (measured in
``bench/RESULTS.md``); a box around the point that adds most to the front
keeps proposals where they refine it.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from trifront.search.acquisition import HypervolumeObjective, mean_front
from trifront.search.partition import improvement, nondominated_cells

with warnings.catch_warnings():
    # botorch imports linear_operator, which applies torch.jit.script at import time;
    # torch 2.13 deprecates it. Not ours to fix, and harmless.
    warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", DeprecationWarning)
    from botorch.models import ModelListGP

__all__ = ["trust_region"]


def trust_region(
    model: ModelListGP,
    objective: HypervolumeObjective,
    X: torch.Tensor,
    ref: torch.Tensor,
    pending: torch.Tensor | None,
    *,
    width: float | None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Bounds (``2 x d``) the acquisition is maximised in, and what they are.

    A box of side ``width`` around the baseline point whose posterior
    mean (hypervolume form) has the largest exclusive hypervolume
    contribution; the whole unit cube when ``width`` is None or no
    posterior mean beats the reference point. Pending trials count in the
    front at their posterior means (they cannot be centres): a running
    trial near a sparse part of the front lowers its neighbours'
    contributions, so parallel proposals spread over the front.

    Args:
        model: The GPs of the learned objectives.
        objective: Model outputs (and ``X``) -> hypervolume form.
        X: Unit inputs of the completed trials (the candidate centres), ``n x d``.
        ref: Reference point in hypervolume form, ``3``.
        pending: Unit inputs of the running trials (``p x d``), or None.
        width: Side of the box in unit-cube coordinates (clipped to the
            cube), or None for the whole cube.

    Returns:
        The bounds, and a JSON-able description: ``{"kind": "global"}`` (with
        ``"why"`` when no centre was found) or ``{"kind": "local", "center":
        [...], "width": width}``.
    """
    d = X.shape[-1]
    cube = torch.stack([torch.zeros(d), torch.ones(d)]).to(X)
    if width is None:
        return cube, {"kind": "global"}
    everything = X if pending is None else torch.cat([X, pending])
    y = mean_front(model, objective, everything)
    best, center = 0.0, None
    for i in torch.nonzero((y[: len(X)] > ref).all(dim=-1)).flatten().tolist():
        cells = nondominated_cells(torch.cat([y[:i], y[i + 1 :]]), ref)
        contribution = float(improvement(cells, y[i : i + 1])[0])
        if contribution > best:
            best, center = contribution, i
    if center is None:
        return cube, {"kind": "global", "why": "no posterior mean beats the reference point"}
    half = width / 2
    c = X[center]
    box = torch.stack([(c - half).clamp(0.0, 1.0), (c + half).clamp(0.0, 1.0)])
    return box, {"kind": "local", "center": c.tolist(), "width": width}
