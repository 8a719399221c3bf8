"""The embeddings map panel: a 2-D projection of the caption features of the chosen classes
(a capped random sample, its size stated), PCA at once, UMAP as the `caption-map` background
job (cached under the storage root); points coloured by class, a relevance score, a person's
decision or duplicate group; a box or lasso selection feeds the bulk keep/drop.

Every figure goes through `ui.plain.plotly_chart` (hover text is the caption: escaped there).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from curation import duplicates as dup
from curation import projection as proj
from db.explore import list_caption_details
from db.relevance import get_default_model_version
from ui import plain
from ui.explore_panels import (
    SHOWN_COLUMNS,
    class_labels,
    render_bulk_buttons,
    render_features_missing,
    render_last_bulk_undo,
)
from ui.explore_resources import (
    MAX_LENGTH,
    get_cache_dir,
    get_caption_index,
    get_caption_texts,
    get_similar_pairs,
)
from ui.resources import start_job
from ui.widgets import find_latest_job, render_job_status

COLOURS = {
    "Class": "class",
    "P(own class)": "p_own",
    "Suspect: wrong class": "suspect_wrong_class",
    "Suspect: no class content": "suspect_no_content",
    "A person's decision": "decision",
    "Duplicate group": "group",
}
METHODS = ("PCA (instant)", "UMAP (background job, cached)")
MAX_CATEGORIES = 20  # categories with a colour and legend entry of their own
PALETTE = (
    "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #17becf #bcbd22 #7f7f7f "
    "#393b79 #e7ba52 #637939 #843c39 #7b4173 #3182bd #e6550d #31a354 #756bb1 #636363"
).split()
FIXED = {"keep": "#2ca02c", "drop": "#d62728", "none": "#bdbdbd", "no duplicate": "#d9d9d9"}
SHOWN_SELECTION = 500


def make_map_figure(points: pl.DataFrame, *, colour: str, title: str) -> go.Figure:
    """A WebGL scatter of the map's points; each point's customdata is its caption id.

    Args:
        points: caption_id, x, y, class, hover and the colour column (`proj.list_map_points`).
        colour: a column: categorical (one trace per category, the largest MAX_CATEGORIES;
            the rest share one grey trace) or numeric (one trace, a colour scale).
    """
    figure = go.Figure()
    points = points.with_columns(
        pl.concat_str(["class", "decision", "hover"], separator=" · ").alias("text")
    )
    if points[colour].dtype.is_numeric():
        _add_score_traces(figure, points, colour)
    else:
        _add_category_traces(figure, points, colour)
    figure.update_layout(
        title=title,
        height=620,
        dragmode="lasso",
        legend={"itemsizing": "constant"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    figure.update_xaxes(showticklabels=False)
    figure.update_yaxes(showticklabels=False)
    return figure


def _scatter(frame: pl.DataFrame, *, name: str, text: list[str], marker: dict) -> go.Scattergl:
    return go.Scattergl(
        x=frame["x"].to_numpy(),
        y=frame["y"].to_numpy(),
        mode="markers",
        customdata=frame["caption_id"].to_numpy(),
        hovertext=text,
        hoverinfo="text",
        marker={"size": 5, **marker},
        name=name,
    )


def _add_score_traces(figure: go.Figure, points: pl.DataFrame, colour: str) -> None:
    scored = points.filter(pl.col(colour).is_not_null())
    text = [f"{t} · {colour} {v:.3f}" for t, v in scored.select("text", colour).iter_rows()]
    marker = {"color": scored[colour].to_numpy(), "colorscale": "Viridis", "showscale": True}
    figure.add_trace(_scatter(scored, name=colour, text=text, marker=marker))
    unscored = points.filter(pl.col(colour).is_null())
    if unscored.height:
        grey = {"color": FIXED["none"]}
        figure.add_trace(
            _scatter(unscored, name="not scored", text=unscored["text"].to_list(), marker=grey)
        )


def _add_category_traces(figure: go.Figure, points: pl.DataFrame, colour: str) -> None:
    counts = points[colour].value_counts(sort=True)
    named = counts[colour].head(MAX_CATEGORIES).to_list()
    rest = points.filter(~pl.col(colour).is_in(named))
    groups = [(name, points.filter(pl.col(colour) == name)) for name in named]
    if rest.height:
        groups.append((f"other ({rest[colour].n_unique()} more)", rest))
    for i, (name, frame) in enumerate(groups):
        marker = {"color": FIXED.get(name, PALETTE[i % len(PALETTE)])}
        figure.add_trace(
            _scatter(frame, name=str(name), text=frame["text"].to_list(), marker=marker)
        )


@st.cache_resource(show_spinner="Projecting the captions (PCA)...", max_entries=4)
def _load_pca(_index, _rows: np.ndarray, sample_key: str) -> np.ndarray:
    """(M, 2) PCA of the sample's rows (cached by the sample's key: its features)."""
    return proj.compute_pca(_index.matrix[_rows])


def render_map(con, *, key: str = "ex-map") -> None:
    """Controls, the map, and the selection with its bulk keep/drop."""
    index = get_caption_index(con)
    if render_features_missing(con, index, key=key):
        return
    labels = class_labels(con)
    present = sorted(set(index.wnids.tolist()))
    cols = st.columns([4, 1, 2, 2])
    wnids = cols[0].multiselect(
        "Classes (none chosen: every class)",
        present,
        format_func=lambda w: labels.get(w, w),
        key=f"{key}-classes",
    )
    max_points = cols[1].number_input(
        "At most",
        min_value=proj.MIN_UMAP_POINTS,
        max_value=proj.MAX_POINTS_LIMIT,
        value=proj.DEFAULT_MAX_POINTS,
        step=1000,
        key=f"{key}-n",
    )
    method = cols[2].radio("Projection", METHODS, key=f"{key}-method")
    colour_name = cols[3].selectbox("Colour by", list(COLOURS), key=f"{key}-colour")
    spec = proj.ProjectionSpec(
        encoder_key=index.encoder_key,
        wnids=tuple(wnids),
        max_points=int(max_points),
        max_length=MAX_LENGTH,
        cache_dir=get_cache_dir(con),
    )
    sample = proj.compute_map_sample(index, spec)
    if not len(sample.rows):
        st.info("No caption of these classes has a feature yet.")
        return
    coords, what = _projection(con, index, spec, sample, umap=method == METHODS[1], key=key)
    plain.caption(f"{what} of {sample.describe()}. Hover a point for its caption.")
    points = _with_colour(con, index, sample, coords, COLOURS[colour_name])
    if points is None:
        return
    figure = make_map_figure(points, colour=COLOURS[colour_name], title=what)
    event = plain.plotly_chart(
        figure,
        key=f"{key}-chart",
        on_select="rerun",
        selection_mode=("box", "lasso"),
        width="stretch",
    )
    ids = proj.compute_selected_caption_ids(event.selection.points if event else [])
    _render_selection(con, ids, key=key)


def _projection(con, index, spec, sample, *, umap: bool, key: str):
    """(coords (M, 2), a title): the cached UMAP map, else PCA (with the job offered)."""
    if umap:
        coords = proj.load_cached_projection(con, sample)
        if coords is not None:
            return coords, "UMAP"
        _offer_umap_job(spec, sample, key=key)
    return _load_pca(index, sample.rows, sample.key), "PCA"


def _offer_umap_job(spec, sample, *, key: str) -> None:
    job_id = find_latest_job("caption-map", spec_filter=spec.to_dict())
    job = render_job_status(job_id, key=f"{key}-umap") if job_id is not None else None
    if job is not None and job["status"] in ("queued", "running"):
        plain.info("UMAP is running in the background; PCA is shown until it is ready.")
        return
    plain.info(
        f"No UMAP map of these {len(sample.rows):,} captions yet (PCA is shown): it runs as a "
        "background job (about a minute for 20,000 captions; the first run compiles UMAP)."
    )
    if st.button("Compute UMAP (background job)", key=f"{key}-umap-start"):
        start_job(spec)
        st.rerun()


def _with_colour(con, index, sample, coords, colour: str) -> pl.DataFrame | None:
    version = get_default_model_version(con)
    points = proj.list_map_points(con, sample, coords, model_version=version)
    if colour in proj.SCORE_COLUMNS and points[colour].is_null().all():
        plain.info(
            "No caption here has this score yet: train and score a relevance model (Train "
            "relevance), then score again for the suspect scores."
        )
        return None
    if colour in proj.SCORE_COLUMNS:
        plain.caption(f"Scores of model version {version}; grey: not scored.")
        return points.with_columns(pl.col(colour).fill_nan(None))
    if colour == "group":
        groups = dup.find_duplicate_groups(
            con, index, pairs=get_similar_pairs(con, index), texts=get_caption_texts(con)
        )
        labels = proj.compute_group_labels_of(groups.members, sample.caption_ids)
        plain.caption(
            f"Duplicate groups at cosine >= {dup.DEFAULT_THRESHOLD} (Duplicate groups tab): "
            f"the {proj.TOP_GROUPS} largest here in colour."
        )
        return points.with_columns(pl.Series("group", labels))
    return points


def _render_selection(con, ids: tuple[int, ...], *, key: str) -> None:
    if not ids:
        st.caption(
            "Draw a box or a lasso around points (toolbar at the top right of the map) to "
            "select their captions, then keep or drop them as one undoable event."
        )
        render_last_bulk_undo(con, key=key)  # a change redraws the map and clears the selection
        return
    caption_filter = proj.compute_selection_filter(ids)
    plain.caption(f"Selected: {caption_filter.describe()}.")
    details = list_caption_details(con, ids[:SHOWN_SELECTION])
    st.dataframe(details.select(*SHOWN_COLUMNS), hide_index=True, key=f"{key}-selected")
    if len(ids) > SHOWN_SELECTION:
        plain.caption(f"The first {SHOWN_SELECTION} of {len(ids):,} are listed; all are changed.")
    render_bulk_buttons(con, list(caption_filter.caption_ids), what="the selection", key=key)
