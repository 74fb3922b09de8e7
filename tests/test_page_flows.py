"""AppTest of the flow-warping page: shape F, train both flows, play, scrub layers, NICE vs Real-NVP."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from streamlit.testing.v1 import AppTest

from playground.ui import player

from csv_files import ROWS, rows_csv as _rows_csv, upload

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "5_Flow_warping.py")
FAST = {"L": "2", "h": "8"}  # a small 2D flow: the page logic is under test here, not the training


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    for key, value in FAST.items():
        at.query_params[key] = value
    return at.run()


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _iterations(at: AppTest) -> list[int]:
    """Iteration counters of the 1D and the 2D stepper, in page order."""
    return [int(c.value.split()[1]) for c in at.caption if c.value.startswith("Iteration")]


def _latex(at: AppTest) -> list[str]:
    return [element.value for element in at.latex]


def _numbers(text: str) -> list[float]:
    """The decimal numbers written into a live formula."""
    return [float(number) for number in re.findall(r"-?\d+\.\d+", text)]


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _chart(at: AppTest, title_part: str) -> dict:
    for spec in _charts(at):
        title = spec["layout"].get("title", {}).get("text") or ""
        if title_part in title:
            return spec
    raise AssertionError(f"no chart titled with {title_part!r}")


def _values(array) -> np.ndarray:
    """A Plotly array from a figure spec (plain list or base64 typed array, 2D with its shape)."""
    if isinstance(array, dict):
        values = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
        if "shape" in array:
            values = values.reshape([int(n) for n in str(array["shape"]).split(",")])
        return values.astype(float)
    return np.asarray(array, dtype=float)


def _trace(at: AppTest, name: str) -> dict:
    """The first trace called ``name`` in any chart of the page."""
    for spec in _charts(at):
        for trace in spec["data"]:
            if trace.get("name") == name:
                return trace
    raise AssertionError(f"no trace named {name!r}")


# Independent references: the density of a flow z = F(x) by the change of variables, with F'(x)
# (1D) or the full Jacobian (2D) from autograd and log q from SciPy, not from the flow's own log-dets.

def _autograd_log_density_1d(flow, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log q(F(x)), log F'(x)) per point; F' = dF/dx by autograd (each output depends on its own x only)."""
    points = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1, 1), dtype=flow.dtype).requires_grad_(True)
    z = flow(points)[0]
    (derivative,) = torch.autograd.grad(z.sum(), points)
    assert torch.all(derivative > 0)  # monotone increasing, as a 1D flow must be
    return (stats.norm.logpdf(z.detach().double().numpy()[:, 0]),
            np.log(derivative.detach().double().numpy()[:, 0]))


def _autograd_log_density_2d(flow, x: np.ndarray) -> np.ndarray:
    """log q(F(x)) + log|det dF/dx| per point, the 2x2 Jacobian of each point by autograd."""
    points = torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=flow.dtype).requires_grad_(True)
    z = flow(points)[0]
    # the points do not interact, so d(sum_i z_i[k]) / dx_i is row k of point i's Jacobian
    rows = [torch.autograd.grad(z[:, k].sum(), points, retain_graph=True)[0] for k in range(2)]
    jacobians = torch.stack(rows, 1).detach().double().numpy()  # (n, 2, 2)
    log_det = np.log(np.abs(np.linalg.det(jacobians)))
    log_base = stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z.detach().double().numpy())
    return log_base + log_det


def test_page_loads_with_all_sections_and_no_errors(app):
    assert not app.exception and not app.error
    assert app.title[0].value == "Normalizing-flow warping"
    assert _iterations(app) == [0, 0]
    assert [h.value for h in app.header][:3] == ["1 · Change of variables in 1D", "2 · A 1D flow learns a density",
                                                 "3 · 2D flows: NICE and Real-NVP"]
    assert len(_charts(app)) == 7  # change of variables, 1D fit + NLL, warping, density, log-dets, NLL
    assert float(_metrics(app)["∫ p(x) dx"]) == pytest.approx(1.0, abs=2e-3)


