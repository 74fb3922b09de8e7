"""The evaluation page: presets move the metrics the way the page says, every control works."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "11_Evaluation.py")


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=180).run()


def _metrics(app: AppTest) -> dict[str, float]:
    return {m.label: float(m.value) for m in app.metric}


def test_presets_move_the_metrics_as_described(app):
    assert not app.exception
    narrow = _metrics(app)  # the default preset: too narrow
    app.selectbox(key="ev_pre").set_value("perfect copy").run()
    perfect = _metrics(app)
    assert narrow["precision"] >= perfect["precision"] - 0.02 and narrow["recall"] < perfect["recall"] - 0.2
    app.selectbox(key="ev_pre").set_value("too wide (recall up, precision down)").run()
    wide = _metrics(app)
    assert wide["precision"] < perfect["precision"] - 0.2 and wide["recall"] >= perfect["recall"] - 0.02
    app.selectbox(key="ev_pre").set_value("mode collapse (one mode dropped)").run()
    collapsed = _metrics(app)
    assert collapsed["coverage"] < perfect["coverage"] - 0.3 and collapsed["precision"] > 0.9
    app.selectbox(key="ev_pre").set_value("memorised training points (50 %)").run()
    copied = _metrics(app)
    assert copied["closer to training"] > 0.7 > perfect["closer to training"]
    assert collapsed["p-value (200 permutations)"] < 0.01  # a dropped mode: the two-sample test notices
    assert not app.exception


def test_every_control_and_a_target_without_modes(app):
    app.selectbox(key="ev_t").set_value("banana").run()  # no modes: the dropped-modes slider is disabled
    assert not app.exception
    app.select_slider(key="ev_shift").set_value(1.0).run()
    assert app.selectbox(key="ev_pre").value == "custom"
    app.select_slider(key="ev_n").set_value(50).run()
    app.slider(key="ev_k").set_value(12).run()
    app.radio(key="ev_balls").set_value("generated").run()
    app.select_slider(key="ev_h").set_value(0.3).run()
    app.select_slider(key="ev_out").set_value(0.2).run()
    assert not app.exception and len(app.get("plotly_chart")) == 2


def _open(tab: str, **params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.query_params["evtab"] = tab
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_leaderboard_tab_trains_every_family_and_fills_the_table():
    at = _open("2 Leaderboard", lb_b="tiny", lb_t="mog2d")
    assert not at.exception
    assert any("Train every family" in info.value for info in at.info)
    assert not at.dataframe  # nothing is trained on opening the tab
    at.button(key="lb_go").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == len(__import__("playground.leaderboard", fromlist=["FAMILIES"]).FAMILIES)
    assert {"precision", "recall", "held-out log-lik", "train s"} <= set(table.columns)
    labels = [m.label for m in at.metric]
    assert any(label.startswith("best precision") for label in labels)
    # Another data set: its board is not trained yet, the page says so again.
    at.selectbox(key="lb_t").set_value("ring8").run()
    assert not at.exception and not at.dataframe
    at.selectbox(key="lb_t").set_value("mog2d").run()
    assert at.dataframe  # the trained board is remembered for this session (and cached for all)
    at.button(key="lb_rerun").click().run()
    assert not at.exception


def test_digits_tab_scores_every_set_and_the_copies_are_caught():
    at = _open("3 Digits: a classifier's features")
    assert not at.exception
    shown = {}
    for name in at.radio(key="dg_set").options:
        at.radio(key="dg_set").set_value(name).run()
        shown[name] = _metrics(at)
    assert shown["copies of training digits"]["closer to training"] == 1.0
    assert shown["one class only (collapse)"]["IS-like"] < 1.5
    assert "Inception" in at.markdown[-1].value or any("not Inception" in m.value for m in at.markdown)
    assert not at.exception
