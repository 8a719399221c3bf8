"""AppTest of the Captions page's "Embeddings map" tab on a real DuckDB file with a tiny
encoder: before features the tab offers the features job; then PCA draws at once with the
sample stated and the caption text escaped in the hover; a lasso selection (the chart's own
selection state, as the browser sends it) lists the captions and drops them as one bulk event
with its undo; UMAP runs as the `caption-map` job and the map is then read from its cache."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.proto.WidgetStates_pb2 import WidgetState

from tests.conftest import open_page
from tests.integration.test_explore_page import (  # noqa: F401 (fixtures)
    PAGE,
    _decisions,
    _run,
    _tab,
    _wait_for_job,
    app_db,
    tiny_encoder_dir,
    torch_single_thread,
)
from tests.relevance_helpers import insert_caption

HOSTILE = '<b>bold</b> <a href="http://127.0.0.1:9/x">link</a>'


def _chart(at):
    charts = at.get("plotly_chart")
    assert charts, "no map drawn"
    return charts[-1]


def _select(at, caption_ids: list[int]):
    """Run the page with a lasso selection of these captions on the map (the chart's state is
    JSON text inside the JSON value, as the frontend sends it)."""
    state = WidgetState(
        id=_chart(at).proto.id,
        json_value=json.dumps(
            json.dumps(
                {
                    "selection": {
                        "points": [{"customdata": i, "x": 0, "y": 0} for i in caption_ids],
                        "point_indices": list(range(len(caption_ids))),
                        "box": [],
                        "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}],
                    }
                }
            )
        ),
    )
    widgets = at._tree.get_widget_states()
    widgets.widgets.append(state)
    at._run(widgets)
    assert not at.exception, at.exception
    return at


def _captions(at) -> str:
    return " ".join(c.value for c in at.caption) + " " + " ".join(i.value for i in at.info)


def test_map_pca_selection_bulk_drop_undo_then_umap_job(app_db):  # noqa: F811
    path, _ = app_db
    from db.connect import connect

    con = connect(path)
    hostile = insert_caption(con, "n01440764", "h.JPEG", HOSTILE, "tench by the pond")
    con.close()
    at = _tab(open_page(PAGE), "Embeddings map")
    assert "feature yet" in _captions(at)
    at.button(key="ex-map-features-start").click()
    _run(at)
    assert _wait_for_job("caption-features")["status"] == "succeeded"
    _run(at)
    text = _captions(at)
    assert "PCA of all" in text and "captions with features" in text, text
    hover = [t for trace in json.loads(_chart(at).proto.spec)["data"] for t in trace["hovertext"]]
    shown = [t for t in hover if "bold" in t]
    assert len(shown) == 1 and "&lt;b&gt;bold&lt;/b&gt; &lt;a href=" in shown[0], shown
    assert not any("<b>" in t or "<a " in t for t in hover)
    at.number_input(key="ex-map-n").set_value(10).run()
    assert "random sample of 10 of the" in _captions(at)
    at.number_input(key="ex-map-n").set_value(20000).run()

    _select(at, [hostile, 2, 3])
    assert "3 chosen captions" in _captions(at)
    assert set(at.dataframe[-1].value["caption_id"]) == {hostile, 2, 3}
    at.text_input(key="ex-map-reason").input("off topic").run()
    at.button(key="ex-map-drop").click().run()
    assert not at.exception
    assert _decisions(at) == sorted([(2, "drop"), (3, "drop"), (hostile, "drop")])
    at.button(key="ex-map-undo").click().run()
    assert _decisions(at) == []

    at.selectbox(key="ex-map-colour").set_value("P(own class)").run()
    assert "no caption here has this score yet" in _captions(at).lower()
    at.selectbox(key="ex-map-colour").set_value("Duplicate group").run()
    assert not at.exception and _chart(at)

    at.radio(key="ex-map-method").set_value("UMAP (background job, cached)").run()
    assert "No UMAP map of these" in _captions(at)
    at.button(key="ex-map-umap-start").click()
    _run(at)
    job = _wait_for_job("caption-map", timeout_s=240)
    assert job["status"] == "succeeded", job
    _run(at)
    assert "UMAP of all" in _captions(at)
    from db.jobs import get_job
    from db.storage import get_storage
    from ui.resources import get_cursor

    cached = Path(get_job(get_cursor(), job["job_id"])["result"]["path"])
    assert cached.is_file() and cached.is_relative_to(get_storage(get_cursor()).cache)
