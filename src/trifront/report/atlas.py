"""The atlas page: the fronts of many studies on shared axes, their prices, the caveats.

Draws ``atlas.json``'s content (``trifront.analysis.atlas.study_entry`` per
study) as one self-contained, offline ``index.html``; it trains nothing and
reads no storage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from trifront.analysis.atlas import FAIR_END_GAP, PRIVACY_CLASS_AT
from trifront.analysis.tradeoffs import PRIVACY_LEVELS

__all__ = ["atlas_page", "fronts_figure", "where_privacy_costs"]


def _num(x: float | None) -> float:
    """A JSON number back as a float (None: NaN)."""
    return math.nan if x is None else float(x)


def _points(c: Mapping[str, Any]) -> str:
    p = c["price_points"]
    text = "–" if p is None or not math.isfinite(p) else f"{p:.1f}"
    return f"{text} (constant)" if c["constant"] else text


def _fair_knob(entry: Mapping[str, Any]) -> str:
    end = entry["fair_end"]
    if end is None:
        return f"nothing beats the constant at gap ≤ {FAIR_END_GAP:g}"
    knobs = end["most_accurate"]["knobs"]
    return " + ".join(knobs) if knobs else "plain DP-SGD (no knob)"


def _price_table(studies: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for s in studies:
        row: dict[str, Any] = {"study": s["study"], "majority (test)": s["majority_rate"],
                               "best test acc": s["price_of_privacy"]["no_limit"]
                               ["test_accuracy"]}
        for key, c in s["price_of_privacy"]["limits"].items():
            row[f"ε ≤ {key}"] = _points(c)
        for key, c in s["price_of_fairness"]["limits"].items():
            row[f"gap ≤ {key}"] = _points(c)
        private = s.get("price_of_fairness_private")
        if private:
            for key, c in private["limits"].items():
                row[f"gap ≤ {key} at ε ≤ {private['max_epsilon']:g}"] = _points(c)
        row["privacy cost"] = s["privacy_cost_class"]
        row[f"fair end (gap ≤ {FAIR_END_GAP:g})"] = _fair_knob(s)
        rows.append(row)
    return pd.DataFrame(rows)


def _study_links(studies: Sequence[Mapping[str, Any]]) -> str:
    import html

    rows = "".join(
        f"<tr><td style=\"text-align:left\"><a href=\"{html.escape(s['report'])}\">"
        f"{html.escape(s['study'])}</a></td><td>{html.escape(s['dataset'])}</td>"
        f"<td>{html.escape(s['model'])}</td><td>{html.escape(s['fairness_metric'])}</td>"
        f"<td>{s['n_trials']}</td><td>{len(s['front'])}</td></tr>" for s in studies)
    head = "".join(f"<th>{h}</th>" for h in ("report", "data set", "model", "fairness gap",
                                             "trials", "front size"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def where_privacy_costs(studies: Sequence[Mapping[str, Any]]) -> list[str]:
    """One generated sentence per privacy-cost class that occurs, cheapest first."""
    lines = []
    key = f"{PRIVACY_CLASS_AT:g}"
    for cls in ("nearly free", "moderate", "expensive", "unknown"):
        hits = [s for s in studies if s["privacy_cost_class"] == cls]
        if not hits:
            continue
        items = ", ".join(f"{s['study']} ({_points(s['price_of_privacy']['limits'][key])})"
                          for s in hits)
        lines.append(f"Privacy is **{cls}** at ε ≤ {key} (price in accuracy points, chosen on "
                     f"validation, scored on test) for: {items}.")
    tight = f"{min(PRIVACY_LEVELS):g}"
    priced = [(s["price_of_privacy"]["limits"][tight]["price_points"], s["study"])
              for s in studies]
    priced = sorted((p, name) for p, name in priced if p is not None and math.isfinite(p))
    if len(priced) >= 2:
        lines.append(f"At ε ≤ {tight}: the highest price is {priced[-1][0]:.1f} points "
                     f"({priced[-1][1]}), the lowest {priced[0][0]:.1f} ({priced[0][1]}).")
    return lines


def fronts_figure(studies: Sequence[Mapping[str, Any]]) -> Any:
    """Small multiples of the fronts on shared axes, one panel per study.

    x: epsilon (log, shared); y: test accuracy minus the study's test majority
    rate, in points (0 is the constant predictor); colour: test gap on one scale.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = max(1, len(studies))
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes="all", shared_yaxes="all",
                        subplot_titles=[s["study"].removeprefix("atlas-") for s in studies],
                        horizontal_spacing=0.03, vertical_spacing=0.12 / rows)
    gaps = [_num(p["test_unfairness"]) for s in studies for p in s["front"]]
    top_gap = max((g for g in gaps if math.isfinite(g)), default=0.0)
    for i, s in enumerate(studies):
        front = [p for p in s["front"] if math.isfinite(_num(p["test_accuracy"]))]
        std = [_num(p["test_accuracy_std"]) for p in front]
        fig.add_trace(go.Scatter(
            x=[p["epsilon"] for p in front],
            y=[100 * (p["test_accuracy"] - s["majority_rate"]) for p in front],
            error_y=dict(array=[100 * x if math.isfinite(x) else 0.0 for x in std],
                         thickness=1, width=2),
            mode="markers", name=s["study"], showlegend=False,
            marker=dict(color=[_num(p["test_unfairness"]) for p in front],
                        coloraxis="coloraxis", size=9, line=dict(width=0.5, color="#333")),
            text=[f"trial {p['trial']}; knobs: {', '.join(p['knobs']) or 'none'}; test gap "
                  f"{_num(p['test_unfairness']):.3f}" for p in front],
            hovertemplate="ε %{x:.3g}<br>%{y:+.1f} points<br>%{text}<extra></extra>",
        ), row=i // cols + 1, col=i % cols + 1)
    fig.add_hline(y=0, line_dash="dot", line_color="#9aa5b1", row="all", col="all")
    fig.update_xaxes(type="log")
    fig.update_xaxes(title_text="ε (log)", row=rows)
    fig.update_yaxes(title_text="test acc − majority (points)", col=1)
    fig.update_layout(
        height=260 * rows + 80, template="plotly_white", margin=dict(l=60, r=20, t=60, b=50),
        coloraxis=dict(colorscale="Viridis", cmin=0, cmax=top_gap or 1.0,
                       colorbar=dict(title="test gap")),
    )
    return fig


def atlas_page(data: Mapping[str, Any], *, caveats: Sequence[str]) -> str:
    """``index.html`` of the atlas: self-contained (plotly inlined once), offline."""
    from trifront.report.html import Section, render_page, table_html

    studies = data["studies"]
    honest = ("All prices are **choices made on validation and scored on test**: under each "
              "limit the configuration with the best mean validation re-evaluation is chosen "
              "(the constant predictor when none beats it, marked “constant”), and its test "
              "accuracy is compared with the test accuracy of the choice without limits. The "
              "test split never picks a winner.")
    sections = [
        Section("studies", "Studies", intro=[
            f"{len(studies)} studies in one storage; each name links its full report."],
            tables=[_study_links(studies)]),
        Section("fronts", "The fronts on shared axes", figures=[fronts_figure(studies)], after=[
            "Each panel: the re-evaluated front of one study (mean test accuracy ± std over "
            "the seeds). y is the test accuracy minus the study's test majority rate, in "
            "points, so data sets compare: 0 (dotted) is the constant predictor (ε 0, gap 0). "
            "Colour: mean test gap of the study's metric, one scale for all."]),
        Section("prices", "Price of privacy and of fairness", intro=[honest],
                tables=[table_html(_price_table(studies))], after=[
            "Price in accuracy points = 100 × (test accuracy of the choice without limits − "
            "test accuracy of the choice under the limit); the columns “gap ≤ G at ε ≤ 1” "
            "compare with the choice at ε ≤ 1 instead, so they price fairness for a model "
            "that must be private too. Fair end: the knobs of the most "
            f"accurate front configuration with validation gap ≤ {FAIR_END_GAP:g} that beats "
            "the constant predictor on validation."]),
        Section("where", "Where privacy is expensive, and where it is nearly free",
                intro=where_privacy_costs(studies)),
        Section("epsilon", "What ε does not cover", intro=list(caveats), box=True),
    ]
    sub = (f"{len(studies)} studies, {data['settings']['trials']} trials each, "
           f"{data['settings']['seeds']} seeds per re-evaluation. {honest}")
    return render_page("trifront atlas", sections, subtitle=sub)
