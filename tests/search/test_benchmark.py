"""``trifront bench``: problems with known answers, the summary, and the command end to end."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trifront.analysis.pareto import hypervolume, hypervolume_history
from trifront.cli import bench as bench_command
from trifront.errors import ConfigError
from trifront.search.benchmark import BenchConfig, get_problem
from trifront.search.benchmark.summary import first_reaching, quantiles

TINY = ["--problem", "dtlz2", "--samplers", "trifront,random", "--trials", "5", "--seeds", "2",
        "--startup-trials", "3"]


def test_hypervolume_of_two_boxes_matches_the_hand_computed_value() -> None:
    # Reference (0.5, 10, 0.5) is (0.5, -1, -0.5) in maximisation form.
    # (0.7, 1, 0.1) -> (0.7, 0, -0.1): box 0.2 x 1 x 0.4 = 0.08.
    # (0.6, 0.1, 0.3) -> (0.6, 1, -0.3): box 0.1 x 2 x 0.2 = 0.04.
    # Overlap 0.1 x 1 x 0.2 = 0.02, so the union is 0.08 + 0.04 - 0.02 = 0.10.
    ref = (0.5, 10.0, 0.5)
    values = np.array([[0.7, 1.0, 0.1], [0.6, 0.1, 0.3], [0.4, 0.01, 0.0]])
    assert hypervolume(values, reference_point=ref) == pytest.approx(0.10, abs=1e-12)
    assert hypervolume_history(values, reference_point=ref) == pytest.approx([0.08, 0.10, 0.10])


def test_dtlz2_is_botorch_dtlz2_in_trifront_units_with_its_known_max_hv() -> None:
    problem = get_problem("dtlz2")
    # 0.1 x BoTorch's DTLZ2 max HV (1.1^3 - pi/6 for M = 3).
    assert problem.max_hv == pytest.approx(0.1 * (1.1**3 - math.pi / 6))
    assert problem.reference_point == pytest.approx((0.73, 10**0.1, 0.55))
    # Pareto-optimal points (x2..x5 = 0.5) lie on the unit sphere: f1^2 + f2^2 + f3^2 = 1.
    grid = np.linspace(0.0, 1.0, 12)
    values = []
    for a in grid:
        for b in grid:
            params = {"x0": a, "x1": b, **{f"x{i}": 0.5 for i in range(2, 6)}}
            acc, eps, gap = problem.evaluate(params, 0, 0)
            f = np.array([(0.95 - acc) / 0.2, math.log10(eps) + 1.0, gap / 0.5])
            assert float(f @ f) == pytest.approx(1.0)
            values.append((acc, eps, gap))
    hv = hypervolume(np.array(values), reference_point=problem.reference_point)
    assert 0.9 * problem.max_hv < hv < problem.max_hv


def test_quantiles_and_first_reaching_treat_never_as_infinite() -> None:
    assert quantiles([1.0, 2.0, 3.0]) == (1.5, 2.0, 2.5)
    assert quantiles([1.0, 2.0, math.inf])[1] == 2.0
    assert math.isinf(quantiles([1.0, math.inf, math.inf])[1])
    assert first_reaching([0.0, 0.5, 0.9, 1.0], 0.9) == 3.0
    assert math.isinf(first_reaching([0.0, 0.5], 0.9))


def test_bench_config_names_the_valid_samplers_and_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'random'"):
        BenchConfig(problem="dtlz2", samplers=("randon",), trials=4, seeds=1, out=tmp_path)
    with pytest.raises(ConfigError, match="adult-logreg"):
        BenchConfig(problem="adult", samplers=("random",), trials=4, seeds=1, out=tmp_path)
    with pytest.raises(ConfigError, match="at least `trials`"):
        BenchConfig(problem="dtlz2", samplers=("random",), trials=4, seeds=1, out=tmp_path,
                    trials_for={"random": 2})


def _bench(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trifront")
    bench_command.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *argv])
    return bench_command.main(args)


def _check_outputs(out: Path, *, samplers: list[str], trials: int, seeds: int) -> dict:
    results = json.loads((out / "results.json").read_text())
    assert results["problem"] == "dtlz2"
    assert results["reference_point"] == pytest.approx(list(get_problem("dtlz2").reference_point))
    assert list(results["samplers"]) == samplers
    for s in results["samplers"].values():
        assert len(s["hv"]) == seeds and all(len(h) == s["budget"] for h in s["hv"])
        assert all(np.all(np.diff(h) >= 0) for h in s["hv"])
        assert s["final_hv"] == [h[trials - 1] for h in s["hv"]]
        assert all(0 <= f <= results["max_hv"] for f in s["final_hv"])
        assert len(s["proposal_seconds"]) == seeds
        assert all(len(p) == s["budget"] for p in s["proposal_seconds"])
    table = (out / "table.md").read_text()
    assert all(f"| {name} |" in table for name in samplers)
    assert (out / "hypervolume.png").stat().st_size > 1000
    return results


def test_bench_runs_end_to_end_and_reuses_finished_runs(tmp_path: Path, capsys) -> None:
    out = tmp_path / "b"
    assert _bench([*TINY, "--out", str(out), "--trials-for", "random=7"]) == 0
    results = _check_outputs(out, samplers=["trifront", "random"], trials=5, seeds=2)
    assert results["samplers"]["random"]["budget"] == 7
    kinds = results["samplers"]["trifront"]["proposal_kind"][0]
    assert kinds[3:] == ["model", "model"]
    assert "trials to 90%" in capsys.readouterr().out
    # A second bench with the same settings reuses the stored runs.
    run_file = out / "runs" / "trifront-seed0.json"
    before = run_file.stat().st_mtime_ns
    assert _bench([*TINY, "--out", str(out), "--trials-for", "random=7", "--no-png"]) == 0
    assert run_file.stat().st_mtime_ns == before


def test_bench_through_the_real_command_line(tmp_path: Path) -> None:
    from trifront import cli

    if "bench" not in cli.COMMANDS:
        pytest.skip("`bench` is not wired into trifront.cli yet")
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "trifront.cli", "bench", *TINY, "--samplers", "random,qmc",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    _check_outputs(out, samplers=["random", "qmc"], trials=5, seeds=2)
    bad = subprocess.run(
        [sys.executable, "-m", "trifront.cli", "bench", "--samplers", "randon", "--out",
         str(out)], capture_output=True, text=True, timeout=300,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Did you mean 'random'" in bad.stderr


def test_the_dpareto_problem_scores_the_2d_front_of_an_unfair_free_space() -> None:
    from trifront.search.benchmark.loop import run_one

    problem = get_problem("adult-logreg-2d")
    assert problem.objectives == ("accuracy", "epsilon")
    assert not {"fair_weight", "reweigh", "group_thresholds"} & set(problem.distributions)
    record = run_one("adult-logreg-2d", "random", 0, 3, 2)
    values = np.array([v if v is not None else [np.nan] * 3 for v in record["values"]])
    assert record["hv"][-1] == pytest.approx(hypervolume(
        values, reference_point=problem.reference_point, objectives=problem.objectives))
    # A 2-D hypervolume does not move when the gaps do.
    values[:, 2] = 0.49
    assert record["hv"][-1] == pytest.approx(hypervolume(
        values, reference_point=problem.reference_point, objectives=problem.objectives))
