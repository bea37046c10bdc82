"""The report's interactive figures (plotly), one function per figure.

Each function takes tables (``trials_frame`` rows, ``reevaluate`` rows, trade-off
staircases) and returns a ``go.Figure``; none reads a study or writes a file.
The 3-D front is ``report.front.front_figure``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from trifront.analysis.pareto import pareto_mask

__all__ = [
    "PROJECTIONS",
    "hypervolume_figure",
    "importance_figure",
    "projections_figure",
    "reevaluation_figure",
    "tradeoff_figure",
]

GREY, RED, BLUE = "#9aa5b1", "#d62728", "#1f77b4"
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf")
# (x, y, x direction, y direction, x log scale)
PROJECTIONS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("epsilon", "accuracy", "minimize", "maximize", True),
    ("unfairness", "accuracy", "minimize", "maximize", False),
    ("epsilon", "unfairness", "minimize", "minimize", True),
)
_TITLES = {"epsilon": "epsilon (log)", "accuracy": "accuracy", "unfairness": "unfairness gap"}


def _level_name(level: float, what: str) -> str:
    return f"{what} ≤ {level:g}" if math.isfinite(level) else f"any {what}"


def front_2d(frame: pd.DataFrame, x: str, y: str, dx: str, dy: str) -> pd.DataFrame:
    """The 2-D Pareto front of two columns, sorted by ``x``."""
    if frame.empty:
        return frame
    mask = pareto_mask(frame[[x, y]].to_numpy(dtype=float), (dx, dy))
    return frame[mask].sort_values([x, y])


def _layout(fig: go.Figure, *, height: int, title: str) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.01, font=dict(size=15)), height=height,
        margin=dict(l=60, r=20, t=60, b=50), template="plotly_white",
        legend=dict(orientation="h", y=-0.18, x=0),
    )
    return fig


def projections_figure(
    studies: Mapping[str, pd.DataFrame], *, title: str = "Two objectives at a time"
) -> go.Figure:
    """The three 2-D projections, each with its own 2-D front as a staircase.

    Args:
        studies: ``{label: completed trials}`` (``trials_frame`` rows with
            ``accuracy``, ``epsilon``, ``unfairness``). One study: grey points
            and a red front; several: one colour per study (fronts only bold).
        title: Figure title.
    """
    titles = [f"{_TITLES[y]} vs {_TITLES[x]}" for x, y, *_ in PROJECTIONS]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=titles)
    single = len(studies) == 1
    for k, (label, frame) in enumerate(studies.items()):
        colour = RED if single else PALETTE[k % len(PALETTE)]
        for col, (x, y, dx, dy, _) in enumerate(PROJECTIONS, start=1):
            first = col == 1
            fig.add_trace(go.Scatter(
                x=frame[x], y=frame[y], mode="markers",
                marker=dict(size=6, color=GREY if single else colour, opacity=0.5),
                name="trials" if single else f"{label}: trials", legendgroup=f"{label}-pts",
                showlegend=first, text=[f"trial {int(t)}" for t in frame["trial"]],
                hovertemplate=f"%{{text}}<br>{x} %{{x:.4g}}<br>{y} %{{y:.4g}}<extra></extra>",
            ), row=1, col=col)
            f2 = front_2d(frame, x, y, dx, dy)
            fig.add_trace(go.Scatter(
                x=f2[x], y=f2[y], mode="lines+markers", line=dict(shape="hv", color=colour),
                marker=dict(size=8, color=colour), name="2-D front" if single else label,
                legendgroup=f"{label}-front", showlegend=first,
                text=[f"trial {int(t)}" for t in f2["trial"]],
                hovertemplate=f"%{{text}}<br>{x} %{{x:.4g}}<br>{y} %{{y:.4g}}<extra></extra>",
            ), row=1, col=col)
    for col, (x, y, _, _, logx) in enumerate(PROJECTIONS, start=1):
        fig.update_xaxes(title_text=_TITLES[x], type="log" if logx else "linear", row=1, col=col)
        fig.update_yaxes(title_text=_TITLES[y], row=1, col=col)
    return _layout(fig, height=430, title=title)


def hypervolume_figure(histories: Mapping[str, np.ndarray], *, title: str) -> go.Figure:
    """Hypervolume after each trial, one line per study."""
    fig = go.Figure()
    for k, (label, hv) in enumerate(histories.items()):
        fig.add_trace(go.Scatter(
            x=np.arange(1, len(hv) + 1), y=hv, mode="lines+markers", name=label,
            line=dict(shape="hv", color=PALETTE[k % len(PALETTE)]),
        ))
    fig.update_xaxes(title_text="trials finished")
    fig.update_yaxes(title_text="hypervolume", rangemode="tozero")
    return _layout(fig, height=360, title=title)


def reevaluation_figure(points: pd.DataFrame, *, title: str) -> go.Figure:
    """Validation value (one seed) and test mean ± std for each front configuration.

    Args:
        points: ``reevaluate`` rows.
        title: Figure title.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=["accuracy vs epsilon", "unfairness gap vs epsilon"])
    off = ~points["on_test_front"].astype(bool)
    labels = [f"trial {int(t)}" for t in points["trial"]]
    for col, (val, test, std) in enumerate(
        (("val_accuracy", "test_accuracy", "test_accuracy_std"),
         ("val_unfairness", "test_unfairness", "test_unfairness_std")), start=1):
        first = col == 1
        fig.add_trace(go.Scatter(
            x=points["epsilon"], y=points[val], mode="markers", name="validation (search)",
            marker=dict(symbol="circle-open", size=9, color=GREY, line=dict(width=2)),
            legendgroup="val", showlegend=first, text=labels,
            hovertemplate="%{text}<br>validation %{y:.4f}<extra></extra>",
        ), row=1, col=col)
        for mask, name, symbol in ((~off, "test mean ± std", "circle"),
                                   (off, "test: off the front", "x")):
            part = points[mask]
            fig.add_trace(go.Scatter(
                x=part["epsilon"], y=part[test], mode="markers", name=name,
                error_y=dict(type="data", array=part[std].fillna(0.0), visible=True),
                marker=dict(symbol=symbol, size=9, color=BLUE if symbol == "circle" else RED),
                legendgroup=name, showlegend=first,
                text=[f"trial {int(t)}" for t in part["trial"]],
                hovertemplate="%{text}<br>test %{y:.4f} ± %{error_y.array:.4f}<extra></extra>",
            ), row=1, col=col)
        fig.update_xaxes(title_text="epsilon (log)", type="log", row=1, col=col)
    fig.update_yaxes(title_text="accuracy", row=1, col=1)
    fig.update_yaxes(title_text="unfairness gap", row=1, col=2)
    return _layout(fig, height=420, title=title)


