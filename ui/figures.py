"""Plotly figure builders shared by pages: a frame in, a figure out."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl


def make_captions_per_class_figure(per_class: pl.DataFrame) -> go.Figure:
    """Histogram of captions per class, one trace per caption source.

    Args:
        per_class: rows (wnid, name, class_index, source, n_captions); source null = no captions.
    """
    figure = go.Figure()
    sources = [s for s in per_class["source"].unique().sort().to_list() if s is not None]
    for source in sources:
        counts = per_class.filter(pl.col("source") == source)["n_captions"].to_list()
        figure.add_trace(go.Histogram(x=counts, name=source, opacity=0.75, nbinsx=60))
    figure.update_layout(
        barmode="overlay",
        xaxis_title="captions per class",
        yaxis_title="number of classes",
        legend_title="source",
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return figure


def make_class_extremes_figure(per_class: pl.DataFrame, *, n: int = 15) -> go.Figure:
    """Horizontal bars of the classes with the fewest and the most captions (all sources).

    Args:
        per_class: rows (wnid, name, n_captions), one per class (sources summed).
    """
    ordered = per_class.sort("n_captions")
    shown = pl.concat([ordered.head(n), ordered.tail(n)]).unique(maintain_order=True)
    labels = [f"{name} ({wnid})" for name, wnid in zip(shown["name"], shown["wnid"], strict=True)]
    figure = go.Figure(go.Bar(x=shown["n_captions"].to_list(), y=labels, orientation="h"))
    figure.update_layout(
        xaxis_title="captions",
        height=max(300, 18 * len(labels)),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title=f"The {n} classes with the fewest and the most captions",
    )
    return figure
