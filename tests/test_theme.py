"""The figure theme: one look, projection scaling, and no per-figure template copy; its colours
checked by published formulas (WCAG 2.1 contrast, CIELAB distance, simulated colour blindness)."""

import itertools

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from playground.figures import theme

PLOTLY_JS_TEXT = "#444444"  # plotly.js's font colour when the template sets none

# Machado, Oliveira & Fernandes (2009), severity 1.0, applied to linear RGB.
COLOUR_BLINDNESS = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])


def _linear_rgb(colour: str) -> np.ndarray:
    """#RRGGBB (or a CSS name Plotly uses here) -> linear-light RGB in [0, 1] (the sRGB transfer curve)."""
    colour = {"white": "#FFFFFF", "black": "#000000"}.get(colour, colour).lstrip("#")
    rgb = np.array([int(colour[i:i + 2], 16) / 255 for i in (0, 2, 4)])
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _wcag_contrast(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio (L1 + 0.05) / (L2 + 0.05) of relative luminances."""
    lighter, darker = sorted((float(_linear_rgb(c) @ [0.2126, 0.7152, 0.0722]) for c in (a, b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65 white) of a linear-RGB colour."""
    xyz = SRGB_TO_XYZ @ linear_rgb / SRGB_TO_XYZ.sum(1)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _closest_pair(colours: list[str], vision: str | None) -> float:
    """The smallest CIE76 distance (Delta E) between two of ``colours``, as seen with ``vision``."""
    seen = [_linear_rgb(c) for c in colours]
    if vision is not None:
        seen = [np.clip(np.array(COLOUR_BLINDNESS[vision]) @ c, 0, 1) for c in seen]
    return min(float(np.linalg.norm(_lab(a) - _lab(b))) for a, b in itertools.combinations(seen, 2))


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
    assert fig.data[0].marker.size == theme.PROJECTION.marker
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


def test_projection_scales_a_builders_own_sizes_by_the_ratio_of_the_two_modes():
    fig = go.Figure([theme.scatter([0, 1], [0, 1], size=3), theme.line([0, 1], [1, 0], line={"width": 1})])
    theme.style_figure(fig, projection=True)
    assert fig.data[0].marker.size == pytest.approx(3 * 9 / 5)  # marker 5 -> 9
    assert fig.data[1].line.width == pytest.approx(1 * 4.5 / 2)  # line 2 -> 4.5
    theme.style_figure(fig, projection=False)  # normal mode leaves sizes alone
    assert fig.data[0].marker.size == pytest.approx(3 * 9 / 5)


def test_figure_text_passes_wcag_aa_contrast_on_the_backgrounds():
    layout = go.Figure().layout.template.layout
    text = layout.font.color or PLOTLY_JS_TEXT
    for background in (layout.plot_bgcolor, layout.paper_bgcolor):
        assert _wcag_contrast(text, background) >= 4.5  # WCAG 2.1 AA, normal-size text
    # the formula itself: black on white is 21:1, a colour on itself 1:1
    assert _wcag_contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert _wcag_contrast("#0072B2", "#0072B2") == pytest.approx(1.0)


def test_grid_lines_recede_behind_every_role_colour():
    layout = go.Figure().layout.template.layout
    grid = _wcag_contrast(layout.xaxis.gridcolor, layout.plot_bgcolor)
    assert grid < 1.3  # faint
    for role, colour in theme.ROLE_COLORS.items():
        assert _wcag_contrast(colour, layout.plot_bgcolor) > 1.5 * grid, role


@pytest.mark.parametrize("vision", [None, *COLOUR_BLINDNESS])
def test_palette_and_role_colours_stay_distinct_with_colour_blindness(vision):
    """The palette's claim: distinguishable under the common colour-vision deficiencies. A Delta E of 15
    keeps every pair apart; Plotly's and D3's default palettes have pairs within 5 for protanopia."""
    minimum = 25.0 if vision is None else 15.0
    assert _closest_pair(theme.PALETTE, vision) >= minimum
    assert _closest_pair(list(theme.ROLE_COLORS.values()), vision) >= minimum
    assert len(set(theme.ROLE_COLORS.values())) == len(theme.ROLE_COLORS)  # one colour per role
    assert set(theme.ROLE_COLORS.values()) <= set(theme.PALETTE)


def test_the_distance_check_rejects_a_palette_that_is_not_colour_blind_safe():
    plotly_default = list(pio.templates["plotly"].layout.colorway)[:8]
    assert _closest_pair(plotly_default, None) > 15.0  # fine with normal vision ...
    assert _closest_pair(plotly_default, "protanopia") < 5.0  # ... two of its colours merge for protanopes


def test_hover_labels_take_the_mode_s_font_size():
    import plotly.graph_objects as go

    from playground.figures.theme import scale_for, style_figure

    for projection in (False, True):
        fig = style_figure(go.Figure(go.Scatter(x=[0, 1], y=[0, 1])), projection)
        assert fig.layout.hoverlabel.font.size == scale_for(projection).font > 13
