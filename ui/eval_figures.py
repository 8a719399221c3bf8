"""Plotly figures of the Evaluation page: a frame (or arrays) in, a figure out."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl

_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
REFERENCE_STYLE = {"random": "dot", "all positive": "dash"}


def make_metric_bars_figure(
    metrics: pl.DataFrame,
    *,
    metric_label: str,
    references: dict[str, float] | None = None,
    title: str = "",
) -> go.Figure:
    """Grouped bars like the paper's Figure 2: one group per class, one bar per method, with
    bootstrap intervals as error bars and horizontal reference lines.

    Args:
        metrics: rows (wnid, name, method, value, ci_low, ci_high), one per class and method.
        references: line label -> y (e.g. {'random': 0.5, 'all positive': 0.667}).
    """
    figure = go.Figure()
    labels = {w: f"{n} ({w})" for w, n in metrics.select("wnid", "name").unique().iter_rows()}
    classes = metrics["wnid"].unique(maintain_order=True).to_list()
    for method in metrics["method"].unique(maintain_order=True).to_list():
        part = metrics.filter(pl.col("method") == method)
        by_class = {r["wnid"]: r for r in part.iter_rows(named=True)}
        rows = [by_class.get(w) for w in classes]
        values = [r["value"] if r else None for r in rows]
        figure.add_trace(
            go.Bar(
                name=method,
                x=[labels[w] for w in classes],
                y=values,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [r["ci_high"] - r["value"] if r else 0 for r in rows],
                    "arrayminus": [r["value"] - r["ci_low"] if r else 0 for r in rows],
                },
                text=[f"{v:.2f}" if v is not None else "" for v in values],
                textposition="inside",
                insidetextanchor="start",
                textangle=-90,
            )
        )
    for name, y in (references or {}).items():
        figure.add_hline(
            y=y,
            line_dash=REFERENCE_STYLE.get(name, "dot"),
            line_color="gray",
            annotation_text=f"{name} {y:.3f}",
            annotation_position="top right",
        )
    return _laid_out(
        figure,
        height=420,
        barmode="group",
        uniformtext={"minsize": 9, "mode": "hide"},  # a label that does not fit is hidden
        yaxis={"title": metric_label, "range": [0, 1.08]},
        legend_title="head",
        title=title or None,
    )


def make_roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> go.Figure:
    """ROC curves, one per method, with the random diagonal.

    Args:
        curves: method -> (fpr (K,), tpr (K,), auroc).
    """
    figure = go.Figure()
    for method, (fpr, tpr, auroc) in curves.items():
        figure.add_trace(
            go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{method} (AUROC {auroc:.3f})")
        )
    figure.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="random (0.5)",
            line={"dash": "dot", "color": "gray"},
        )
    )
    return _laid_out(
        figure,
        height=380,
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
        title="ROC",
    )


def make_pr_figure(
    curves: dict[str, tuple[np.ndarray, np.ndarray, float]], *, pos_fraction: float
) -> go.Figure:
    """Precision-recall curves, one per method, with the random (= positive share) line.

    Args:
        curves: method -> (recall (K,), precision (K,), average precision).
    """
    figure = go.Figure()
    for method, (recall, precision, ap) in curves.items():
        figure.add_trace(
            go.Scatter(
                x=recall, y=precision, mode="lines", name=f"{method} (AP {ap:.3f})", line_shape="hv"
            )
        )
    figure.add_hline(
        y=pos_fraction,
        line_dash="dot",
        line_color="gray",
        annotation_text=f"random {pos_fraction:.2f}",
    )
    return _laid_out(
        figure,
        height=380,
        xaxis_title="recall",
        yaxis={"title": "precision", "range": [0, 1.05]},
        title="Precision-recall",
    )


def make_fewshot_figure(
    curves: pl.DataFrame, *, metric_label: str, flat: pl.DataFrame | None = None
) -> go.Figure:
    """Metric vs shots per class, one line per initialization, flat lines for untrained rows.

    Args:
        curves: rows (init, k, mean, std) for k >= 1.
        flat: rows (init, mean) of the k = 0 rows (synthesized rows untrained, the trained row).
    """
    figure = go.Figure()
    for init in curves["init"].unique(maintain_order=True).to_list():
        part = curves.filter(pl.col("init") == init).sort("k")
        figure.add_trace(
            go.Scatter(
                x=part["k"].to_list(),
                y=part["mean"].to_list(),
                mode="lines+markers",
                name=f"trained from {init}",
                error_y={"type": "data", "array": part["std"].fill_null(0).to_list()},
            )
        )
    if flat is not None:
        for init, mean in flat.select("init", "mean").iter_rows():
            label = "trained row (full ImageNet)" if init == "trained" else f"{init}, no training"
            figure.add_hline(
                y=mean,
                line_dash="dash" if init == "trained" else "dot",
                annotation_text=f"{label} {mean:.3f}",
                annotation_position="bottom right",
            )
    return _laid_out(
        figure,
        height=400,
        xaxis={"title": "shots per class (k)", "type": "log"},
        yaxis_title=metric_label,
        legend_title="few-shot row",
    )


def make_group_figure(groups: pl.DataFrame, *, metric_label: str) -> go.Figure:
    """Mean metric per WordNet group (bars per method), class counts in the labels.

    Args:
        groups: rows (group, method, mean, std, n_classes).
    """
    figure = go.Figure()
    order = groups["group"].unique(maintain_order=True).to_list()
    counts = dict(groups.select("group", "n_classes").unique("group").iter_rows())
    for method in groups["method"].unique(maintain_order=True).to_list():
        part = {
            r["group"]: r for r in groups.filter(pl.col("method") == method).iter_rows(named=True)
        }
        figure.add_trace(
            go.Bar(
                name=method,
                x=[f"{g} ({counts[g]})" for g in order],
                y=[part[g]["mean"] if g in part else None for g in order],
                error_y={
                    "type": "data",
                    "array": [(part[g]["std"] or 0) if g in part else 0 for g in order],
                },
            )
        )
    return _laid_out(
        figure,
        height=400,
        barmode="group",
        yaxis={"title": f"mean {metric_label}", "range": [0, 1.05]},
        legend_title="head",
    )


def make_run_comparison_figure(metrics: pl.DataFrame, *, metric_label: str) -> go.Figure:
    """Saved runs side by side: bars per (class, method), one colour per run.

    Args:
        metrics: rows (run, name, method, value, ci_low, ci_high).
    """
    figure = go.Figure()
    for run in metrics["run"].unique(maintain_order=True).to_list():
        part = metrics.filter(pl.col("run") == run)
        figure.add_trace(
            go.Bar(
                name=run,
                x=[part["name"].to_list(), part["method"].to_list()],
                y=part["value"].to_list(),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (part["ci_high"] - part["value"]).to_list(),
                    "arrayminus": (part["value"] - part["ci_low"]).to_list(),
                },
            )
        )
    return _laid_out(
        figure,
        height=420,
        barmode="group",
        yaxis={"title": metric_label, "range": [0, 1.05]},
        legend_title="run",
    )


def _laid_out(figure: go.Figure, *, height: int, **layout) -> go.Figure:
    """`figure` with the dashboards' margins, `height` (px) and the other `layout` settings."""
    figure.update_layout(height=height, margin=_MARGIN, **layout)
    return figure