def test_shaping_the_map_gives_the_closed_form_density_which_integrates_to_one(app):
    before = _latex(app)[0]
    app.slider(key="w").set_value(3.0).run()
    app.slider(key="s").set_value(0.2).run()
    app.slider(key="x0").set_value(1.1).run()
    assert not app.exception
    assert _latex(app)[0] != before
    # the closed form of F(x) = a x + w tanh((x - c)/s), with q = N(0, 1) from SciPy
    a, w, c, s = 0.5, 3.0, 1.0, 0.2  # a and c at their defaults
    assert (app.slider(key="a").value, app.slider(key="c").value) == (a, c)

    def closed_form(x):
        F = a * x + w * np.tanh((x - c) / s)
        F_prime = a + (w / s) / np.cosh((x - c) / s) ** 2
        return F, F_prime, stats.norm.pdf(F) * F_prime

    F0, F_prime0, p0 = closed_form(1.1)
    base_density, derivative, density = _numbers(_latex(app)[0])
    assert base_density == pytest.approx(stats.norm.pdf(F0), abs=1e-3)
    assert derivative == pytest.approx(F_prime0, abs=1e-3)
    assert density == pytest.approx(p0, abs=1e-3)
    assert float(_metrics(app)["F(x₀)"]) == pytest.approx(F0, abs=1e-3)
    # the drawn density curve is the closed form everywhere, and it integrates to 1 (trapezoid)
    curve = _trace(app, "p(x) = q(F(x))·|F′(x)|")
    x, drawn = _values(curve["x"]), _values(curve["y"])
    np.testing.assert_allclose(drawn, closed_form(x)[2], rtol=1e-6, atol=1e-9)
    assert np.trapezoid(drawn, x) == pytest.approx(1.0, abs=1e-3)


def test_one_dimensional_flow_nll_agrees_with_an_autograd_change_of_variables(app):
    start = _latex(app)[1]
    for _ in range(3):
        app.button(key="flow1d__step").click().run()
    assert not app.exception
    assert _iterations(app)[0] == 60  # 3 clicks x 20 steps per tick
    nll, log_base, log_derivative = _numbers(_latex(app)[1])
    assert nll < _numbers(start)[0]
    # the same three averages from the trained flow: F'(x_i) by autograd, log q by SciPy
    trainer = app.session_state["flow1d"]
    data = trainer.data.double().numpy()
    reference_base, reference_derivative = _autograd_log_density_1d(trainer.flow, data)
    assert log_base == pytest.approx(reference_base.mean(), abs=2e-3)
    assert log_derivative == pytest.approx(reference_derivative.mean(), abs=2e-3)
    assert nll == pytest.approx(-(reference_base + reference_derivative).mean(), abs=2e-3)
    # the drawn model density is that density, and the density integrates to 1 (trapezoid, wide range)
    curve = _trace(app, "flow p(x)")
    x = _values(curve["x"])
    np.testing.assert_allclose(_values(curve["y"]), np.exp(sum(_autograd_log_density_1d(trainer.flow, x))),
                               rtol=1e-4, atol=1e-6)
    wide = np.linspace(-40.0, 40.0, 80_001)
    assert np.trapezoid(np.exp(sum(_autograd_log_density_1d(trainer.flow, wide))), wide) == pytest.approx(1.0, abs=2e-3)


def test_two_dimensional_step_and_play_change_the_numbers(app):
    before = _latex(app)[2]
    app.button(key="flow2d__step").click().run()
    assert _iterations(app)[1] == 10
    after_step = _latex(app)[2]
    assert after_step != before
    # Play trains a first chunk ahead for the browser (the warping is drawn there); the density and
    # the numbers below follow the chunk
    app.button(key="flow2d__play").click().run()
    assert not app.exception
    assert 10 < app.session_state["flow2d"].iteration <= 10 + 10 * player.FIRST_CHUNK
    assert _latex(app)[2] != after_step
    # Pause puts the run back to the frame on the screen (no browser here: none drawn, so 10)
    app.button(key="flow2d__play").click().run()
    assert app.session_state["flow2d"].iteration == 10
    assert _latex(app)[2] == after_step
    app.run()
    assert app.session_state["flow2d"].iteration == 10
    app.button(key="flow2d__step").click().run()
    assert _iterations(app)[1] == 20
    assert float(_metrics(app)["max |F⁻¹(F(x)) − x|"]) < 1e-4


