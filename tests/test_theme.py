"""The figure theme: one look, projection scaling, and no per-figure template copy."""

import plotly.graph_objects as go
import plotly.io as pio

from playground.figures import theme


def test_default_template_carries_palette_and_white_background():
    theme.use_playground_template()  # importing Streamlit installs its own default
    assert pio.templates.default == theme.TEMPLATE_NAME
    fig = go.Figure()
    template = fig.layout.template.layout
    assert list(template.colorway) == theme.PALETTE
    assert template.plot_bgcolor == "white"
    # plotly_white's per-trace defaults are left out on purpose (they made theming slow)
    assert not fig.layout.template.data.to_plotly_json()


def test_style_figure_sets_mode_sizes_and_keeps_builder_choices():
    fig = go.Figure(theme.scatter([0, 1], [0, 1], role="data"))
    fig.update_layout(margin={"l": 5, "r": 5, "t": 5, "b": 5}, height=300)
    theme.style_figure(fig, projection=False)
    assert fig.layout.font.size == theme.NORMAL.font
    assert fig.layout.height == 300
    assert fig.layout.margin.l == 5
    assert fig.data[0].marker.size == theme.NORMAL.marker


def test_projection_scales_fonts_markers_lines_and_annotations():
    fig = go.Figure([theme.scatter([0, 1], [0, 1]), theme.line([0, 1], [1, 0])])
    fig.add_annotation(text="note", x=0, y=0)
    theme.style_figure(fig, projection=True)
    assert fig.layout.font.size == theme.PROJECTION.font
    assert fig.layout.title.font.size == theme.PROJECTION.title_font
    assert fig.layout.height == theme.PROJECTION.height
    assert fig.data[0].marker.size == theme.NORMAL.marker * theme.PROJECTION.marker / theme.NORMAL.marker
    assert fig.data[1].line.width == theme.PROJECTION.line
    assert fig.layout.annotations[0].font.size == theme.PROJECTION.font


def test_figure_built_under_another_default_still_gets_the_palette():
    previous = pio.templates.default
    pio.templates.default = "plotly"
    try:
        fig = go.Figure()
    finally:
        pio.templates.default = previous
    theme.style_figure(fig)
    assert list(fig.layout.template.layout.colorway) == theme.PALETTE
    assert fig.layout.template.layout.plot_bgcolor == "white"


def test_scatter_switches_to_webgl_above_threshold():
    small = theme.scatter(range(10), range(10))
    large = theme.scatter(range(theme.WEBGL_THRESHOLD + 1), range(theme.WEBGL_THRESHOLD + 1))
    assert small.type == "scatter" and large.type == "scattergl"
