"""AppTest of the GAN training page: step D, step G, play ticks, scrub, presets, objective, good and bad CSVs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from csv_files import BAD_CSV_2D, ROWS_2D, rows_csv, upload

from playground.ui import player

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "6_GAN_training.py")
# Small nets and batches: the page logic is under test here, not the training.
FAST = {"gwid": "16", "dwid": "16", "bs": "32"}


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    for key, value in FAST.items():
        at.query_params[key] = value
    return at.run()


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _iteration(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Iteration"))


def test_page_loads_with_plane_and_no_errors(app):
    assert not app.exception
    assert [b.label for b in app.button][:3] == ["D only", "G only", "Both"]
    assert len(app.get("plotly_chart")) >= 1
    assert _iteration(app) == "Iteration 0"


def test_step_d_then_step_g_change_the_numbers(app):
    app.button(key="gan_d").click().run()
    assert not app.exception
    after_d = _metrics(app)
    assert {"D loss", "G loss", "mean D(x), real", "mean D(G(z))"} <= set(after_d)
    assert "‖∇θ L_G‖" not in after_d  # G has not moved yet
    app.button(key="gan_g").click().run()
    after_g = _metrics(app)
    assert "‖∇θ L_G‖" in after_g and after_g["G loss"] != after_d["G loss"]
    app.button(key="gan_it").click().run()
    assert _iteration(app) == "Iteration 3"
    assert _metrics(app)["D loss"] != after_d["D loss"]


def test_play_ticks_advance_training_and_pause_stops(app):
    app.slider(key="gan_trainer__speed").set_value(50).run()
    for _ in range(2):
        app.button(key="gan_trainer__step").click().run()
    assert not app.exception
    assert _iteration(app) == "Iteration 100"
    assert len(app.get("plotly_chart")) == 3  # plane, losses, quality curves (a snapshot every 100)
    # Play trains a first chunk ahead for the browser; Pause puts the run back to the frame on the
    # screen (no browser here: none was drawn, so iteration 100)
    app.button(key="gan_trainer__play").click().run()
    assert 100 < app.session_state["gan_trainer"].iteration <= 100 + 50 * player.FIRST_CHUNK
    app.button(key="gan_trainer__play").click().run()  # pause
    paused_at = _iteration(app)
    assert paused_at == "Iteration 100"
    app.run()
    assert _iteration(app) == paused_at
    scrubber = next(s for s in app.select_slider if s.label.startswith("History scrubber"))
    scrubber.set_value(0).run()  # back to the first snapshot
    assert not app.exception
    plane = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert plane["layout"]["title"]["text"] == "Snapshot at iteration 0"
    assert _iteration(app) == paused_at  # looking back does not change the run


def test_changing_only_the_objective_keeps_the_networks_and_reset_starts_afresh(app):
    app.button(key="gan_it").click().run()
    assert _iteration(app) == "Iteration 1"
    trainer = app.session_state["gan_trainer"]
    weights = [p.detach().clone() for p in trainer.discriminator.parameters()]
    app.selectbox(key="obj").set_value("wgan_gp").run()
    assert not app.exception
    assert _iteration(app) == "Iteration 1" and app.session_state["gan_trainer"] is trainer  # the same D and G go on
    assert all(torch.equal(a, b) for a, b in zip(weights, trainer.discriminator.parameters()))
    assert any("Objective switched to" in c.value for c in app.caption)
    app.button(key="gan_it").click().run()
    metrics = _metrics(app)
    assert "gradient penalty" in metrics and "critic gap" in metrics
    assert float(metrics["critic gap"]) <= float(metrics["Lipschitz bound K"]) * float(
        metrics["W₁ of the clouds"]) + 1e-3
    app.button(key="gan_trainer__reset").click().run()
    assert _iteration(app) == "Iteration 0" and app.session_state["gan_trainer"] is not trainer


def test_every_other_objective_steps_without_error(app):
    for number, objective in enumerate(("minimax", "least_squares", "wgan_clip", "hinge"), start=1):
        app.selectbox(key="obj").set_value(objective).run()
        app.button(key="gan_it").click().run()
        assert not app.exception and not app.error, objective
        assert "D loss" in _metrics(app) and _iteration(app) == f"Iteration {number}"  # one run, four objectives


def test_preset_sets_controls_and_says_what_to_watch(app):
    app.selectbox(key="preset").set_value("vanishing").run()
    assert not app.exception
    assert app.selectbox(key="obj").value == "minimax"
    assert app.number_input(key="m").value == 5
    assert any("What to watch" in info.value and "gradient" in info.value for info in app.info)
    app.selectbox(key="preset").set_value("wgan_gp").run()
    assert app.selectbox(key="obj").value == "wgan_gp"
    app.selectbox(key="preset").set_value("collapse").run()  # seeded at 1: the page says so
    assert app.session_state["seed"] == 1
    assert any("sets the page's seed to 1" in info.value for info in app.info)


def test_link_with_preset_reproduces_its_settings():
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params.update({"preset": "vanishing", "lrd": "0.001", **FAST})
    at.run()
    assert not at.exception
    assert at.selectbox(key="obj").value == "minimax" and at.number_input(key="m").value == 5
    assert at.select_slider(key="lrd").value == 0.001  # a value in the link wins over the preset


def test_view_toggles_and_spectral_norm(app):
    app.toggle(key="varrows").set_value(False).run()
    app.toggle(key="sn").set_value(True).run()
    app.button(key="gan_it").click().run()
    assert not app.exception
    spec = app.get("plotly_chart")[0].proto.spec
    assert "G(latent grid)" in spec and "angleref" not in spec  # the mesh is drawn, the arrows are not
    assert len(app.get("plotly_chart")) == 2  # plane and loss curves (no snapshot yet for quality)
    app.toggle(key="vloss").set_value(False).run()
    assert len(app.get("plotly_chart")) == 1 and not app.exception


def _csv_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    for key, value in FAST.items():
        at.query_params[key] = value
    at.query_params["data"] = "csv"
    return at.run()


def _upload(at: AppTest, name: str, raw: bytes) -> AppTest:
    return upload(at, "data", name, raw)


def _rows_csv(rows: np.ndarray) -> bytes:
    return rows_csv(rows, header="x,y\n")  # with a header row, which the reader must skip


FILE_ROWS = ROWS_2D
BAD_CSV = {"too small": (_rows_csv(FILE_ROWS[:5]), "Only 5 data rows: a GAN needs at least 10"), **BAD_CSV_2D}


def test_csv_choice_without_a_file_falls_back_with_a_note():
    at = _csv_page()
    assert not at.exception  # no upload yet: a notice and the fallback dataset
    assert any("Upload a file" in info.value for info in at.info)
    assert at.session_state["gan_trainer"].data.shape[0] > len(FILE_ROWS)  # the fallback's sample


def test_a_good_csv_is_what_the_gan_trains_on():
    at = _upload(_csv_page(), "mine.csv", _rows_csv(FILE_ROWS))
    assert not at.exception and not at.error
    assert any("from your file" in s.value for s in at.success)
    trainer = at.session_state["gan_trainer"]
    # the trainer holds the file's rows, standardised: undo it and compare row by row
    real = trainer.data.cpu().numpy() * trainer.scale + trainer.shift
    np.testing.assert_allclose(real, FILE_ROWS, atol=1e-5)
    at.button(key="gan_it").click().run()
    assert not at.exception and _iteration(at) == "Iteration 1"


@pytest.mark.parametrize("kind", list(BAD_CSV))
def test_a_bad_csv_gets_a_clear_error_and_the_page_keeps_working(kind):
    raw, message = BAD_CSV[kind]
    at = _upload(_csv_page(), f"{kind}.csv", raw)
    assert not at.exception
    errors = " ".join(error.value for error in at.error)
    assert message in errors, errors
    if kind == "too small":  # read, but not trained on: no stepper until the data is larger
        at.button(key="gan_it").click().run()
        assert not at.exception and message in " ".join(error.value for error in at.error)
        assert not any(c.value.startswith("Iteration") for c in at.caption)
    else:  # the fallback dataset is trained on instead
        assert at.session_state["gan_trainer"].data.shape[0] > len(FILE_ROWS)
        at.button(key="gan_it").click().run()
        assert not at.exception and _iteration(at) == "Iteration 1"
    at = _upload(at, "mine.csv", _rows_csv(FILE_ROWS))  # a good file afterwards works
    assert not at.exception and not at.error
    assert at.session_state["gan_trainer"].data.shape[0] == len(FILE_ROWS)


def test_f_gan_objectives_show_the_bound_and_the_smoothed_divergence(app):
    for objective in ("f_kl", "f_reverse_kl", "f_js", "f_pearson", "f_hellinger", "f_tv"):
        app.selectbox(key="obj").set_value(objective).run()
        app.button(key="gan_it").click().run()
        assert not app.exception and not app.error, objective
        metrics = _metrics(app)
        assert "bound on D_f (−D loss)" in metrics and "D_f, smoothed clouds" in metrics, objective
        assert any("f^*(t)" in latex.value for latex in app.latex), objective


def test_rejection_sampling_filters_the_samples_and_reports_before_and_after(app):
    app.toggle(key="drs").set_value(True).run()
    assert not app.exception
    assert any("Train the GAN first" in info.value for info in app.info)
    for _ in range(3):
        app.button(key="gan_it").click().run()
    metrics = _metrics(app)
    assert {"acceptance rate", "precision before", "D_M (max logit)"} <= set(metrics)
    assert 0 < float(metrics["acceptance rate"]) <= 1
    app.slider(key="drs_g").set_value(2.0).run()
    assert float(_metrics(app)["acceptance rate"]) < float(metrics["acceptance rate"])
    app.selectbox(key="obj").set_value("wgan_gp").run()
    assert any("minimax or non-saturating" in info.value for info in app.info)
    assert not app.exception


def test_drawn_data_is_what_the_gan_trains_on():
    """'Draw your own…': each clicked centre adds 30 points around it; with too few the page says so and
    trains on the fallback; Undo and Clear remove clicks."""
    from playground.data import drawn_data

    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params.update({**FAST, "data": "draw"})
    at.run()
    assert not at.exception
    assert any("Click the plane" in info.value for info in at.info)
    centres = [(-2.0, 0.0), (2.0, 0.0), (0.0, 2.0)]
    at.session_state["data__drawn"] = list(centres)
    at.run()
    assert not at.exception and not at.error
    trainer = at.session_state["gan_trainer"]
    expected = drawn_data(np.array(centres), seed=3)
    np.testing.assert_allclose(np.sort(trainer.data.numpy() * trainer.scale + trainer.shift, axis=0),
                               np.sort(expected, axis=0), atol=1e-5)
    at.button(key="data__undo").click().run()
    at.button(key="data__undo").click().run()
    assert at.session_state["data__drawn"] == centres[:1]
    assert any("Click the plane" in info.value for info in at.info)  # 60 points is the minimum: one click is 30
    at.button(key="data__clear").click().run()
    assert at.session_state["data__drawn"] == [] and not at.exception