def test_two_dimensional_density_agrees_with_an_autograd_jacobian_and_integrates_to_one(app):
    app.button(key="flow2d__step").click().run()
    assert not app.exception
    flow = app.session_state["flow2d"].flow
    shown = app.session_state["flow2d"].data.double().numpy()[:400]  # the page's view points
    mean_log_p, mean_log_base, sum_log_dets = _numbers(_latex(app)[2])
    reference = _autograd_log_density_2d(flow, shown)
    assert mean_log_p == pytest.approx(reference.mean(), abs=2e-3)
    z = flow(torch.as_tensor(shown, dtype=flow.dtype))[0].detach().double().numpy()
    assert mean_log_base == pytest.approx(stats.norm.logpdf(z).sum(1).mean(), abs=2e-3)
    assert sum_log_dets == pytest.approx((reference - stats.norm.logpdf(z).sum(1)).mean(), abs=2e-3)
    # one point at a time, with torch.autograd.functional.jacobian as the textbook reference
    for point in shown[:3]:
        x = torch.as_tensor(point, dtype=flow.dtype)
        jacobian = torch.autograd.functional.jacobian(lambda row: flow(row[None])[0][0], x).double().numpy()
        _, log_det = flow(x[None])
        assert float(log_det.detach()) == pytest.approx(np.log(abs(np.linalg.det(jacobian))), abs=1e-4)
    # the heatmap is that density on its grid ...
    heat = _trace(app, "p(x)")
    x_axis, y_axis, drawn = _values(heat["x"]), _values(heat["y"]), _values(heat["z"])
    mesh = np.stack([g.ravel() for g in np.meshgrid(x_axis, y_axis, indexing="xy")], 1)
    np.testing.assert_allclose(drawn.ravel(), np.exp(_autograd_log_density_2d(flow, mesh)), rtol=1e-3, atol=1e-6)
    # ... and the density integrates to 1 over a box wide enough to hold the mass (midpoint grid sum)
    edges = np.linspace(-12.0, 12.0, 481)
    centres = (edges[:-1] + edges[1:]) / 2
    grid = np.stack([g.ravel() for g in np.meshgrid(centres, centres, indexing="xy")], 1)
    mass = np.exp(_autograd_log_density_2d(flow, grid)).sum() * (edges[1] - edges[0]) ** 2
    assert mass == pytest.approx(1.0, abs=5e-3)


def test_layer_slider_and_direction_scrub_through_the_warping(app):
    stages = int(FAST["L"]) + 1
    assert _chart(app, f"({stages} of {stages} layers)")["layout"]["title"]["text"].startswith("x = F⁻¹(z)")
    app.slider(key="layer").set_value(0).run()
    warp = _chart(app, "(0 of")
    assert warp["layout"]["title"]["text"].startswith("z ~ N(0, I)")
    assert len(warp["frames"]) == stages + 1
    app.radio(key="dir").set_value("normalizing").run()
    assert not app.exception
    assert _chart(app, "(0 of")["layout"]["title"]["text"].startswith("data x")
    app.slider(key="layer").set_value(stages).run()
    assert _chart(app, f"({stages} of")["layout"]["title"]["text"].startswith("z = F(x)")


def test_more_layers_then_fewer_keeps_the_layer_slider_in_range(app):
    app.slider(key="L").set_value(5).run()
    app.slider(key="layer").set_value(6).run()
    app.slider(key="L").set_value(1).run()
    assert not app.exception
    assert app.slider(key="layer").value == 2


def test_switching_nice_and_realnvp_rebuilds_and_shows_volume_preservation(app):
    app.button(key="flow2d__step").click().run()
    app.radio(key="kind").set_value("nice").run()
    assert not app.exception
    assert _iterations(app)[1] == 0  # a new model
    app.button(key="flow2d__step").click().run()
    bars = _values(_chart(app, "log|det J_l|")["data"][0]["y"])
    assert bars[0] != 0 and np.all(bars[1:] == 0)  # NICE couplings preserve volume exactly
    app.radio(key="kind").set_value("realnvp").run()
    app.button(key="flow2d__step").click().run()
    bars = _values(_chart(app, "log|det J_l|")["data"][0]["y"])
    assert np.any(bars[1:] != 0)


def test_exploding_realnvp_stops_with_a_message_and_the_page_survives(app):
    app.select_slider(key="lr").set_value(10.0).run()
    app.toggle(key="bound").set_value(False).run()
    app.slider(key="flow2d__speed").set_value(60).run()
    for _ in range(2):
        app.button(key="flow2d__step").click().run()
    assert not app.exception
    assert any("Stopped at iteration" in error.value for error in app.error)
    assert np.isfinite(float(_metrics(app)["mass in view"]))


