"""AppTest of the energy-based models page: train, presets, every control, sample-only data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from csv_files import BAD_CSV_2D as BAD_CSV, ROWS_2D as FILE_ROWS, from_the_file as _from_the_file, rows_csv as _rows_csv, upload

from playground import energy as E

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "9_Energy_based_models.py")


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params["width"] = "16"
    return at.run()


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _iteration(at: AppTest) -> int:
    return int(next(c.value for c in at.caption if c.value.startswith("Iteration")).split()[1])


def test_page_loads_steps_and_shows_z(app):
    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) == 4  # density, likelihood, energies, chains
    app.button(key="energy_trainer__step").click().run()
    assert _iteration(app) == 10 and not app.exception
    metrics = _metrics(app)
    assert {"log Z (grid)", "held-out log-lik.", "true log-lik."} <= set(metrics)
    assert float(metrics["true log-lik."]) == pytest.approx(app.session_state["energy_trainer"].true_log_likelihood,
                                                            abs=1e-3)


def test_play_and_pause(app):
    # Play trains a first chunk of frames ahead for the browser (playground.ui.player)
    app.button(key="energy_trainer__play").click().run()
    assert app.session_state["energy_trainer__playing"] and not app.exception
    assert app.session_state["energy_trainer"].iteration >= 10  # at least one tick of 10 (chunks are time-boxed)
    # Pause: the run goes back to the frame on the screen (no browser here: none was drawn)
    app.button(key="energy_trainer__play").click().run()
    assert not app.session_state["energy_trainer__playing"] and _iteration(app) == 0
    app.run()
    assert _iteration(app) == 0


@pytest.mark.parametrize("preset, expected", [
    ("few_steps", {"langevin_steps": 2, "start": "noise"}), ("no_reg", {"alpha": 0.0, "lr": 1e-2}),
    ("dsm", {"method": "dsm"}), ("good", {}), ("exact", {"method": "exact", "lr": 5e-3})])
def test_presets_set_the_configurations_the_compute_tests_check(app, preset, expected):
    if preset == "good":  # the default preset: choosing it again changes nothing (the link's width stays)
        expected = {"width": 16}
    app.selectbox(key="epreset").set_value(preset).run()
    assert not app.exception
    # tests/test_energy.py::test_the_pages_presets_show_what_they_promise trains exactly these
    assert app.session_state["energy_trainer"].config == E.EnergyConfig(**expected)
    if preset == "exact":  # tests/test_energy.py::test_exact_likelihood_preset_reaches_the_truth_on_the_ring_...
        assert app.session_state["energy_trainer"].target.name == "ring8"
        app.button(key="energy_trainer__step").click().run()
        assert not app.exception and app.session_state["energy_trainer"].iteration == 10
        assert app.select_slider(key="lsteps").disabled  # no sampler to tune


def test_every_control_rebuilds_the_model(app):
    for key, value in [("lsteps", 5), ("lstep", 0.03), ("buf", 1024), ("reinit", 0.2), ("alpha", 0.1), ("lr", 1e-3)]:
        app.select_slider(key=key).set_value(value).run()
        assert not app.exception, key
    app.selectbox(key="start").set_value("persistent").run()
    app.toggle(key="sn").set_value(True).run()
    app.button(key="energy_trainer__step").click().run()
    config = app.session_state["energy_trainer"].config
    assert (config.langevin_steps, config.step_size, config.start, config.spectral_norm) == (5, 0.03, "persistent", True)
    app.radio(key="method").set_value("dsm").run()
    assert app.select_slider(key="lsteps").disabled and not app.exception


def test_sample_only_data_has_no_true_likelihood(app):
    app.selectbox(key="data").set_value("moons").run()
    app.button(key="energy_trainer__step").click().run()
    assert not app.exception and "true log-lik." not in _metrics(app)


# CSV uploads: a good file is trained on, bad ones get their message and the page keeps working

def _csv_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params["width"] = "16"
    at.query_params["data"] = "csv"
    return at.run()


def _upload(at: AppTest, name: str, raw: bytes) -> AppTest:
    return upload(at, "data", name, raw)




def _trained_rows(at: AppTest) -> np.ndarray:
    return at.session_state["energy_trainer"].data.cpu().numpy().astype(np.float64)


def test_a_good_csv_is_what_the_model_trains_on():
    at = _upload(_csv_page(), "mine.csv", _rows_csv(FILE_ROWS))
    assert not at.exception and not at.error
    assert any("from your file" in s.value for s in at.success)
    rows = _trained_rows(at)
    assert _from_the_file(rows, FILE_ROWS).all()  # resampled from the file's rows only ...
    assert _from_the_file(FILE_ROWS, rows).all()  # ... and every one of them is used
    at.button(key="energy_trainer__step").click().run()
    assert not at.exception and _iteration(at) > 0


def test_a_two_row_csv_is_accepted_and_trained_on():
    """The smallest file the reader accepts: this page sets no minimum, so it must cope."""
    at = _upload(_csv_page(), "two.csv", b"1.0,2.0\n3.0,-1.0\n")
    assert not at.exception and not at.error
    assert _from_the_file(_trained_rows(at), np.array([[1.0, 2.0], [3.0, -1.0]])).all()
    at.button(key="energy_trainer__step").click().run()
    assert not at.exception and _iteration(at) > 0


@pytest.mark.parametrize("kind", list(BAD_CSV))
def test_a_bad_csv_gets_a_clear_error_and_the_page_keeps_working(kind):
    raw, message = BAD_CSV[kind]
    at = _upload(_csv_page(), f"{kind}.csv", raw)
    assert not at.exception
    errors = " ".join(error.value for error in at.error)
    assert message in errors, errors
    assert not _from_the_file(_trained_rows(at), FILE_ROWS).any()  # the fallback dataset instead
    at.button(key="energy_trainer__step").click().run()
    assert not at.exception and _iteration(at) > 0
    at = _upload(at, "mine.csv", _rows_csv(FILE_ROWS))  # a good file afterwards works
    assert not at.exception and not at.error
    assert _from_the_file(_trained_rows(at), FILE_ROWS).all()
