"""Figures of the Add a class page (plotly objects, no browser)."""

from __future__ import annotations

import polars as pl

from ui.extension_figures import make_nearest_figure


def test_nearest_distances_are_drawn_on_an_axis_that_tells_them_apart():
    """Issue 17 item 12: bars from 0 made 0.838 and 0.869 look the same."""
    nearest = pl.DataFrame(
        {
            "name": ["tabby", "tiger cat"],
            "wnid": ["n02123045", "n02123159"],
            "distance": [0.838, 0.869],
        }
    )
    figure = make_nearest_figure(nearest, distance="cosine")
    low, high = figure.layout.xaxis.range
    assert 0.7 < low < 0.838 and 0.869 < high < 1.0
    assert list(figure.data[0].x) == [0.838, 0.869]