def test_link_reproduces_the_controls():
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params.update({"kind": "nice", "L": "3", "dir": "normalizing", "layer": "1", "d2": "circles", "a": "2.0"})
    at.run()
    assert not at.exception
    assert at.radio(key="kind").value == "nice" and at.slider(key="L").value == 3
    assert at.selectbox(key="d2").value == "circles" and at.slider(key="a").value == 2.0
    assert _chart(at, "(1 of 4 layers)")["layout"]["title"]["text"].startswith("after scale 1")


# CSV uploads, to the 1D section (picker "d1") and the 2D section (picker "d2")

def _csv_page(picker: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    for key, value in FAST.items():
        at.query_params[key] = value
    at.query_params[picker] = "csv"
    return at.run()


_upload = upload
PICKERS = {1: ("d1", "flow1d"), 2: ("d2", "flow2d")}  # the section's data picker and its trainer


def _bad_files(dim: int) -> dict[str, tuple[bytes, str]]:
    other = 2 if dim == 1 else 1
    return {
        "too small": (_rows_csv(ROWS[dim][:5]), "Only 5 data rows: a flow needs at least 20"),
        "one row": (_rows_csv(ROWS[dim][:1]), "single data row"),
        "non-numeric": (b"x,y\n1,2\nfoo,3\n", "Row 3, column 1: 'foo' is not a number"),
        "3 columns": (b"1,2,3\n4,5,6\n", "Expected 1 or 2 numeric columns, found 3"),
        "wrong dimension": (_rows_csv(ROWS[other][:30]), f"This page needs {dim}D data; the file has {other} column(s)"),
        "NaN": (b"1,2\nnan,3\n" if dim == 2 else b"1\nnan\n3\n", "hold NaN or infinity"),
    }


@pytest.mark.parametrize("dim", [1, 2])
def test_a_good_csv_is_what_the_flow_trains_on(dim):
    picker, state = PICKERS[dim]
    at = _upload(_csv_page(picker), picker, "mine.csv", _rows_csv(ROWS[dim]))
    assert not at.exception and not at.error
    assert any("from your file" in s.value for s in at.success)
    np.testing.assert_allclose(at.session_state[state].data.cpu().numpy(), ROWS[dim], atol=1e-5)
    at.button(key=f"{state}__step").click().run()
    assert not at.exception and _iterations(at)[dim - 1] > 0
    if dim == 1:  # no known truth for a file: no "NLL of the truth"
        assert "NLL of the truth" not in _metrics(at)


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("kind", ["too small", "one row", "non-numeric", "3 columns", "wrong dimension", "NaN"])
def test_a_bad_csv_gets_a_clear_error_and_the_page_keeps_working(dim, kind):
    picker, state = PICKERS[dim]
    raw, message = _bad_files(dim)[kind]
    at = _upload(_csv_page(picker), picker, f"{kind}.csv", raw)
    assert not at.exception
    errors = " ".join(error.value for error in at.error)
    assert message in errors, errors
    if kind == "too small":  # read, but this section trains nothing until the data is larger
        assert len(_iterations(at)) == 1
    else:  # the section trains on its fallback dataset
        assert len(at.session_state[state].data) > len(ROWS[dim])
        at.button(key=f"{state}__step").click().run()
        assert not at.exception and _iterations(at)[dim - 1] > 0
    at = _upload(at, picker, "mine.csv", _rows_csv(ROWS[dim]))  # a good file afterwards works
    assert not at.exception and not at.error
    assert len(at.session_state[state].data) == len(ROWS[dim])


def test_one_layers_jacobian_panel_shows_a_triangular_matrix_and_matching_log_dets(app):
    app.button(key="flow2d__step").click().run()
    metrics = _metrics(app)
    assert float(metrics["log|det J| (autograd)"]) == pytest.approx(float(metrics["log|det J| (the layer's)"]), abs=1e-3)
    assert any("is the identity's, so the matrix is triangular" in md.value for md in app.markdown)
    app.slider(key="jl").set_value(1).run()  # the scale layer: diagonal
    assert any("Layer 1 (scale) scales each coordinate" in md.value for md in app.markdown)
    assert any(r"\begin{pmatrix}" in text for text in _latex(app))
