"""AppTest of the latent explorer: train each model a step, play a tick, move the probe, no exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "4_Latent_explorer.py")
TIMEOUT = 240  # the machine running the suite may be shared and slow


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _chart_spec(at: AppTest, key: str) -> dict:
    """The Plotly JSON of the chart drawn with ``key``."""
    for chart in at.get("plotly_chart"):
        if key in chart.proto.id:
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart with key {key!r}")


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _number(text: str) -> float:
    return float(str(text).replace("−", "-").replace(",", ""))


@pytest.fixture()
def app() -> AppTest:
    """A fresh page for every test: no test sees another's clicks."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    _ok(at)
    return at


def test_vae_steps_and_plays_and_the_elbo_rises(app: AppTest):
    before = _number(_metric(app, "ELBO (test, nats)"))
    app.button(key="train__step").click().run()
    _ok(app)
    after_step = _number(_metric(app, "ELBO (test, nats)"))
    assert after_step > before  # training raises the held-out ELBO
    app.button(key="train__play").click().run()  # playing: the fragment trains during this run
    _ok(app)
    assert any(c.value.startswith("Iteration 4 · playing") for c in app.caption)  # Step = 2 epochs, a tick = 2
    assert _number(_metric(app, "ELBO (test, nats)")) > after_step
    app.button(key="train__play").click().run()  # pause
    _ok(app)


def test_moving_the_probe_changes_the_decoded_image(app: AppTest):
    before = _chart_spec(app, "probe_image")
    app.slider(key="z1").set_value(2.0).run()
    app.slider(key="z2").set_value(-1.5).run()
    _ok(app)
    after = _chart_spec(app, "probe_image")
    assert after["layout"]["title"]["text"] == "decode(2.00, -1.50)"
    assert after["data"][0]["z"] != before["data"][0]["z"]


@pytest.mark.parametrize("model", ["ae", "swae", "cvae", "beta_vae", "pca"])
def test_every_model_trains_a_step_without_exception(app: AppTest, model: str):
    app.selectbox(key="model").set_value(model).run()
    _ok(app)
    if model != "pca":
        app.button(key="train__step").click().run()
        _ok(app)
    assert _chart_spec(app, "latent_map")["data"], "the latent map is empty"
    assert _chart_spec(app, "grid")["data"][0]["z"], "the manifold grid is empty"


def test_higher_latent_dimension_is_drawn_through_pca(app: AppTest):
    app.select_slider(key="m").set_value(8).run()
    _ok(app)
    spec = _chart_spec(app, "latent_map")
    assert spec["layout"]["xaxis"]["title"]["text"] == "PC 1 of the codes"
    app.select_slider(key="m").set_value(2).run()


def test_post_hoc_density_ablation_and_swiss_roll(app: AppTest):
    app.selectbox(key="model").set_value("ae").run()
    app.radio(key="dens").set_value("kde").run()
    _ok(app)
    assert any("not trained yet" in m.value for m in app.markdown)
    before = _number(_metric(app, "AE error"))
    app.button(key="ablation__step").click().run()
    app.button(key="rollae__step").click().run()
    _ok(app)
    assert _number(_metric(app, "AE error")) < before  # a few epochs lower the swiss roll's error
    assert "only KL" in json.dumps(_chart_spec(app, "ablation_maps"))
    labels = [m.value for m in app.markdown if m.value.startswith("**only") or m.value.startswith("**both")]
    assert len(labels) == 3 and all("KL " in label and "not trained" not in label for label in labels), labels


def _vq(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_vq_section_shows_dead_codes_and_their_reset():
    at = _vq(vq_init="corner")
    _ok(at)
    at.slider(key="vq_trainer__speed").set_value(50).run()
    for _ in range(4):
        at.button(key="vq_trainer__step").click().run()
    _ok(at)
    stuck = int(_metric(at, "dead codes"))
    assert stuck >= 12  # every code started in one corner: one wins, the others never move
    assert "reset dead codes" in " ".join(c.value for c in at.caption)
    at.toggle(key="vq_reset").set_value(True).run()
    for _ in range(6):
        at.button(key="vq_trainer__step").click().run()
    assert int(_metric(at, "dead codes")) == 0
    spec = _chart_spec(at, "vq_main")
    assert any(trace.get("name") == "codes in use" for trace in spec["data"])


def test_vq_on_digits_fits_three_priors_and_decodes_their_samples():
    at = _vq(vq_d="digits", vq_k="32")
    _ok(at)
    assert any("at least 50 steps" in info.value for info in at.info)
    at.slider(key="vq_trainer__speed").set_value(50).run()
    for _ in range(4):
        at.button(key="vq_trainer__step").click().run()
    _ok(at)
    nll = {m.label: float(m.value) for m in at.metric if m.label.startswith("NLL")}
    assert len(nll) == 3
    assert nll["NLL, autoregressive"] < nll["NLL, uniform codes"]
    assert nll["NLL, uniform codes"] == pytest.approx(2 * __import__("math").log(32), rel=1e-3)
    _chart_spec(at, "vq_priors")
    _chart_spec(at, "vq_grid")


def test_play_stops_at_the_last_epoch_and_the_button_reads_play_again(app: AppTest):
    trainer = app.session_state["train"]
    epochs = 60
    trainer.step(epochs - trainer.iteration)  # at the cap
    app.button(key="train__play").click().run()
    _ok(app)
    assert not app.session_state["train__playing"]
    assert app.button(key="train__play").label.startswith("Play")


def test_the_reparameterisation_expander_draws_and_redraws_eps(app: AppTest):
    app.button(key="train__step").click().run()
    _ok(app)
    first = _chart_spec(app, "reparam_fig")
    assert "z = μ + σ ⊙ ε" in json.dumps(first, ensure_ascii=False)
    app.button(key="reparam_new").click().run()
    _ok(app)
    assert _chart_spec(app, "reparam_fig")["data"][2]["x"] != first["data"][2]["x"]  # new eps, new samples


def test_swae_shows_its_slices(app: AppTest):
    app.selectbox(key="model").set_value("swae").run()
    app.button(key="train__step").click().run()
    _ok(app)
    spec = _chart_spec(app, "swae_slices")
    assert sum(1 for trace in spec["data"] if trace.get("name", "").startswith("θ") and "W₂²" in trace["name"]) == 3
