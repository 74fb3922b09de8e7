"""AppTest of the EM step-through page: half-steps, full steps, play, history, presets, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from csv_files import BAD_CSV as SHARED_BAD_CSV, ROWS, rows_csv as _rows_csv, upload

from playground.ui import player

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "3_EM_step_through.py")
TIMEOUT = 180



def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label.startswith(label))


def metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def caption_with(at: AppTest, text: str) -> str:
    return next(c.value for c in at.caption if text in c.value)


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    app.query_params["n"] = "150"
    return app.run()


def test_e_m_full_step_play_and_history(at):
    assert not at.exception
    start_caption = caption_with(at, "Mean log-likelihood")
    button(at, "E-step").click().run()
    assert not at.exception
    assert at.session_state["em_run"].next_half_step == "M"
    gamma_after_e = metric_values(at)
    assert any(label.startswith("γ(#0,") for label in gamma_after_e)
    button(at, "M-step").click().run()
    after_m = caption_with(at, "Mean log-likelihood")
    assert after_m != start_caption
    assert any(label.startswith("N_1") for label in metric_values(at))
    button(at, "Full step").click().run()
    stepper = at.session_state["em_run"]
    assert stepper.iteration == 2 and [f.kind for f in stepper.half_steps] == ["init", "E", "M", "E", "M"]
    # Play computes the first chunk of frames ahead for the browser (playground.ui.player)
    button(at, "Play").click().run()
    assert at.session_state["em_run__playing"]
    assert 2 < at.session_state["em_run"].iteration <= 2 + player.FIRST_CHUNK
    # Pause puts the stepper back to the frame on the screen: no browser here, so no frame was drawn
    at.button(key="em_run__play").click().run()
    assert not at.session_state["em_run__playing"]
    assert at.session_state["em_run"].iteration == 2
    # scrub back to the first E-step: the formula shows the E-step again
    at.select_slider(key="em_frame").set_value(1).run()
    assert not at.exception
    assert any(label.startswith("γ(#0,") for label in metric_values(at))
    log_likelihoods = [f.log_likelihood for f in at.session_state["em_run"].half_steps]
    assert np.all(np.diff(log_likelihoods) >= -1e-10)


def test_controls_rebuild_the_run_and_two_dimensional_data(at):
    at.selectbox(key="data").set_value("mog2d").run()
    at.slider(key="k").set_value(4).run()
    at.selectbox(key="cov").set_value("diag").run()
    at.selectbox(key="init").set_value("random_from_data").run()
    assert not at.exception
    stepper = at.session_state["em_run"]
    assert stepper.n_components == 4 and stepper.X.shape[1] == 2
    button(at, "Full step").click().run()
    at.number_input(key="pt").set_value(7).run()
    assert not at.exception
    assert at.session_state["em_run"].iteration == 1


def test_collapse_preset_stops_with_a_message_and_reg_covar_fixes_it(at):
    at.selectbox(key="scn").set_value("collapse").run()
    assert not at.exception
    assert at.slider(key="k").value == 4 and at.toggle(key="outlier").value
    assert any("What to watch" in info.value for info in at.info)
    for _ in range(3):
        at.session_state["em_run"].step(10)
    button(at, "Full step").click().run()
    assert at.session_state["em_run"].stopped
    assert any("singular" in e.value for e in at.error)
    at.select_slider(key="reg").set_value(1e-3).run()
    stepper = at.session_state["em_run"]
    stepper.step(40)
    button(at, "Full step").click().run()
    assert not at.session_state["em_run"].stopped and not at.exception


def test_local_optimum_preset_restarts_and_replay(at):
    at.selectbox(key="scn").set_value("local_optimum").run()
    at.slider(key="n").set_value(120).run()
    button(at, "Run EM from 10 starts").click().run()
    assert not at.exception
    assert any("Best: seed" in c.value for c in at.caption)
    button(at, "3").click().run()
    assert at.number_input(key="iseed").value == 3
    assert not at.exception


def test_em_vs_gradient_descent_runs_from_the_same_start(at):
    at.slider(key="gd_it").set_value(30).run()
    button(at, "Run EM and gradient descent").click().run()
    assert not at.exception
    summary = caption_with(at, "After 30 iterations")
    assert "EM" in summary and "gradient descent" in summary


def test_bad_input_gives_messages_not_crashes(at):
    at.selectbox(key="init").set_value("manual").run()
    at.text_input(key="means").set_value("1; 2").run()
    assert not at.exception
    assert any("3 means" in e.value for e in at.error)
    at.text_input(key="means").set_value("-3; #5; 3").run()
    assert not at.error and not at.exception
    at.slider(key="n").set_value(20).run()
    at.slider(key="k").set_value(10).run()
    assert not at.exception


def test_csv_choice_without_a_file_falls_back_with_a_note(at):
    at.selectbox(key="data").set_value("csv").run()
    assert not at.exception
    assert any("Upload a file" in info.value for info in at.info)


# CSV uploads: a good file is what EM runs on, bad ones get their message and the page keeps working

def _upload(at: AppTest, name: str, raw: bytes) -> AppTest:
    return upload(at, "data", name, raw)


def _csv_page() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    app.query_params["data"] = "csv"
    return app.run()


FILE_ROWS = ROWS

BAD_CSV = SHARED_BAD_CSV  # 1D files are welcome here: no '1 column' case


@pytest.mark.parametrize("dim", [1, 2])
def test_a_good_csv_is_what_em_runs_on(dim):
    at = _upload(_csv_page(), "mine.csv", _rows_csv(FILE_ROWS[dim]))
    assert not at.exception and not at.error
    assert any(f"from your file ({dim}D)" in s.value for s in at.success)
    assert metric_values(at)["N"] == "150"
    np.testing.assert_allclose(at.session_state["em_run"].X.cpu().numpy(), FILE_ROWS[dim], atol=1e-6)
    button(at, "Full step").click().run()
    assert not at.exception and at.session_state["em_run"].iteration == 1


def test_a_csv_with_fewer_rows_than_components_is_refused_until_k_is_lowered():
    at = _upload(_csv_page(), "two.csv", b"1.0,2.0\n3.0,-1.0\n")
    assert not at.exception
    assert any("K = 3 components need at least 3 points; the data has 2." in e.value for e in at.error)
    at.slider(key="k").set_value(2).run()
    assert not at.exception and not at.error
    button(at, "Full step").click().run()
    assert not at.exception and at.session_state["em_run"].iteration == 1
    np.testing.assert_allclose(at.session_state["em_run"].X.cpu().numpy(), [[1.0, 2.0], [3.0, -1.0]])


@pytest.mark.parametrize("kind", list(BAD_CSV))
def test_a_bad_csv_gets_a_clear_error_and_the_page_keeps_working(kind):
    raw, message = BAD_CSV[kind]
    at = _upload(_csv_page(), f"{kind}.csv", raw)
    assert not at.exception
    errors = " ".join(error.value for error in at.error)
    assert message in errors, errors
    assert len(at.session_state["em_run"].X) > 2  # EM runs on the fallback dataset
    button(at, "Full step").click().run()
    assert not at.exception and at.session_state["em_run"].iteration == 1
    at = _upload(at, "mine.csv", _rows_csv(FILE_ROWS[2]))  # a good file afterwards works
    assert not at.exception and not at.error
    np.testing.assert_allclose(at.session_state["em_run"].X.cpu().numpy(), FILE_ROWS[2], atol=1e-6)


def test_play_stops_at_convergence_with_a_note():
    """The note appears only once an iteration improves the mean log-likelihood by less than the
    tolerance, and says by how much; stepping a converged run does not clear it."""
    import numpy as np

    from playground.em import EMStepper
    from playground.ui.em import EM_TOLERANCE, em_converged

    x = np.random.default_rng(0).normal(size=(300, 1)) + np.repeat([[-4.0], [0.0], [4.0]], 100, axis=0)
    stepper = EMStepper.start(x, 3, device="cpu", seed=0)
    stepper.step(1)
    assert em_converged(stepper) is None
    for _ in range(500):
        stepper.step(1)
        if stepper.history[-1]["improvement"] < EM_TOLERANCE:
            break
    note = em_converged(stepper)
    assert note is not None and f"{stepper.iteration} iterations" in note
    assert all(row["improvement"] >= EM_TOLERANCE for row in stepper.history[:-1])


def test_a_link_reopens_the_run_and_the_scrubbed_back_half_step():
    app = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    app.query_params["n"] = "150"
    app.run()
    for _ in range(3):
        button(app, "Full step").click().run()
    app.select_slider(key="em_frame").set_value(3).run()  # back to the second E-step
    assert app.query_params["em_run_it"] == "3" and app.query_params["em_frame"] == "3"
    shown = metric_values(app)
    again = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for key in ("n", "em_run_it", "em_frame"):
        again.query_params[key] = app.query_params[key]
    again.run()
    assert not again.exception
    assert again.session_state["em_run"].iteration == 3 and again.select_slider(key="em_frame").value == 3
    assert metric_values(again) == shown  # the same half-step, the same numbers
    again.select_slider(key="em_frame").set_value(6).run()  # the newest: left out of the link
    assert "em_frame" not in again.query_params


def test_the_caption_states_what_em_guarantees_for_each_half_step(at):
    button(at, "Full step").click().run()
    assert "cannot lower it" not in caption_with(at, "Mean log-likelihood")  # default reg_covar = 1e-6
    assert "at most" in caption_with(at, "Mean log-likelihood")
    at.select_slider(key="reg").set_value(0.0).run()
    button(at, "Full step").click().run()
    assert "With reg_covar = 0 an M-step cannot lower it" in caption_with(at, "Mean log-likelihood")
    button(at, "E-step").click().run()
    assert "An E-step leaves the log-likelihood unchanged" in caption_with(at, "Mean log-likelihood")
    assert not at.exception
