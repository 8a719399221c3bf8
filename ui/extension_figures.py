"""Plotly figures of the head-synthesis screens (frame in, figure out)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl


def make_nearest_figure(nearest: pl.DataFrame, *, distance: str) -> go.Figure:
    """Horizontal bars: the nearest base classes and their distance (closest on top).

    Args:
        nearest: frame with `name`, `wnid`, `distance` (ascending).
        distance: the distance's name, for the axis title.
    """
    labels = [f"{n} ({w})" for n, w in zip(nearest["name"], nearest["wnid"], strict=True)]
    figure = go.Figure(go.Bar(x=nearest["distance"].to_list(), y=labels, orientation="h"))
    figure.update_layout(
        height=40 + 28 * max(nearest.height, 1),
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        xaxis_title=f"{distance} distance",
        yaxis={"autorange": "reversed"},
        title=f"Nearest classes ({distance})",
    )
    return figure
