"""Summaries of a bench: results.json, the Markdown table and the hypervolume plot.

Statistics over seeds are the median and the interquartile range (25th-75th
percentile, linear interpolation). "Trials to 90%" is the first trial (1-based)
at which a run's hypervolume reaches 90% of the best hypervolume seen by any
run of any sampler within the common budget; a run that never does counts as
infinite (shown as ``>N``). "Trials to <first>'s HV" is the same for the first
sampler's median final hypervolume, over each sampler's own budget.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trifront.errors import ConfigError
from trifront.search.benchmark.loop import BenchConfig, RunRecord, config_dict
from trifront.search.benchmark.problems import get_problem

__all__ = ["first_reaching", "quantiles", "summarise", "table", "write_outputs"]

_BIG = 1e12  # stands for "never" inside quantiles


def quantiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile); infinities stay infinite."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return (math.nan, math.nan, math.nan)
    q = np.quantile(np.where(np.isinf(a), _BIG, a), [0.25, 0.5, 0.75])
    return tuple(math.inf if v >= _BIG / 10 else float(v) for v in q)  # type: ignore[return-value]


def first_reaching(hv: Sequence[float], target: float) -> float:
    """First trial number (1-based) whose hypervolume is >= ``target``; inf if none."""
    for i, h in enumerate(hv):
        if h >= target * (1 - 1e-12) and target > 0:
            return float(i + 1)
    return math.inf


def summarise(config: BenchConfig, records: Sequence[RunRecord]) -> dict[str, Any]:
    """Gather the runs into the results document (written as results.json).

    Args:
        config: The bench.
        records: One record per (sampler, seed), from ``run_bench``.

    Returns:
        ``{"problem", "reference_point", "max_hv", "trials", "seeds", "samplers":
        {NAME: {"hv": [[...] per seed], "final_hv": [...], "proposal_seconds":
        [[...] per seed], "trials_to_90": [...], "trials_to_first": [...], ...}},
        "best_hv", "threshold_90", "first_target_hv", "config", "date", "machine"}``.
    """
    problem = get_problem(config.problem)
    n = config.trials
    by_sampler: dict[str, list[RunRecord]] = {s: [] for s in config.samplers}
    for r in records:
        by_sampler[r["sampler"]].append(r)
    by_sampler = {s: runs for s, runs in by_sampler.items() if runs}
    if not by_sampler:
        raise ConfigError(f"no finished runs of {list(config.samplers)} in {config.out}.")
    for runs in by_sampler.values():
        runs.sort(key=lambda r: r["seed"])
    best = max((max(r["hv"][:n], default=0.0) for r in records), default=0.0)
    threshold = 0.9 * best
    first = next(iter(by_sampler))
    first_target = quantiles([r["hv"][n - 1] for r in by_sampler[first]])[1]
    samplers: dict[str, Any] = {}
    for name, runs in by_sampler.items():
        final = [r["hv"][n - 1] for r in runs]
        to90 = [first_reaching(r["hv"][:n], threshold) for r in runs]
        to_first = [first_reaching(r["hv"], first_target) for r in runs]
        model_secs = [
            s
            for r in runs
            for s, i in zip(r["proposal_seconds"], range(len(r["proposal_seconds"])), strict=True)
            if i >= config.startup_trials
        ]
        samplers[name] = {
            "hv": [r["hv"] for r in runs],
            "final_hv": final,
            "final_hv_quantiles": quantiles(final),
            "trials_to_90": [None if math.isinf(t) else t for t in to90],
            "trials_to_90_quantiles": quantiles(to90),
            "trials_to_first": [None if math.isinf(t) else t for t in to_first],
            "trials_to_first_quantiles": quantiles(to_first),
            "budget": config.budget(name),
            "proposal_seconds": [r["proposal_seconds"] for r in runs],
            "proposal_seconds_after_startup_quantiles": quantiles(model_secs),
            "proposal_kind": [r["proposal_kind"] for r in runs],
            "values": [r["values"] for r in runs],
            "eval_seconds": [r["eval_seconds"] for r in runs],
            "wall_seconds": [r["wall_seconds"] for r in runs],
            "errors": [r["errors"] for r in runs],
        }
    return {
        "problem": config.problem,
        "description": problem.description,
        "reference_point": list(problem.reference_point),
        "max_hv": problem.max_hv,
        "trials": n,
        "seeds": max(len(runs) for runs in by_sampler.values()),
        "best_hv": best,
        "threshold_90": threshold,
        "first_sampler": first,
        "first_target_hv": first_target,
        "samplers": samplers,
        "config": config_dict(config),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} ({_cpu_count()} cpus)",
    }


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def _fmt_q(q: Sequence[float], fmt: str, n: int | None = None) -> str:
    def one(v: float) -> str:
        if math.isinf(v):
            return f">{n}" if n is not None else "inf"
        return format(v, fmt)

    return f"{one(q[1])} [{one(q[0])}, {one(q[2])}]"


def table(results: dict[str, Any]) -> str:
    """The Markdown table of a results document (median [IQR] over seeds)."""
    n = results["trials"]
    max_hv = results.get("max_hv")
    first = results["first_sampler"]
    lines = [
        f"Problem `{results['problem']}`: {results['description']}. Reference point "
        f"{tuple(round(v, 4) for v in results['reference_point'])} (accuracy, epsilon, "
        f"unfairness); {results['seeds']} seeds x {n} trials; 90% threshold = "
        f"{results['threshold_90']:.4g} (best HV of any run {results['best_hv']:.4g})"
        + (f"; known max HV {max_hv:.4g}." if max_hv else "."),
        "",
        f"| sampler | final HV @{n} | "
        + ("% of max HV | " if max_hv else "")
        + f"trials to 90% | reached 90% | trials to {first}'s median HV "
        f"({results['first_target_hv']:.4g}) | budget | proposal s (after startup) |",
        "|---|---|" + ("---|" if max_hv else "") + "---|---|---|---|---|",
    ]
    for name, s in results["samplers"].items():
        fq = s["final_hv_quantiles"]
        if len(s["final_hv"]) < results["seeds"]:
            name = f"{name} ({len(s['final_hv'])} seeds)"
        reached = sum(t is not None for t in s["trials_to_90"])
        row = f"| {name} | {_fmt_q(fq, '.4g')} | "
        if max_hv:
            row += f"{_fmt_q([100 * v / max_hv for v in fq], '.1f')} | "
        row += (
            f"{_fmt_q(s['trials_to_90_quantiles'], '.0f', n)} | {reached}/{len(s['final_hv'])} | "
            f"{_fmt_q(s['trials_to_first_quantiles'], '.0f', s['budget'])} | {s['budget']} | "
            f"{_fmt_q(s['proposal_seconds_after_startup_quantiles'], '.2f')} |"
        )
        lines.append(row)
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> Path:
    """Median hypervolume against trials with interquartile bands, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for name, s in results["samplers"].items():
        hv = np.asarray(s["hv"], dtype=float)
        x = np.arange(1, hv.shape[1] + 1)
        q25, med, q75 = np.quantile(hv, [0.25, 0.5, 0.75], axis=0)
        (line,) = ax.plot(x, med, label=name, lw=2 if name == results["first_sampler"] else 1.2)
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.15)
    if results.get("max_hv"):
        ax.axhline(results["max_hv"], color="k", ls=":", lw=1, label="max HV")
    ax.axhline(results["threshold_90"], color="grey", ls="--", lw=0.8, label="90% of best")
    ax.axvline(results["trials"], color="grey", ls="-", lw=0.5)
    ax.set_xlabel("trial")
    ax.set_ylabel("hypervolume (acc x decades of eps x gap)")
    ax.set_title(f"{results['problem']}: median and IQR over {results['seeds']} seeds")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_outputs(results: dict[str, Any], out: Path, *, png: bool = True) -> dict[str, Path]:
    """Write ``results.json``, ``table.md`` and (optionally) ``hypervolume.png``.

    Returns:
        The written paths by file name.
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results.json": out / "results.json", "table.md": out / "table.md"}
    paths["results.json"].write_text(json.dumps(results, indent=1), encoding="utf-8")
    paths["table.md"].write_text(table(results), encoding="utf-8")
    if png:
        paths["hypervolume.png"] = plot(results, out / "hypervolume.png")
    return paths
