"""A self-contained HTML page: plotly's script inlined once, figures and tables after.

No external request: no CDN, no web font, no MathJax. The layout is one column
at most 1200 px wide, readable on a laptop screen.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

__all__ = ["Section", "markdown_inline", "render_page", "table_html"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:0;background:#f6f7f9;color:#1d2430;line-height:1.45}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.6em;margin:.4em 0}
h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #d8dde3;padding-bottom:.2em}
section{background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:8px 16px 12px;
 margin:14px 0}
.note{color:#5a6472;font-size:.92em}
.box{background:#fff8e6;border:1px solid #f0d58c;border-radius:6px;padding:6px 16px}
table{border-collapse:collapse;font-size:.88em;margin:8px 0;display:block;overflow-x:auto}
th,td{border-bottom:1px solid #e6e9ed;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f0f2f5;position:sticky;top:0}
tr.off td{color:#b03030}
nav a{margin-right:12px;font-size:.92em}
"""

_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class Section:
    """One part of the page.

    Attributes:
        anchor: HTML id (for the table of contents).
        title: Heading.
        intro: Lines of text (light Markdown: ``**bold**``, `` `code` ``).
        figures: Plotly figures, shown in order.
        tables: Raw HTML tables (from ``table_html``).
        box: Show ``intro`` as a highlighted box.
    """

    anchor: str
    title: str
    intro: Sequence[str] = ()
    figures: Sequence[go.Figure] = ()
    tables: Sequence[str] = ()
    box: bool = False
    after: Sequence[str] = field(default_factory=tuple)


def markdown_inline(text: str) -> str:
    """Escape ``text`` and render ``**bold**`` and `` `code` ``."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(str(value))


def table_html(frame: pd.DataFrame, *, row_class: Sequence[str] | None = None) -> str:
    """A compact HTML table of ``frame`` (floats to 4 significant digits)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, (_, row) in enumerate(frame.iterrows()):
        cls = f' class="{row_class[i]}"' if row_class and row_class[i] else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _figure_div(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG)


def render_page(title: str, sections: Sequence[Section], *, subtitle: str = "") -> str:
    """The whole page as a string, plotly.js inlined once in ``<head>``."""
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        parts = [f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>']
        if s.intro:
            items = "".join(f"<li>{markdown_inline(x)}</li>" for x in s.intro)
            parts.append(f'<div class="box"><ul>{items}</ul></div>' if s.box
                         else f"<ul>{items}</ul>")
        parts += [_figure_div(f) for f in s.figures]
        parts += list(s.tables)
        parts += [f'<p class="note">{markdown_inline(x)}</p>' for x in s.after]
        parts.append("</section>")
        body.append("\n".join(parts))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script type=\"text/javascript\">{plotly.offline.get_plotlyjs()}</script>"
        f"</head><body><main><h1>{html.escape(title)}</h1>"
        f"<p class=\"note\">{markdown_inline(subtitle)}</p><nav>{nav}</nav>"
        + "\n".join(body)
        + "</main></body></html>\n"
    )
