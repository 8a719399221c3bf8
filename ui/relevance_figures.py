"""Plotly figures for caption relevance (frame in, figure out)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots


def make_training_figure(metrics: pl.DataFrame) -> go.Figure:
    """Train/test loss (left) and test top-1 accuracy (right) per epoch.

    Args:
        metrics: epoch, train_loss, test_loss, test_accuracy (from the epoch metrics table).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("BCE loss", "Test top-1 accuracy"))
    epochs = metrics["epoch"].to_list()
    fig.add_trace(
        go.Scatter(
            x=epochs, y=metrics["train_loss"].to_list(), name="train loss", mode="lines+markers"
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=epochs, y=metrics["test_loss"].to_list(), name="test loss", mode="lines+markers"
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=epochs,
            y=metrics["test_accuracy"].to_list(),
            name="test accuracy",
            mode="lines+markers",
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title_text="epoch", dtick=1 if len(epochs) <= 20 else None)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_layout(height=320, margin={"l": 40, "r": 20, "t": 40, "b": 40})
    return fig


def make_score_histogram_figure(decisions: pl.DataFrame, *, threshold: float | None) -> go.Figure:
    """Histogram of P(own class), stacked by the final decision, with the global threshold
    (None: the drop rule is not on P, so no line)."""
    fig = go.Figure()
    for decision, color in (("keep", "#2e7d32"), ("drop", "#c62828")):
        values = decisions.filter(pl.col("decision") == decision)["p_own"].to_list()
        fig.add_trace(
            go.Histogram(
                x=values,
                name=decision,
                marker_color=color,
                xbins={"start": 0.0, "end": 1.0, "size": 0.02},
            )
        )
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", annotation_text=f"threshold {threshold:.2f}")
    fig.update_layout(
        barmode="stack",
        height=300,
        xaxis_title="P(own class)",
        yaxis_title="captions",
        margin={"l": 40, "r": 20, "t": 30, "b": 40},
    )
    return fig


def make_class_decision_figure(summary: pl.DataFrame, *, top: int = 30) -> go.Figure:
    """Kept and dropped captions of the `top` classes with the largest share dropped.

    Args:
        summary: wnid, label, n_kept, n_dropped, share_dropped (rules.compute_class_summary).
    """
    rows = summary.head(top)
    labels = rows["label"].to_list() if "label" in rows.columns else rows["wnid"].to_list()
    fig = go.Figure()
    for column, name, color in (("n_kept", "kept", "#2e7d32"), ("n_dropped", "dropped", "#c62828")):
        fig.add_trace(
            go.Bar(
                y=labels, x=rows[column].to_list(), name=name, orientation="h", marker_color=color
            )
        )
    fig.update_layout(
        barmode="stack",
        height=max(300, 18 * len(labels) + 80),
        yaxis={"autorange": "reversed"},
        xaxis_title="captions",
        margin={"l": 40, "r": 20, "t": 30, "b": 40},
    )
    return fig
