"""AppTest of the diffusion page: train, move t, samplers, presets and their promised numbers, NFE, likelihood."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from csv_files import BAD_CSV_2D as BAD_CSV, ROWS_2D as FILE_ROWS, from_the_file as _from_the_file, rows_csv as _rows_csv, upload

from playground import diffusion as D

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "8_Diffusion.py")


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params["width"] = "32"  # a small network: the page logic is under test here
    return at.run()


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _iteration(at: AppTest) -> int:
    return int(next(c.value for c in at.caption if c.value.startswith("Iteration")).split()[1].rstrip("·"))


def _precision(at: AppTest, sampler: str) -> float:
    return float(_metrics(at)[f"{sampler} · precision / recall"].split("/")[0])


def test_page_loads_trains_and_moves_t(app):
    assert not app.exception and not app.error
    assert _iteration(app) == 0
    assert len(app.get("plotly_chart")) >= 3  # plane, trajectories, schedule (+ gap curve)
    app.button(key="diffusion_trainer__step").click().run()
    assert _iteration(app) == 50 and not app.exception
    before = _metrics(app)["σ(t)"]
    app.slider(key="t").set_value(0.7).run()
    assert _metrics(app)["σ(t)"] != before and not app.exception
    assert app.query_params["t"] in ("0.7", ["0.7"])


def test_play_ticks_and_pause(app):
    # Play trains a first chunk of frames ahead for the browser (playground.ui.player)
    app.button(key="diffusion_trainer__play").click().run()
    assert app.session_state["diffusion_trainer__playing"] and not app.exception
    assert app.session_state["diffusion_trainer"].iteration >= 50  # at least one tick of 50 (chunks are time-boxed)
    # Pause: the run goes back to the frame on the screen (no browser here: none was drawn)
    app.button(key="diffusion_trainer__play").click().run()
    assert not app.session_state["diffusion_trainer__playing"] and _iteration(app) == 0
    app.run()
    assert _iteration(app) == 0


@pytest.mark.parametrize("preset, low, high", [("few_steps", "euler_maruyama", None), ("sde_ode", "euler_maruyama", "euler")])
def test_sampler_presets_show_what_they_promise(app, preset, low, high):
    app.selectbox(key="dpreset").set_value(preset).run()
    assert not app.exception
    if preset == "few_steps":  # 5 steps: blurred; 50 steps: on the modes
        assert _precision(app, "ddpm") < 0.6 and _precision(app, "euler_maruyama") < 0.3
        app.select_slider(key="steps").set_value(50).run()
        assert all(_precision(app, s) > 0.9 for s in ("ddpm", "euler_maruyama", "euler"))
    else:  # 10 steps: the SDE is blurred, the ODE sharp
        assert _precision(app, low) < 0.4 < 0.8 < _precision(app, high)


def test_guidance_preset_is_the_configuration_the_compute_test_checks(app):
    app.selectbox(key="dpreset").set_value("guidance").run()
    assert not app.exception
    trainer = app.session_state["diffusion_trainer"]
    # tests/test_diffusion.py::test_classifier_free_guidance_... trains exactly this and checks w = 8 overshoots
    assert trainer.config == D.DiffusionConfig(schedule="linear", conditional=True, seed=1)
    assert app.select_slider(key="w").value == 8.0 and app.number_input(key="cls").value == 0


def test_exact_score_source_needs_no_training_and_sampler_controls_work(app):
    app.radio(key="src").set_value("exact").run()
    app.multiselect(key="samplers").set_value(["ddim", "heun"]).run()
    app.slider(key="eta").set_value(1.0).run()
    assert not app.exception
    assert set(k.split(" · ")[0] for k in _metrics(app) if "precision" in k) == {"ddim", "heun"}
    assert _precision(app, "ddim") > 0.9  # 50 steps with the exact score
    app.multiselect(key="samplers").set_value([]).run()
    assert any("at least one sampler" in i.value for i in app.info)


def test_nfe_and_likelihood_buttons(app):
    app.radio(key="src").set_value("exact").run()
    app.button(key="nfe_go").click().run()
    assert not app.exception and app.radio(key="nfe_metric").value == "mmd2"
    app.button(key="ll_go").click().run()
    assert not app.exception
    caption = next(c.value for c in app.caption if c.value.startswith("Mean log-likelihood"))
    numbers = [float(part.split()[-1].rstrip(".,")) for part in caption.split(",")]
    assert abs(numbers[0] - numbers[1]) < 0.05  # the ODE with the exact score recovers the true density


def test_schedule_objective_and_sample_only_data(app):
    app.selectbox(key="sched").set_value("straight").run()
    app.selectbox(key="obj").set_value("velocity").run()
    app.button(key="diffusion_trainer__step").click().run()
    assert not app.exception and _iteration(app) == 50
    app.selectbox(key="data").set_value("moons").run()
    assert not app.exception
    assert app.toggle(key="cond").disabled
    assert any("mixture targets only" in i.value for i in app.info)


def test_guidance_controls_and_sweep_on_a_conditional_model(app):
    app.toggle(key="cond").set_value(True).run()
    app.button(key="diffusion_trainer__step").click().run()
    assert not app.exception
    app.number_input(key="cls").set_value(2).run()
    app.select_slider(key="w").set_value(3.0).run()
    app.button(key="cfg_go").click().run()
    assert not app.exception
    assert app.session_state["diffusion_cfg"][1]["w"].tolist() == [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0]


# CSV uploads: a good file is trained on, bad ones get their message and the page keeps working

def _csv_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params["width"] = "32"
    at.query_params["data"] = "csv"
    return at.run()


def _upload(at: AppTest, name: str, raw: bytes) -> AppTest:
    return upload(at, "data", name, raw)




def _trained_rows(at: AppTest) -> np.ndarray:
    return at.session_state["diffusion_trainer"].data.cpu().numpy().astype(np.float64)


def test_a_good_csv_is_what_the_model_trains_on():
    at = _upload(_csv_page(), "mine.csv", _rows_csv(FILE_ROWS))
    assert not at.exception and not at.error
    assert any("from your file" in s.value for s in at.success)
    rows = _trained_rows(at)
    assert _from_the_file(rows, FILE_ROWS).all()  # resampled from the file's rows only ...
    assert _from_the_file(FILE_ROWS, rows).all()  # ... and every one of them is used
    at.button(key="diffusion_trainer__step").click().run()
    assert not at.exception and _iteration(at) > 0


def test_a_two_row_csv_is_accepted_and_trained_on():
    """The smallest file the reader accepts: this page sets no minimum, so it must cope."""
    at = _upload(_csv_page(), "two.csv", b"1.0,2.0\n3.0,-1.0\n")
    assert not at.exception and not at.error
    assert _from_the_file(_trained_rows(at), np.array([[1.0, 2.0], [3.0, -1.0]])).all()
    at.button(key="diffusion_trainer__step").click().run()
    assert not at.exception and _iteration(at) > 0


@pytest.mark.parametrize("kind", list(BAD_CSV))
def test_a_bad_csv_gets_a_clear_error_and_the_page_keeps_working(kind):
    raw, message = BAD_CSV[kind]
    at = _upload(_csv_page(), f"{kind}.csv", raw)
    assert not at.exception
    errors = " ".join(error.value for error in at.error)
    assert message in errors, errors
    assert not _from_the_file(_trained_rows(at), FILE_ROWS).any()  # the fallback dataset instead
    at.button(key="diffusion_trainer__step").click().run()
    assert not at.exception and _iteration(at) > 0
    at = _upload(at, "mine.csv", _rows_csv(FILE_ROWS))  # a good file afterwards works
    assert not at.exception and not at.error
    assert _from_the_file(_trained_rows(at), FILE_ROWS).all()