def tradeoff_figure(
    privacy: pd.DataFrame,
    fairness: pd.DataFrame,
    *,
    references: Mapping[str, float],
    title: str,
) -> go.Figure:
    """The price of privacy (left) and the price of fairness (right).

    Args:
        privacy: ``price_of_privacy`` rows (level = unfairness limit).
        fairness: ``price_of_fairness`` rows (level = epsilon limit).
        references: ``{label: accuracy}`` horizontal reference lines (the
            non-private model, the constant predictor).
        title: Figure title.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=[
        "price of privacy: best accuracy vs epsilon, per gap limit",
        "price of fairness: best accuracy vs gap, per epsilon limit"])
    for col, (table, x, what) in enumerate(
        ((privacy, "epsilon", "gap"), (fairness, "unfairness", "ε")), start=1):
        for k, (level, part) in enumerate(table.groupby("level", sort=True)):
            fig.add_trace(go.Scatter(
                x=part[x], y=part["accuracy"], mode="lines+markers",
                line=dict(shape="hv", color=PALETTE[k % len(PALETTE)]),
                name=_level_name(float(level), what), legendgroup=f"{col}-{level}",
                hovertemplate=f"{x} %{{x:.4g}}<br>best accuracy %{{y:.4f}}<extra></extra>",
            ), row=1, col=col)
        for j, (label, acc) in enumerate(references.items()):
            if acc is None or not math.isfinite(acc):
                continue
            fig.add_hline(y=acc, line=dict(dash="dash" if j == 0 else "dot", color="#444"),
                          annotation_text=f"{label} {acc:.3f}", annotation_position="bottom right",
                          row=1, col=col)
    fig.update_xaxes(title_text="epsilon (log)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="unfairness gap", row=1, col=2)
    fig.update_yaxes(title_text="best test accuracy", row=1, col=1)
    return _layout(fig, height=440, title=title)


def importance_figure(table: pd.DataFrame, *, title: str) -> go.Figure:
    """Grouped horizontal bars: importance of each parameter for each objective."""
    fig = go.Figure()
    for k, objective in enumerate(table.columns):
        fig.add_trace(go.Bar(
            y=list(table.index), x=table[objective], orientation="h", name=objective,
            marker_color=PALETTE[k % len(PALETTE)],
            hovertemplate=f"{objective}: %{{y}} %{{x:.2f}}<extra></extra>",
        ))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="importance (fANOVA, sums to 1 per objective)", range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height=120 + 55 * max(1, len(table)), title=title)


def front_3d_overlay(studies: Mapping[str, pd.DataFrame], *, title: str) -> go.Figure:
    """3-D overlay of several studies' Pareto fronts (one colour each)."""
    fig = go.Figure()
    for k, (label, frame) in enumerate(studies.items()):
        if frame.empty:
            continue
        mask = pareto_mask(frame[["accuracy", "epsilon", "unfairness"]].to_numpy(dtype=float))
        part = frame[mask]
        fig.add_trace(go.Scatter3d(
            x=part["epsilon"], y=part["unfairness"], z=part["accuracy"], mode="markers",
            name=label, marker=dict(size=6, color=PALETTE[k % len(PALETTE)]),
            text=[f"{label}: trial {int(t)}" for t in part["trial"]],
            hovertemplate="%{text}<br>ε %{x:.4g}<br>gap %{y:.4f}<br>accuracy %{z:.4f}"
                          "<extra></extra>",
        ))
    fig.update_layout(scene=dict(xaxis=dict(title="epsilon (log scale)", type="log"),
                                 yaxis=dict(title="unfairness"), zaxis=dict(title="accuracy")))
    fig = _layout(fig, height=560, title=title)
    fig.update_layout(margin=dict(l=0, r=0, t=50, b=0), legend=dict(orientation="v", x=0.01,
                                                                   y=0.98))
    return fig


def columns_present(frame: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """The ``names`` that are columns of ``frame``, in order."""
    return [n for n in names if n in frame.columns]
