"""AppTest of the flow-warping page: shape F, train both flows, play, scrub layers, NICE vs Real-NVP."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

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
    """A Plotly array from a figure spec (plain list or base64 typed array)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=float)


def test_page_loads_with_all_sections_and_no_errors(app):
    assert not app.exception and not app.error
    assert app.title[0].value == "Normalizing-flow warping"
    assert _iterations(app) == [0, 0]
    assert [h.value for h in app.header][:3] == ["1 · Change of variables in 1D", "2 · A 1D flow learns a density",
                                                 "3 · 2D flows: NICE and Real-NVP"]
    assert len(_charts(app)) == 7  # change of variables, 1D fit + NLL, warping, density, log-dets, NLL
    assert float(_metrics(app)["∫ p(x) dx"]) == pytest.approx(1.0, abs=2e-3)


def test_shaping_the_map_changes_the_density_numbers(app):
    before = _latex(app)[0]
    app.slider(key="w").set_value(3.0).run()
    app.slider(key="s").set_value(0.2).run()
    assert not app.exception
    after = _latex(app)[0]
    assert after != before
    # p(x0) = q(F(x0)) * F'(x0): the three live numbers in the formula agree
    base_density, derivative, density = _numbers(after)
    assert base_density * derivative == pytest.approx(density, abs=2e-3)
    assert derivative > 5  # a tall narrow step: F is steep at the probe


def test_one_dimensional_flow_trains_by_steps_and_lowers_the_nll(app):
    start = _latex(app)[1]
    for _ in range(3):
        app.button(key="flow1d__step").click().run()
    assert not app.exception
    assert _iterations(app)[0] == 60  # 3 clicks x 20 steps per tick
    nll, log_base, log_derivative = _numbers(_latex(app)[1])
    assert nll == pytest.approx(-(log_base + log_derivative), abs=2e-3)
    assert nll < _numbers(start)[0]


def test_two_dimensional_step_and_play_change_the_numbers(app):
    before = _latex(app)[2]
    app.button(key="flow2d__step").click().run()
    assert _iterations(app)[1] == 10
    after_step = _latex(app)[2]
    assert after_step != before
    app.button(key="flow2d__play").click().run()  # play: the fragment steps once per run
    app.run()
    assert not app.exception
    assert _iterations(app)[1] >= 30
    assert _latex(app)[2] != after_step
    app.button(key="flow2d__play").click().run()  # pause
    paused = _iterations(app)[1]
    app.run()
    assert _iterations(app)[1] == paused
    assert float(_metrics(app)["max |F⁻¹(F(x)) − x|"]) < 1e-4


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
