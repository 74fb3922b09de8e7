"""figures.primitives.curves: the one builder of metric histories."""

from __future__ import annotations

import numpy as np
from plotly.subplots import make_subplots

from playground.figures.primitives import Series, curves, mark_current
from playground.figures.theme import ROLE_COLORS


def test_series_names_roles_and_styles():
    x = np.arange(1, 6)
    fig = curves({"train": np.ones(5), "test": Series(np.arange(5.0), role="latent", dash="dot", width=1, opacity=0.3),
                  "colour": Series(np.ones(5), role="#123456")}, x=x, x_title="epoch", y_title="loss", title="T")
    assert [t.name for t in fig.data] == ["train", "test", "colour"]
    assert fig.data[0].line.color == ROLE_COLORS["model"] and fig.data[1].line.color == ROLE_COLORS["latent"]
    assert fig.data[1].line.dash == "dot" and fig.data[1].line.width == 1 and fig.data[1].opacity == 0.3
    assert fig.data[2].line.color == "#123456"
    np.testing.assert_array_equal(fig.data[1].x, x)
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "loss"
    assert fig.layout.title.text == "T" and fig.layout.yaxis.type is None


def test_log_axis_reference_levels_current_marker_and_gaps():
    values = np.array([1.0, np.nan, 0.5, np.inf, 0.25])
    fig = curves({"kl": Series(values, finite_only=True), "own x": Series([3.0], x=[9], mode="markers",
                                                                            marker={"symbol": "square"})},
                 x=np.arange(5), log_y=True, references={"true KL": 0.2}, current=2)
    np.testing.assert_array_equal(fig.data[0].x, [0, 2, 4])
    np.testing.assert_array_equal(fig.data[0].y, [1.0, 0.5, 0.25])
    assert fig.data[1].mode == "markers" and fig.data[1].marker.symbol == "square" and list(fig.data[1].x) == [9]
    assert fig.layout.yaxis.type == "log"
    level, marker = fig.layout.shapes
    assert level.y0 == level.y1 == 0.2 and level.line.color == ROLE_COLORS["truth"] and level.line.dash == "dash"
    assert fig.layout.annotations[0].text == "true KL"
    assert marker.x0 == marker.x1 == 2 and marker.line.color == ROLE_COLORS["accent"]


def test_empty_history_shows_a_hint_and_panels_of_subplots():
    empty = curves({}, empty_text="press Step")
    assert empty.layout.annotations[0].text == "press Step" and empty.layout.xaxis.range == (0, 10)
    assert curves({}).layout.annotations == ()

    fig = make_subplots(rows=1, cols=2)
    curves({"a": np.ones(3)}, x=np.arange(3), fig=fig, row=1, col=1, y_axis={"range": [0, 1]})
    curves({"b": np.ones(3)}, x=np.arange(3), fig=fig, row=1, col=2, log_y=True)
    assert fig.data[0].xaxis == "x" and fig.data[1].xaxis == "x2"
    assert tuple(fig.layout.yaxis.range) == (0, 1) and fig.layout.yaxis2.type == "log" and fig.layout.yaxis.type is None
    mark_current(fig, 1, role="truth")
    assert len(fig.layout.shapes) == 2 and fig.layout.shapes[0].line.color == ROLE_COLORS["truth"]  # one per panel
    assert mark_current(fig, None) is fig and len(fig.layout.shapes) == 2


def test_lines_with_markers_and_extra_trace_properties():
    fig = curves({"empty (%)": Series([10.0, 50.0], role="data", mode="lines+markers", marker={"size": 9},
                                      trace={"customdata": [10, 100], "hovertemplate": "%{customdata}"})}, x=[1, 2])
    trace = fig.data[0]
    assert trace.mode == "lines+markers" and trace.marker.size == 9 and trace.line.color == ROLE_COLORS["data"]
    assert list(trace.customdata) == [10, 100] and trace.hovertemplate == "%{customdata}"
