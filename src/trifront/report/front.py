"""The run's outputs: ``trials.csv``, ``front.csv`` and a self-contained ``front.html``.

``front.html`` inlines plotly's script, so it opens offline with no network
request: a rotatable 3-D scatter of every completed trial, the Pareto-optimal
ones highlighted, hover text showing each configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from trifront.objectives import OBJECTIVES, UNITS

if TYPE_CHECKING:
    import optuna

_HOVER_SKIP = {"state", "trial"}


def _hover(frame: pd.DataFrame, params: Sequence[str]) -> list[str]:
    lines = []
    for _, row in frame.iterrows():
        parts = [f"<b>trial {int(row['trial'])}</b>",
                 f"accuracy {row['accuracy']:.4f}",
                 f"epsilon {row['epsilon']:.4g} (delta {row.get('delta', float('nan')):.0e})",
                 f"unfairness {row['unfairness']:.4f}"]
        for p in params:
            if p in row and p not in _HOVER_SKIP:
                v = row[p]
                parts.append(f"{p} = {v:.4g}" if isinstance(v, float) else f"{p} = {v}")
        if "noise_multiplier" in row:
            parts.append(f"sigma = {row['noise_multiplier']:.4g}, steps = {row.get('steps')}")
        lines.append("<br>".join(parts))
    return lines


def front_figure(
    complete: pd.DataFrame, on_front: np.ndarray, *, params: Sequence[str], title: str,
    objectives: Sequence[str] = OBJECTIVES,
) -> go.Figure:
    """A 3-D scatter of completed trials, the Pareto set highlighted.

    A 2-D study (``objectives`` of two) gets a 2-D scatter of its two
    objectives instead: accuracy against epsilon (log axis) or the gap.

    Args:
        complete: Completed trials (``trials_frame`` rows with state COMPLETE).
        on_front: Boolean mask over ``complete``: Pareto-optimal rows.
        params: Searched parameter columns to show on hover.
        title: Figure title.
        objectives: The objectives the study searched.
    """
    if len(objectives) == 2:
        return _front_2d(complete, on_front, params=params, title=title,
                         x=[o for o in objectives if o != "accuracy"][0])
    fig = go.Figure()
    for mask, name, style in (
        (~on_front, "dominated trials", dict(size=4, color="#9aa5b1", opacity=0.55)),
        (on_front, "Pareto front", dict(size=7, color="#d62728", line=dict(width=1, color="#222"))),
    ):
        part = complete[mask]
        fig.add_trace(
            go.Scatter3d(
                # plotly's 3-D log axes draw unreadable ticks: plot log10(eps)
                # on a linear axis and label the ticks in epsilon.
                x=np.log10(part["epsilon"].to_numpy(dtype=float)),
                y=part["unfairness"],
                z=part["accuracy"],
                mode="markers",
                name=name,
                marker=style,
                hovertext=_hover(part, params),
                hoverinfo="text",
            )
        )
    acc = complete["accuracy"].to_numpy(dtype=float)
    pad = 0.01
    z_range = [float(acc.min()) - pad, float(acc.max()) + pad] if len(acc) else None
    fig.update_layout(
        title=title,
        scene=dict(
            xaxis=dict(
                title="epsilon (log scale)",
                tickvals=[-3, -2, -1, 0, 1, 2],
                ticktext=["0.001", "0.01", "0.1", "1", "10", "100"],
            ),
            yaxis=dict(title="unfairness"),
            zaxis=dict(title="accuracy", range=z_range),
        ),
        margin=dict(l=0, r=0, t=50, b=0),
        legend=dict(x=0.01, y=0.98),
    )
    return fig


def _front_2d(complete: pd.DataFrame, on_front: np.ndarray, *, params: Sequence[str],
              title: str, x: str) -> go.Figure:
    """Accuracy against ``x`` ("epsilon" on a log axis, or "unfairness"), front in red."""
    fig = go.Figure()
    for mask, name, style in (
        (~on_front, "dominated trials", dict(size=6, color="#9aa5b1", opacity=0.6)),
        (on_front, "Pareto front", dict(size=9, color="#d62728", line=dict(width=1, color="#222"))),
    ):
        part = complete[mask].sort_values(x)
        fig.add_trace(go.Scatter(
            x=part[x], y=part["accuracy"], name=name, marker=style, hovertext=_hover(part, params),
            hoverinfo="text", mode="lines+markers" if name == "Pareto front" else "markers",
            line=dict(shape="hv", color="#d62728", width=1),
        ))
    fig.update_layout(title=title, margin=dict(l=60, r=20, t=50, b=50),
                      legend=dict(x=0.01, y=0.98), template="plotly_white")
    fig.update_xaxes(title="epsilon (log scale)" if x == "epsilon" else "unfairness",
                     type="log" if x == "epsilon" else "linear")
    fig.update_yaxes(title="accuracy")
    return fig


def write_front_html(fig: go.Figure, path: Path, *, caption: str = "") -> Path:
    """Write a figure as one self-contained HTML file (plotly's script inlined)."""
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    if caption:
        html = html.replace("<body>", f"<body><p style='font-family:sans-serif'>{caption}</p>", 1)
    path.write_text(html, encoding="utf-8")
    return path


def units_caption(delta: float | None) -> str:
    """Plain-language axis definitions for captions."""
    eps = UNITS["epsilon"].replace("the study's delta", f"delta={delta:g}" if delta else "delta")
    return f"accuracy: {UNITS['accuracy']}; epsilon: {eps}; unfairness: {UNITS['unfairness']}."


def write_run_outputs(study: optuna.Study, out_dir: str | Path) -> dict[str, Path]:
    """Write ``trials.csv``, ``front.csv`` and ``front.html`` for a study.

    Args:
        study: A trifront study.
        out_dir: Output directory (created if missing).

    Returns:
        The written paths keyed by file name.
    """
    from trifront.analysis.frames import trials_frame
    from trifront.analysis.pareto import front_mask, study_majority_rate, with_constant
    from trifront.study import study_objectives

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = trials_frame(study)
    complete = frame[frame["state"] == "COMPLETE"].reset_index(drop=True)
    majority = study_majority_rate(study)
    mask = front_mask(complete[["accuracy", "epsilon", "unfairness"]].to_numpy(dtype=float),
                      majority_rate=majority, objectives=study_objectives(study))
    front = complete[mask].sort_values("epsilon").reset_index(drop=True)
    paths = {"trials.csv": out / "trials.csv", "front.csv": out / "front.csv"}
    frame.to_csv(paths["trials.csv"], index=False)
    with_constant(front, majority).to_csv(paths["front.csv"], index=False)
    params = sorted({k for t in study.get_trials(deepcopy=False) for k in t.params})
    delta = float(front["delta"].iloc[0]) if len(front) and "delta" in front else None
    fig = front_figure(
        complete, mask, params=params, title=f"trifront study {study.study_name!r}: "
        f"{len(complete)} completed trials, {int(mask.sum())} on the front",
        objectives=study_objectives(study),
    )
    paths["front.html"] = write_front_html(fig, out / "front.html", caption=units_caption(delta))
    return paths
