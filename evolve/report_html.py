"""Drawing of `evolve report`: plotly figures and the page around them.

plotly is imported here only, when a report is written, never at CLI start-up.
"""

from __future__ import annotations

import html
from typing import Any

from evolve.report import (
    STATUS_COLOURS,
    chain,
    champion,
    progress,
    status_bins,
    summary,
    template_groups,
    top_table,
    yields,
)
from evolve.types import LLMCall, Program, Run

_EMPTY = {
    "Best and median score against USD spent": "No LLM spend recorded in this run (offline "
    "proposer, replay or a free endpoint), so there is no cost axis to plot.",
}
_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #eef; } .summary td:first-child { text-align: left; font-weight: bold; }
.note { color: #666; font-size: 13px; }
"""


def render(run: Run, programs: list[Program], calls: list[LLMCall]) -> str:
    figures = [
        ("Best and median score against evaluations", _score_figure(programs, calls, "evals")),
        ("Best and median score against USD spent", _score_figure(programs, calls, "usd")),
        ("Statuses over time", _status_figure(programs)),
        ("The champion's lineage", _lineage_figure(run, programs)),
        ("Yield per proposer", _yield_figure(programs, {p.id: p.proposer for p in programs})),
        ("Yield per template", _yield_figure(programs, template_groups(programs, calls))),
    ]
    parts: list[str] = []
    first = True
    for title, fig in figures:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if fig is None:
            parts.append(f'<p class="note">{_EMPTY.get(title, "nothing to plot yet")}</p>')
            continue
        # The first figure carries plotly.js itself: the file then works offline.
        parts.append(fig.to_html(full_html=False, include_plotlyjs=first,
                                 config={"displaylogo": False, "responsive": True}))
        first = False
    info = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary(run, programs, calls).items()
    )
    title = f"evolve run {run.id}: {run.problem}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<table class="summary">{info}</table>' + "".join(parts)
        + "<h2>Top programs</h2>" + top_table(programs) + "</body></html>"
    )


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _layout(fig: Any, x: str, y: str) -> Any:
    fig.update_layout(height=380, margin={"l": 60, "r": 20, "t": 20, "b": 50},
                      xaxis_title=x, yaxis_title=y, template="plotly_white",
                      legend={"orientation": "h", "y": 1.08})
    return fig


def _score_figure(programs: list[Program], calls: list[LLMCall], axis: str) -> Any:
    data = progress(programs, calls)
    if not data.evaluations or (axis == "usd" and not any(data.usd)):
        return None
    go = _go()
    xs = data.evaluations if axis == "evals" else data.usd
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=data.best, name="best", mode="lines",
                             line={"shape": "hv", "width": 3, "color": "#1f77b4"}))
    fig.add_trace(go.Scatter(x=xs, y=data.median, name="median", mode="lines",
                             line={"shape": "hv", "dash": "dot", "color": "#ff7f0e"}))
    label = "evaluations" if axis == "evals" else "USD spent on LLM calls"
    return _layout(fig, label, "score (higher is better)")


def _status_figure(programs: list[Program]) -> Any:
    labels, counts = status_bins(programs)
    if not labels:
        return None
    go = _go()
    fig = go.Figure()
    for status, values in counts.items():
        fig.add_trace(go.Bar(x=labels, y=values, name=status,
                             marker_color=STATUS_COLOURS.get(status)))
    # Category axis: plotly would otherwise read labels such as "0-9" as dates.
    fig.update_layout(barmode="stack", xaxis_type="category")
    return _layout(fig, "iterations", "programs")


def _lineage_figure(run: Run, programs: list[Program]) -> Any:
    best = champion(run, programs)
    if best is None:
        return None
    line = chain(best, programs)
    go = _go()
    fig = go.Figure(go.Scatter(
        x=[p.iteration for p in line], y=[p.score for p in line], mode="lines+markers+text",
        text=[str(p.id) for p in line], textposition="top center", name="champion lineage",
        hovertext=[f"program {p.id}, {p.proposer}, generation {p.generation}" for p in line],
        marker={"size": 10, "color": "#9467bd"},
    ))
    return _layout(fig, "iteration it was found at (program id above each point)", "score")


def _yield_figure(programs: list[Program], group_of: dict[int, str]) -> Any:
    rows = yields(programs, group_of)
    if not rows:
        return None
    go = _go()
    names = [r.group for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=[r.valid / r.proposals for r in rows], name="valid",
                         marker_color="#2ca02c",
                         text=[f"{r.valid}/{r.proposals}" for r in rows]))
    fig.add_trace(go.Bar(x=names, y=[r.improved / r.proposals for r in rows],
                         name="improved on parent", marker_color="#1f77b4",
                         text=[f"{r.improved}/{r.proposals}" for r in rows]))
    fig.update_layout(barmode="group", yaxis_tickformat=".0%")
    return _layout(fig, "", "share of proposals")
