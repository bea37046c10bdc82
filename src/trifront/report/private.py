"""The report of a private-tuning study: the released model and its guarantee, nothing else.

Its other runs, their scores and how many there were stay in the data owner's
storage: showing them would void the guarantee, so this page reads only the
study's release (``study.private_tuning_release``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from trifront.report.html import Section, render_page, table_html

__all__ = ["write_private_report"]


def _num(value: Any) -> str:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    return str(value)


def _lines(info: Mapping[str, Any]) -> list[str]:
    dist = info["distribution"]
    released = info.get("released")
    lines = [
        f"**epsilon = {_num(info['epsilon'])} at delta = {info['delta']:g}** for the released "
        f"model: {info['covers']}.",
        f"Accountant: {info['accountant']}; {info['theorem']}.",
        f"Number of runs: secret, drawn from a {dist['name']} distribution of mean "
        f"{_num(dist['mean'])}.",
        f"Selection: {info['selection']['rule']}.",
    ]
    if released is None:
        lines.append("**Nothing was released**: no run was drawn, or every run failed. The "
                     "budget is spent all the same.")
    return lines


def write_private_report(info: Mapping[str, Any], out: str | Path, *,
                         study_name: str) -> dict[str, Path]:
    """Write ``index.html``, ``summary.md`` and ``study_privacy.json`` of a private-tuning study.

    Args:
        info: The study's release (``study_privacy.json``).
        out: Output directory.
        study_name: The study's name (shown in the title).
    """
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    released = info.get("released")
    sections = [Section("guarantee", "The guarantee", intro=_lines(info), box=True)]
    if released is not None:
        rows = [("test accuracy (noisy)", released["test_accuracy"]),
                (f"test {info['selection']['fairness_metric']} gap (noisy)",
                 released["test_unfairness"]),
                ("within the gap limit on noisy validation",
                 released["meets_max_unfairness_on_noisy_validation"])]
        rows += [(k, v) for k, v in released["hyperparameters"].items()]
        frame = pd.DataFrame({"": [r[0] for r in rows], "value": [_num(r[1]) for r in rows]})
        sections.append(Section("released", "The released model", intro=[
            "Its test metrics are computed from Gaussian-noised test counts, part of the "
            "guarantee."], tables=[table_html(frame)]))
    per_run = info["per_run"]
    mech = pd.DataFrame({"": ["noise multiplier σ", "sampling rate q", "steps T",
                              "other Gaussians (noise multipliers)"],
                         "value": [_num(per_run["noise_multiplier"]),
                                   _num(per_run["sample_rate"]), _num(per_run["steps"]),
                                   ", ".join(f"{n}: {_num(s)}" for n, s in zip(
                                       per_run["extra_gaussians_are"],
                                       per_run["extra_gaussians"], strict=True))]})
    sections.append(Section("mechanism", "Every run's mechanism", tables=[table_html(mech)]))
    sections.append(Section("caveats", "What ε does not cover", intro=list(info["caveats"]),
                            box=True))
    paths = {"index.html": target / "index.html", "summary.md": target / "summary.md",
             "study_privacy.json": target / "study_privacy.json"}
    paths["index.html"].write_text(render_page(
        f"trifront private-tuning study: {study_name}", sections,
        subtitle="Only the released model is shown: the other runs are the data owner's."),
        encoding="utf-8")
    summary = [f"# Private-tuning study {study_name}", "", *(f"- {x}" for x in _lines(info))]
    if released is not None:
        summary += ["", f"Released model: noisy test accuracy {_num(released['test_accuracy'])},"
                    f" noisy test gap {_num(released['test_unfairness'])}; hyperparameters "
                    f"{json.dumps(released['hyperparameters'])}."]
    summary += ["", "## What ε does not cover", "", *(f"- {x}" for x in info["caveats"])]
    paths["summary.md"].write_text("\n".join(summary) + "\n", encoding="utf-8")
    paths["study_privacy.json"].write_text(json.dumps(dict(info), indent=2, default=str),
                                           encoding="utf-8")
    return paths
