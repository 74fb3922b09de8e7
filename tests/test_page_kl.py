"""AppTest of the forward vs reverse KL page: the race (step, play, pause, extra objectives), a 2D target,
the calculators, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "7_KL_divergences.py")


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=240).run()


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _iteration(at: AppTest) -> int:
    caption = next(c.value for c in at.caption if c.value.startswith("Iteration"))
    return int(caption.split()[1])


def _table(at: AppTest):
    return at.dataframe[0].value


def test_race_steps_plays_and_updates_the_divergence_table(app, monkeypatch):
    from playground.ui import player

    monkeypatch.setattr(player, "CHUNK_SECONDS", 600.0)  # a whole first chunk, however loaded the machine
    assert not app.exception
    assert {"kl_race__step", "kl_race__play", "kl_race__reset", "newstart"} <= {b.key for b in app.button}
    assert len(app.get("plotly_chart")) >= 3  # race, landscape, calculators
    start = _table(app)
    assert list(start.columns) == ["q by forward KL(p‖q)", "q by reverse KL(q‖p)"]
    assert start.iloc[0, 0] == start.iloc[0, 1]  # same start for both fits

    app.button(key="kl_race__step").click().run()
    assert not app.exception and _iteration(app) == 5
    stepped = _table(app)
    assert stepped.iloc[0, 0] != start.iloc[0, 0]
    assert stepped.iloc[0, 0] != stepped.iloc[0, 1]  # the two fits have parted

    app.slider(key="kl_race__speed").set_value(40).run()
    app.button(key="kl_race__play").click().run()  # Play computes a first chunk of frames for the browser
    assert not app.exception and app.session_state["kl_race__playing"]
    assert app.session_state["kl_race"].iteration >= 80
    played = _table(app)  # the numbers of the newest computed tick
    # mode covering vs mode seeking: the forward fit has the smaller forward KL, the reverse fit the smaller reverse KL
    assert played.loc["Forward KL(p‖q)"].iloc[0] < played.loc["Forward KL(p‖q)"].iloc[1]
    assert played.loc["Reverse KL(q‖p)"].iloc[1] < played.loc["Reverse KL(q‖p)"].iloc[0]
    app.button(key="kl_race__play").click().run()  # pause: back to the frame on the screen (none without a browser)
    assert not app.session_state["kl_race__playing"] and _iteration(app) == 5
    app.run()
    assert _iteration(app) == 5

    app.multiselect(key="also").set_value(["js", "mmd"]).run()
    assert not app.exception
    assert len(_table(app).columns) == 4 and _iteration(app) == 0  # the race restarts with the new objectives
    app.button(key="newstart").click().run()
    assert not app.exception and app.slider(key="x0").value != 1.0


def test_two_dimensional_target_and_mixture_model(app):
    app.radio(key="dim").set_value("2D").run()
    assert not app.exception
    app.slider(key="modes").set_value(4).run()
    app.slider(key="K").set_value(2).run()
    before = _table(app)
    assert before.loc["Wasserstein-1"].astype(str).str.contains("nan").all() or before.loc["Wasserstein-1"].isna().all()
    app.button(key="kl_race__step").click().run()
    assert not app.exception and _iteration(app) == 5
    assert _table(app).iloc[0, 0] != before.iloc[0, 0]
    app.selectbox(key="tgt2").set_value("ring8").run()
    assert not app.exception and _iteration(app) == 0


def test_calculators_show_the_lecture_numbers_and_handle_bad_input(app):
    metrics = _metrics(app)
    assert metrics["KL(P‖Q)"] == "0.0852996"
    assert metrics["KL(Q‖P)"] == "0.0974550"
    closed, numeric = float(metrics["N₁‖N₂ closed"]), float(metrics["N₁‖N₂ numeric"])
    assert closed == pytest.approx(numeric, rel=1e-3)
    assert "average log-likelihood" in metrics

    app.text_input(key="Q").set_value("1, 0, 1").run()
    assert not app.exception and any("infinite KL" in w.value for w in app.warning)
    assert _metrics(app)["KL(P‖Q)"] == "∞"
    app.text_input(key="P").set_value("nine, 12").run()
    assert not app.exception and any("Cannot compute" in e.value for e in app.error)

    app.radio(key="gdim").set_value("2D").run()
    metrics = _metrics(app)
    assert float(metrics["N₁‖N₂ closed"]) == pytest.approx(float(metrics["N₁‖N₂ numeric"]), abs=2e-3)
    assert float(metrics["N₂‖N₁ closed"]) == pytest.approx(float(metrics["N₂‖N₁ numeric"]), abs=2e-3)
    app.select_slider(key="n").set_value(500).run()
    assert not app.exception

    app.select_slider(key="lr").set_value(5.0).run()  # far too large: the fits jump and collapse, the page copes
    app.slider(key="kl_race__speed").set_value(50).run()
    for _ in range(3):
        app.button(key="kl_race__step").click().run()
    assert not app.exception and _iteration(app) == 150


def test_the_race_stops_when_both_fits_have_settled():
    """No note while the fits still move; a note once each fit's own KL has moved by less than the tolerance
    over the window (checked against the recorded metrics)."""
    import numpy as np

    from playground.distributions import GaussianMixture
    from playground.divergence_fit import FitConfig, FitRace
    from playground.divergences import make_target
    from playground.ui.divergences import RACE_TOLERANCE, RACE_WINDOW, race_converged

    race = FitRace(GaussianMixture.from_params(make_target(1, 2, 4.0)), config=FitConfig(start_mean=(1.0,)), seed=0)
    race.step(RACE_WINDOW + 1)
    assert race_converged(race) is None  # still moving from the start
    for _ in range(60):
        race.step(50)
        if race_converged(race):
            break
    assert race_converged(race) is not None
    for name in race.fits:
        assert np.ptp(race.metric(f"{name}:{name}")[-RACE_WINDOW - 1:]) <= RACE_TOLERANCE


def test_discrete_presets_show_the_support_condition_equality_and_gibbs():
    """Each example's promise, against SciPy's entropy (sum p log p/q) as the reference."""
    from scipy import stats

    from playground.ui.divergences import DISCRETE_PRESETS

    app = AppTest.from_file(PAGE, default_timeout=240).run()
    for name, (_, p_text, q_text, _) in DISCRETE_PRESETS.items():
        app.selectbox(key="kl_dpre").set_value(name).run()
        assert not app.exception
        assert app.text_input(key="P").value == p_text and app.text_input(key="Q").value == q_text
        p, q = (np.array([float(v) for v in text.split(",")]) for text in (p_text, q_text))
        metrics = _metrics(app)
        forward, reverse = stats.entropy(p, q), stats.entropy(q, p)
        for label, value in (("KL(P‖Q)", forward), ("KL(Q‖P)", reverse)):
            assert (metrics[label] == "∞") if np.isinf(value) else float(metrics[label]) == pytest.approx(value, abs=1e-6)
        if name == "support":
            assert np.isinf(forward) and np.isfinite(reverse)
        if name == "equal":
            assert forward == reverse == 0.0
        if name == "negative":
            terms = p / p.sum() * np.log((p / p.sum()) / (q / q.sum()))
            assert terms.min() < 0 < forward
