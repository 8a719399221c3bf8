"""Plotly figures of the head-synthesis screens (frame in, figure out)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl


def make_nearest_figure(nearest: pl.DataFrame, *, distance: str) -> go.Figure:
    """Dots: the nearest base classes and their distance (closest on top), on an axis that
    spans the shown values (issue 17: bars from 0 made 0.838 and 0.869 look the same).

    Args:
        nearest: frame with `name`, `wnid`, `distance` (ascending).
        distance: the distance's name, for the axis title.
    """
    labels = [f"{n} ({w})" for n, w in zip(nearest["name"], nearest["wnid"], strict=True)]
    values = nearest["distance"].to_list()
    # Dots on an axis fitted to the values, not bars from 0: 0.838 and 0.869 must look apart.
    figure = go.Figure(
        go.Scatter(
            x=values,
            y=labels,
            mode="markers+text",
            text=[f"{v:.3f}" for v in values],
            textposition="middle right",
        )
    )
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max((high - low) * 0.15, 1e-3)
    figure.update_layout(
        height=40 + 28 * max(nearest.height, 1),
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        xaxis={"title": f"{distance} distance", "range": [low - pad, high + 2 * pad]},
        yaxis={"autorange": "reversed"},
        title=f"Nearest classes ({distance})",
    )
    return figure
