"""One rule for the text of every figure (issue 23, finding 10): class names such as
`<a href=...>` were drawn as a link in Evaluation -> Compare runs, because plotly reads a few
HTML tags in figure text. Every figure is drawn through `ui.plain.plotly_chart`, which
escapes every string of the figure."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl

from ui import embeddings_map, eval_figures, extension_figures, figures, relevance_figures
from ui.plain import escape_figure

ROOT = Path(__file__).resolve().parents[2]
LINK = '<a href="http://127.0.0.1:9/canary">click</a>'
BOLD = "<b>bold</b>"


def _text_of(figure: go.Figure) -> str:
    return json.dumps(escape_figure(figure).to_plotly_json(), default=str)


def _assert_inert(figure: go.Figure) -> None:
    text = _text_of(figure)
    assert "<a" not in text and "<b>" not in text, text[:400]
    assert "&lt;a href=" in text or "&lt;b&gt;" in text  # still there, as typed


def test_compare_runs_figure_draws_hostile_class_names_as_text():
    metrics = pl.DataFrame(
        {
            "run": [BOLD, "run 2"],
            "name": [LINK, BOLD],
            "method": ["token", LINK],
            "value": [0.5, 0.6],
            "ci_low": [0.4, 0.5],
            "ci_high": [0.6, 0.7],
        }
    )
    _assert_inert(eval_figures.make_run_comparison_figure(metrics, metric_label=BOLD))


def test_every_figure_builder_is_inert_through_the_one_rule():
    per_class = pl.DataFrame(
        {"wnid": ["n1", "n2"], "name": [LINK, BOLD], "n_captions": [1, 2], "source": [BOLD, LINK]}
    )
    metric_rows = per_class.select("wnid", "name").with_columns(
        pl.lit(LINK).alias("method"),
        pl.lit(0.5).alias("value"),
        pl.lit(0.4).alias("ci_low"),
        pl.lit(0.6).alias("ci_high"),
    )
    nearest = per_class.select("wnid", "name").with_columns(pl.lit(0.1).alias("distance"))
    summary = pl.DataFrame({"wnid": ["n1"], "label": [LINK], "n_kept": [1], "n_dropped": [2]})
    curves = {LINK: (np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.5)}
    map_points = pl.DataFrame(
        {
            "caption_id": [1, 2],
            "x": [0.0, 1.0],
            "y": [1.0, 0.0],
            "class": [LINK, BOLD],
            "decision": ["none", "keep"],
            "hover": [BOLD, LINK],
            "p_own": [0.2, None],
        }
    )
    built = [
        figures.make_captions_per_class_figure(per_class),
        figures.make_class_extremes_figure(per_class),
        eval_figures.make_metric_bars_figure(metric_rows, metric_label=BOLD, title=LINK),
        eval_figures.make_roc_figure(curves),
        extension_figures.make_nearest_figure(nearest, distance=BOLD),
        relevance_figures.make_class_decision_figure(summary),
        embeddings_map.make_map_figure(map_points, colour="class", title=LINK),
        embeddings_map.make_map_figure(map_points, colour="p_own", title=BOLD),
    ]
    for figure in built:
        _assert_inert(figure)


def test_an_apostrophe_is_an_entity_plotly_shows_as_the_character():
    figure = go.Figure(go.Bar(x=["potter's wheel"], y=[1]))
    assert "potter&#x27;s wheel" in _text_of(figure)


def test_no_figure_is_drawn_around_the_rule():
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for folder in ("pages", "ui")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "plain.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "plotly_chart"
        and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "plain")
    ]
    assert offenders == []
