"""``StaircasePartitioning`` against BoTorch's ``FastNondominatedPartitioning``.

Two box decompositions of the same non-dominated region give the same
hypervolume improvement to every point, whatever their cells. The fronts
include ties, duplicates, points beyond the reference point and empty fronts;
the improvement is also checked against trifront's own hypervolume, and the
acquisition built on the fast partitioning against BoTorch's stock qLogNEHVI.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from trifront.analysis.pareto import _hv_max_form
from trifront.search.partition import StaircasePartitioning, improvement, nondominated_cells

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.sampling import SobolQMCNormalSampler
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,
    )


def fronts() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    cases = []
    for i in range(60):
        n = int(torch.randint(0, 50, (1,), generator=g))
        Y = torch.randn(n, 3, generator=g, dtype=torch.double)
        kind = ("gaussian", "sphere", "ties")[i % 3]
        if kind == "sphere":  # every point on the front
            Y = Y / Y.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        if kind == "ties":  # shared coordinates and duplicate points
            Y = torch.round(Y * 2) / 2
        ref = torch.full((3,), -1.0, dtype=torch.double)
        if i % 4 == 0:  # some points beyond the reference point in one objective only
            ref = torch.tensor([-0.5, -2.0, 0.1], dtype=torch.double)
        cases.append((f"{kind}-{n}", Y, ref))
    return cases


def _case_id(value: object) -> str:
    return value if isinstance(value, str) else ""


@pytest.mark.parametrize(("name", "Y", "ref"), fronts(), ids=_case_id)
def test_same_improvement_as_botorch_for_every_point(
    name: str, Y: torch.Tensor, ref: torch.Tensor
) -> None:
    ours = nondominated_cells(Y, ref)
    theirs = FastNondominatedPartitioning(ref_point=ref, Y=Y).get_hypercell_bounds()
    g = torch.Generator().manual_seed(1)
    points = torch.randn(300, 3, generator=g, dtype=torch.double) * 1.5
    if name.startswith("ties"):
        points = torch.round(points * 4) / 4  # on the front's own grid
    points = torch.cat([points, Y])  # the front's own points improve nothing
    torch.testing.assert_close(improvement(ours, points), improvement(theirs, points))
    # Disjoint, non-empty boxes; about as many as BoTorch's.
    assert (ours[1] > ours[0]).all()
    assert ours.shape[1] <= max(2 * theirs.shape[1], 1)


def test_improvement_equals_the_hypervolume_difference() -> None:
    g = torch.Generator().manual_seed(2)
    Y = torch.randn(30, 3, generator=g, dtype=torch.double)
    Y = Y / Y.norm(dim=-1, keepdim=True)
    ref = torch.full((3,), -1.2, dtype=torch.double)
    cells = nondominated_cells(Y, ref)
    base = _hv_max_form(Y.numpy(), ref.numpy())
    for y in torch.randn(40, 3, generator=g, dtype=torch.double):
        expected = _hv_max_form(np.vstack([Y.numpy(), y.numpy()]), ref.numpy()) - base
        got = float(improvement(cells, y.unsqueeze(0))[0])
        assert got == pytest.approx(expected, abs=1e-12)


def test_an_empty_front_leaves_one_box_above_the_reference_point() -> None:
    ref = torch.tensor([0.0, 1.0, 2.0], dtype=torch.double)
    beyond = torch.tensor([[1.0, 0.5, 3.0], [-1.0, 2.0, 3.0]], dtype=torch.double)
    for Y in (torch.empty(0, 3, dtype=torch.double), beyond):
        cells = nondominated_cells(Y, ref)
        assert cells.shape == (2, 1, 3)
        torch.testing.assert_close(cells[0, 0], ref)
        assert torch.isinf(cells[1, 0]).all()


def test_bad_shapes_and_nan_are_refused() -> None:
    ref = torch.zeros(3, dtype=torch.double)
    with pytest.raises(ValueError, match="n x 3"):
        nondominated_cells(torch.zeros(4, 2, dtype=torch.double), ref)
    with pytest.raises(ValueError, match="NaN"):
        nondominated_cells(torch.tensor([[1.0, float("nan"), 1.0]], dtype=torch.double), ref)


def test_front_and_outcome_count_for_qlogehvi() -> None:
    Y = torch.tensor([[1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [2.0, -3.0, 1.0]], dtype=torch.double)
    part = StaircasePartitioning(torch.zeros(3, dtype=torch.double), Y)
    assert part.num_outcomes == 3
    torch.testing.assert_close(part.pareto_Y, Y[:1])


def test_fast_qlognehvi_equals_botorch_qlognehvi() -> None:
    """The sampler's qLogNEHVI (fast decompositions) gives BoTorch's values.

    The exact improvement is the same for any decomposition (tests above); the
    log acquisition smooths its min/max operators cell by cell, so different
    cells move its value in the fifth significant digit, not the ranking.
    """
    from trifront.search.acquisition import LogNEHVI

    g = torch.Generator().manual_seed(3)
    X = torch.rand(25, 4, generator=g, dtype=torch.double)
    Y = torch.stack(
        [X.sum(-1), (1 - X).prod(-1), torch.sin(3 * X[:, 0]) - X[:, 1]], dim=-1
    ) + 0.05 * torch.randn(25, 3, generator=g, dtype=torch.double)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ModelListGP(*(SingleTaskGP(X, Y[:, i : i + 1]) for i in range(3)))
        ref = Y.min(dim=0).values
        candidates = torch.rand(64, 1, 4, generator=g, dtype=torch.double)
        values = []
        for cls in (LogNEHVI, qLogNoisyExpectedHypervolumeImprovement):
            torch.manual_seed(0)
            acqf = cls(
                model=model,
                ref_point=ref,
                X_baseline=X,
                sampler=SobolQMCNormalSampler(torch.Size([16]), seed=0),
                prune_baseline=True,
                cache_root=True,
            )
            with torch.no_grad():
                values.append(acqf(candidates))
    torch.testing.assert_close(values[0], values[1], rtol=1e-4, atol=0.0)
    assert int(values[0].argmax()) == int(values[1].argmax())
    assert values[0].std() > 0  # the candidates are told apart
