"""Shared UI helpers driven through AppTest: deep links, stepper controls, dataset picker."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script():
    import streamlit as st

    from playground.stepper import Stepper
    from playground.ui.controls import dataset_picker, formula_panel, stepper_panel
    from playground.ui.deeplink import linked
    from playground.ui.page import setup_page

    class Counter(Stepper):
        def __init__(self, start):
            super().__init__()
            self.x = float(start)

        def _step(self):
            self.x = self.x * 2
            return {"x": self.x}

        def snapshot(self):
            return {"x": self.x}

    page = setup_page("UI test")
    start = linked(st.slider, "Start", key="start", default=1.0, min_value=0.0, max_value=10.0)
    kind = linked(st.selectbox, "Kind", key="kind", default="a", options=["a", "b"])
    target = dataset_picker("data", dims=(2,), default="ring8")
    st.write(f"target={target.name} kind={kind} seed={page.seed} projection={page.projection}")
    stepper_panel("ctr", lambda: Counter(start), start, lambda s: st.write(f"x={s.x}"), max_iterations=3)
    formula_panel(r"x_{t+1} = 2 x_t", {"x": start}, try_next="press Step")


def _texts(at):
    return [m.value for m in at.markdown]


def _app(**params) -> AppTest:
    at = AppTest.from_function(_script, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_link_values_restore_the_controls():
    at = _app(start="3.0", kind="b", data="moons", seed="42", projection="1")
    assert not at.exception
    assert "target=moons kind=b seed=42 projection=True" in _texts(at)
    assert "x=3.0" in _texts(at)


def test_malformed_link_values_fall_back_with_a_notice():
    at = _app(start="99", kind="zzz", seed="abc", data="nope")
    assert not at.exception
    assert "target=ring8 kind=a seed=0 projection=False" in _texts(at)
    warnings = " ".join(w.value for w in at.warning)
    for label in ("Start", "Kind", "Global seed", "Data"):
        assert label in warnings


def test_changes_are_written_back_to_the_url():
    at = _app()
    at.slider(key="start").set_value(5.0).run()
    at.selectbox(key="kind").set_value("b").run()
    assert at.query_params["start"] == "5.0" and at.query_params["kind"] == "b"
    # Defaults stay out of the URL (each write is a browser history entry): seed 0 and
    # projection off are not written, and a control moved back to its default leaves it.
    assert "seed" not in at.query_params and "projection" not in at.query_params
    at.slider(key="start").set_value(1.0).run()
    assert "start" not in at.query_params and at.query_params["kind"] == "b"


def test_a_page_opens_with_a_clean_url_and_a_link_still_restores_it():
    at = _app()
    assert not at.exception
    assert dict(at.query_params) == {}, dict(at.query_params)
    at.number_input(key="seed").set_value(7).run()
    assert at.query_params["seed"] == "7"


def test_back_and_forward_move_the_controls():
    """When the URL changes under the page (the browser's Back / Forward), the controls
    follow it; a value the page did not write, and that is not valid, gets the notice."""
    at = _app()
    at.slider(key="start").set_value(5.0).run()
    at.selectbox(key="kind").set_value("b").run()
    del at.query_params["kind"]  # Back: the URL before "kind" was changed
    at.run()
    assert at.selectbox(key="kind").value == "a" and at.slider(key="start").value == 5.0
    at.query_params["kind"] = "b"  # Forward
    at.run()
    assert at.selectbox(key="kind").value == "b"
    assert "target=ring8 kind=b" in " ".join(_texts(at))
    at.query_params["start"] = "not a number"
    at.run()
    assert at.slider(key="start").value == 5.0
    assert "Start" in " ".join(w.value for w in at.warning)


def test_step_reset_and_config_change_drive_the_stepper():
    at = _app()
    at.button(key="ctr__step").click().run()
    assert "x=2.0" in _texts(at)
    at.button(key="ctr__step").click().run()
    assert "x=4.0" in _texts(at)
    at.button(key="ctr__reset").click().run()
    assert "x=1.0" in _texts(at)
    at.slider(key="start").set_value(2.0).run()  # a new config rebuilds the stepper
    assert "x=2.0" in _texts(at)


def test_play_advances_and_stops_at_the_cap():
    at = _app()
    at.slider(key="ctr__speed").set_value(2).run()
    at.button(key="ctr__play").click().run()
    assert at.session_state["ctr__playing"]
    for _ in range(4):  # AppTest does not tick run_every fragments by itself: rerun as a tick would
        at.run()
    assert at.session_state["ctr"].iteration >= 3
    assert not at.session_state["ctr__playing"]  # max_iterations=3 stops the play


def test_csv_option_without_upload_keeps_a_target():
    at = _app(data="csv")
    assert not at.exception
    assert any("Upload a file" in i.value for i in at.info)


def test_hints_never_ask_for_what_is_already_set():
    from playground.ui.kde import _gmm_hint
    from playground.ui.samplers import _mcmc_hint

    for k in range(1, 12):
        hint = _gmm_hint(k, "three_bumps")
        assert f"set K = {k}:" not in hint and not hint.startswith(f"set K = {k} ")
    assert "pick 'Three bumps'" in _gmm_hint(2, "mog2d")
    assert "pick 'Three bumps'" not in _gmm_hint(2, "three_bumps")
    on_ring = _mcmc_hint("rwm", 0.5, "ring8", "isolated modes (ring of 8)")
    assert "isolated-modes preset" not in on_ring and "HMC" in on_ring
    assert "isolated-modes preset" in _mcmc_hint("mala", 0.5, "banana", "well tuned (MALA on the banana)")
    assert "MALA" in _mcmc_hint("ula", 1.0, "gaussian2d", "ULA is biased, MALA is not")
    assert "switch to HMC" not in _mcmc_hint("hmc", 0.6, "ring8", "custom")


def test_an_ignored_link_value_with_an_empty_fallback_says_so():
    """The notice never ends in 'using .' (the KL page's 'Also fit with' starts empty)."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    page = str(Path(__file__).resolve().parents[1] / "pages" / "7_KL_divergences.py")
    at = AppTest.from_file(page, default_timeout=120)
    at.query_params["also"] = "garbage"
    at.run()
    notices = [w.value for w in at.warning if "was ignored" in w.value]
    assert notices and not any(n.rstrip().endswith("using .") for n in notices)


def test_per_snapshot_rebuilds_only_when_the_stepper_moves_or_the_key_changes():
    from playground.ui.controls import per_snapshot

    class Counter:
        iteration = 0

    stepper, calls = Counter(), []

    def build():
        calls.append(stepper.iteration)
        return f"view at {stepper.iteration}"

    assert per_snapshot(stepper, "v", build, "normal") == "view at 0"
    assert per_snapshot(stepper, "v", build, "normal") == "view at 0" and calls == [0]
    assert per_snapshot(stepper, "v", build, "projected") == "view at 0" and calls == [0, 0]  # another key
    stepper.iteration = 3
    assert per_snapshot(stepper, "v", build, "projected") == "view at 3" and calls == [0, 0, 3]
    assert per_snapshot(Counter(), "v", build, "projected") == "view at 3" and len(calls) == 4  # a new stepper
