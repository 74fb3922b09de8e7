"""AppTest of the diffusion page: train, move t, samplers, presets and their promised numbers, NFE, likelihood."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

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
