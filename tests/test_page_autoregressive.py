"""The autoregressive page: its controls drive the grid model, the sampler and the character model."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from csv_files import BAD_CSV_2D as BAD_CSV, ROWS_2D as FILE_ROWS, rows_csv as _rows_csv, upload

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "10_Autoregressive.py")


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=180).run()


def _metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_opens_steps_and_learns_towards_the_truth(app):
    assert not app.exception
    start = float(_metrics(app)["held-out NLL"])
    truth = float(_metrics(app)["truth NLL"])
    app.slider(key="ar_grid__speed").set_value(100).run()
    for _ in range(3):
        app.button(key="ar_grid__step").click().run()
    assert not app.exception and app.session_state["ar_grid"].iteration == 300
    learned = float(_metrics(app)["held-out NLL"])
    assert learned < start - 0.5 and abs(learned - truth) < 0.3
    assert len(app.get("plotly_chart")) >= 3  # joint panels, conditional, samples


def test_controls_rebuild_the_model(app):
    app.select_slider(key="bins").set_value(12).run()
    app.radio(key="order").set_value("x2_first").run()
    app.select_slider(key="ndata").set_value(100).run()
    app.select_slider(key="arlr").set_value(3e-3).run()
    assert not app.exception
    model = app.session_state["ar_grid"]
    assert model.config.bins == 12 and model.config.order == "x2_first" and len(model.train_cells) == 100
    assert model.config.lr == 3e-3 and model.optimizer.param_groups[0]["lr"] == 3e-3
    assert _metrics(app)["cells"] == "144"
    app.slider(key="slice").set_value(3).run()
    app.select_slider(key="artemp").set_value(0.5).run()
    app.select_slider(key="nsamp").set_value(1000).run()
    assert not app.exception


def test_character_model_controls_and_bad_input(app):
    app.button(key="ar_chars__step").click().run()
    assert app.session_state["ar_chars"].iteration == 20
    app.text_input(key="prefix").input("Jo").run()
    app.select_slider(key="ctemp").set_value(0.1).run()
    app.select_slider(key="topk").set_value(3).run()
    assert not app.exception
    assert _metrics(app)["next letters kept"] == "3"
    app.select_slider(key="topk").set_value(27).run()
    app.select_slider(key="topp").set_value(0.5).run()
    assert int(_metrics(app)["next letters kept"]) < 27
    app.text_input(key="prefix").input("ab3").run()  # not a letter: a message, the page goes on
    assert not app.exception and any("cannot be used" in w.value for w in app.warning)
    app.text_input(key="prefix").input("ma").run()
    app.text_input(key="word").input("zoë").run()
    assert not app.exception and any("cannot be scored" in w.value for w in app.warning)
    app.text_input(key="word").input("emma").run()
    assert any("log p(“emma.”)" in c.value for c in app.caption)


def test_sample_only_data_has_no_truth(app):
    app.selectbox(key="ardata").set_value("moons").run()  # sample-only: no truth panel
    assert not app.exception
    assert "truth NLL" not in _metrics(app)
    samples = app.session_state["ar_grid"].sample(50, seed=0)["points"]
    assert np.isfinite(samples).all()



def test_choosing_another_dataset_rebuilds_the_model_on_it(app):
    assert app.session_state["ar_grid"].target.name == "mog2d"
    app.selectbox(key="ardata").set_value("moons").run()
    assert not app.exception
    assert app.session_state["ar_grid"].target.name == "moons"


# CSV uploads: a good file is what the grid model learns, bad ones get their message and the page keeps working

def _csv_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params["ardata"] = "csv"
    return at.run()


def _upload(at: AppTest, name: str, raw: bytes) -> AppTest:
    return upload(at, "ardata", name, raw)




def test_a_good_csv_is_accepted_without_a_truth():
    at = _upload(_csv_page(), "mine.csv", _rows_csv(FILE_ROWS))
    assert not at.exception and not at.error
    assert any("from your file (2D)" in s.value for s in at.success)
    assert "truth NLL" not in _metrics(at)  # a file has no known density
    at.button(key="ar_grid__step").click().run()
    assert not at.exception and at.session_state["ar_grid"].iteration > 0


def test_a_good_csv_is_what_the_grid_model_learns():
    at = _upload(_csv_page(), "mine.csv", _rows_csv(FILE_ROWS))
    target = at.session_state["ar_grid"].target
    assert getattr(target, "data", None) is not None, f"the model is still built on {target.name}"
    np.testing.assert_allclose(target.data, FILE_ROWS)


def test_a_two_row_csv_is_accepted_and_learned():
    """The smallest file the reader accepts: this page sets no minimum, so it must cope."""
    at = _upload(_csv_page(), "two.csv", b"1.0,2.0\n3.0,-1.0\n")
    assert not at.exception and not at.error
    at.button(key="ar_grid__step").click().run()
    assert not at.exception
    target = at.session_state["ar_grid"].target
    assert getattr(target, "data", None) is not None, f"the model is still built on {target.name}"
    np.testing.assert_allclose(target.data, [[1.0, 2.0], [3.0, -1.0]])


@pytest.mark.parametrize("kind", list(BAD_CSV))
def test_a_bad_csv_gets_a_clear_error_and_the_page_keeps_working(kind):
    raw, message = BAD_CSV[kind]
    at = _upload(_csv_page(), f"{kind}.csv", raw)
    assert not at.exception
    errors = " ".join(error.value for error in at.error)
    assert message in errors, errors
    assert at.session_state["ar_grid"].target.name == "mog2d"  # the fallback dataset
    at.button(key="ar_grid__step").click().run()
    assert not at.exception and at.session_state["ar_grid"].iteration > 0


def test_ancestral_sampling_one_point_at_a_time(app):
    app.toggle(key="onebyone").set_value(True).run()
    assert not app.exception and any("Draw the next point" in c.value for c in app.caption)
    for _ in range(3):
        app.button(key="ar_next").click().run()
    caption = next(c.value for c in app.caption if c.value.startswith("Point 3:"))
    model = app.session_state["ar_grid"]
    drawn = model.sample(300, seed=0)
    p_first, p_second = drawn["p_first"][2], drawn["p_second"][2]
    assert f"(p = {p_first:.3f})" in caption and f"log p(cell) = {np.log(p_first * p_second):.3f}" in caption
    assert np.log(p_first * p_second) == pytest.approx(model.log_prob(drawn["cells"][2:3])[0], abs=1e-4)
    spec = json.loads(app.get("plotly_chart")[2].proto.spec)  # joint panels, conditional, samples
    xs = next(t["x"] for t in spec["data"] if t.get("name") == "samples")
    if isinstance(xs, dict):  # a base64 typed array
        xs = np.frombuffer(base64.b64decode(xs["bdata"]), dtype=np.dtype(xs["dtype"]))
    assert len(xs) == 3  # the three points drawn so far
    assert spec["layout"]["shapes"]  # the dotted line of the last first-coordinate draw
    app.button(key="ar_again").click().run()
    assert any("Draw the next point" in c.value for c in app.caption)


def test_generation_one_character_at_a_time(app):
    app.slider(key="ar_chars__speed").set_value(200).run()
    app.button(key="ar_chars__step").click().run()
    app.text_input(key="prefix").input("").run()
    app.select_slider(key="ctemp").set_value(0.1).run()  # close to the argmax: a likely name
    typed = []
    for _ in range(25):
        app.button(key="ar_nextchar").click().run()
        assert not app.exception
        typed.append(app.text_input(key="prefix").value)
        if app.success:
            break
    finished = app.session_state["ar_finished"]
    assert app.success and finished and set(finished) <= set("abcdefghijklmnopqrstuvwxyz")
    assert typed[:len(finished)] == [finished[:i + 1] for i in range(len(finished))]  # one letter per click
    assert app.text_input(key="prefix").value == ""  # the end mark was drawn: a new word starts
