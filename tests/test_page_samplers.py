"""The Samplers page: every tab runs, its controls drive it, the numbers shown change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PAGE = "pages/1_Samplers.py"
TIMEOUT = 60


def _open(section: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=TIMEOUT)
    at.query_params["section"] = section
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _check(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_opens_on_the_lcg_tab_and_the_app_reaches_it():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page(PAGE).run()
    _check(at)
    assert at.title[0].value.endswith("Samplers")
    assert at.selectbox(key="lcg").value == "RANDU (IBM, bad)"


def test_lcg_presets_change_the_numbers_and_randu_shows_15_planes():
    at = _open("1 LCG")
    before = _metrics(at)
    assert before["planes k"] == "15"
    at.selectbox(key="lcg").set_value("MINSTD (Park–Miller)").run()
    _check(at)
    assert at.number_input(key="lcg_m").value == 2**31 - 1 and at.number_input(key="lcg_a").value == 16807
    after = _metrics(at)
    assert after["X₁"] != before["X₁"]
    assert after["planes k"] == "none"
    at.toggle(key="lcg_planes").set_value(True).run()
    at.selectbox(key="lcg").set_value("Tiny, short period").run()
    _check(at)
    assert _metrics(at)["period"] == "32"
    assert any("Hull–Dobell" in c.value for c in at.caption)


def test_lcg_bad_seed_gets_a_message_not_a_crash():
    at = _open("1 LCG")
    at.number_input(key="lcg_x0").set_value(2**31 + 5).run()
    _check(at)
    assert any("do not define a generator" in e.value for e in at.error)


def test_box_muller_and_polar_tabs_react_to_their_controls():
    at = _open("2 Box-Muller")
    first = _metrics(at)["D (KS)"]
    at.select_slider(key="bm_N").set_value(1_000).run()
    at.radio(key="bm_col").set_value("U2").run()
    _check(at)
    assert _metrics(at)["D (KS)"] != first
    at = _open("3 Polar")
    first = _metrics(at)["accept"]
    at.select_slider(key="pol_n").set_value(20_000).run()
    _check(at)
    assert _metrics(at)["accept"] != first


@pytest.mark.parametrize("choice", ["cauchy", "three_bumps"])
def test_inverse_cdf_tab_samples_closed_forms_and_registry_targets(choice):
    at = _open("4 Inverse CDF")
    first = _metrics(at)["x₁"]
    at.selectbox(key="inv").set_value(choice).run()
    _check(at)
    assert _metrics(at)["x₁"] != first
    at.slider(key="inv_d").set_value(784).run()
    _check(at)
    assert float(_metrics(at)["log₁₀ cells"].replace(",", "")) > 2000


def test_cholesky_tab_presets_and_a_singular_covariance():
    at = _open("5 Cholesky")
    first = _metrics(at)["ρ̂"]
    at.radio(key="mvn").set_value("diagonal").run()
    _check(at)
    assert abs(float(_metrics(at)["ρ̂"])) < 0.1 and _metrics(at)["ρ̂"] != first
    at.radio(key="mvn").set_value("degenerate (ρ = 1)").run()
    _check(at)
    assert any("cannot be sampled" in e.value for e in at.error)
    at.slider(key="mvn_rho").set_value(0.5).run()
    _check(at)
    assert not at.error


def test_mixture_tab_edits_components_and_rejects_zero_weights():
    at = _open("6 Mixture")
    assert set(_metrics(at)) >= {"f1", "f2", "f3", "χ² p"}
    at.slider(key="mix_k").set_value(2).run()
    at.number_input(key="mix_w0").set_value(0.0).run()
    _check(at)
    assert float(_metrics(at)["f1"]) == 0.0
    at.number_input(key="mix_w1").set_value(0.0).run()
    _check(at)
    assert any("cannot be sampled" in e.value for e in at.error)


def test_rejection_tab_acceptance_follows_one_over_m_and_warns_when_m_is_too_small():
    at = _open("7 Rejection")
    first = float(_metrics(at)["accept"])
    at.slider(key="rej_m").set_value(3.0).run()
    _check(at)
    assert float(_metrics(at)["accept"]) < first
    at.slider(key="rej_m").set_value(0.5).run()
    _check(at)
    assert any("below M*" in w.value for w in at.warning)
    at.selectbox(key="rej").set_value("student_t").run()
    _check(at)
    assert any("heavier tails" in w.value for w in at.warning)


def test_mcmc_tab_steps_plays_and_switches_presets():
    at = _open("8 MCMC")
    at.button(key="mcmc_chains__step").click().run()
    _check(at)
    assert at.session_state["mcmc_chains"].iteration == 5
    first = _metrics(at)["mean x1"]
    at.button(key="mcmc_chains__play").click().run()
    for _ in range(2):  # AppTest does not tick run_every fragments: a rerun stands in for a tick
        at.run()
    _check(at)
    assert at.session_state["mcmc_chains"].iteration >= 15
    assert _metrics(at)["mean x1"] != first
    at.button(key="mcmc_chains__play").click().run()
    for preset in ("step size too large (RWM)", "isolated modes (ring of 8)", "ULA is biased, MALA is not",
                   "HMC on the mixture"):
        at.selectbox(key="mc_pre").set_value(preset).run()
        at.button(key="mcmc_chains__step").click().run()
        _check(at)
        assert at.session_state["mcmc_chains"].iteration == 5
    assert at.selectbox(key="mc_m").value == "hmc"


def test_mcmc_divergence_is_reported_and_the_page_keeps_working():
    at = _open("8 MCMC", mc_pre="custom", mc_t="gaussian2d", mc_m="ula", mc_h="10.0")
    at.slider(key="mcmc_chains__speed").set_value(50).run()
    for _ in range(4):
        at.button(key="mcmc_chains__step").click().run()
    _check(at)
    assert at.session_state["mcmc_chains"].stopped
    assert any("diverged" in e.value for e in at.error)


def test_moving_an_mcmc_control_by_hand_leaves_the_preset():
    at = _open("8 MCMC")
    at.selectbox(key="mc_m").set_value("rwm").run()
    _check(at)
    assert at.selectbox(key="mc_pre").value == "custom"
    assert at.query_params["mc_pre"] == "custom"


def test_a_link_reopens_the_chains_at_its_iteration_and_carries_only_the_open_tab():
    at = _open("8 MCMC")
    for _ in range(3):
        at.button(key="mcmc_chains__step").click().run()
    _check(at)
    assert at.query_params["mcmc_chains_it"] == "15"
    positions = at.session_state["mcmc_chains"].positions
    # the same link in a new session: the chains are replayed from the seed to iteration 15
    again = _open("8 MCMC", mcmc_chains_it="15", lcg_m="31", box_n="5000")
    chains = again.session_state["mcmc_chains"]
    assert chains.iteration == 15
    assert (chains.positions == positions).all()
    # another tab's controls (left in an edited link) are dropped from the URL
    assert "lcg_m" not in again.query_params and "box_n" not in again.query_params
    assert again.query_params["section"] == "8 MCMC"
    # a hostile iteration is refused with a message, a huge one replayed to the cap
    bad = _open("8 MCMC", mcmc_chains_it="-3")
    assert bad.session_state["mcmc_chains"].iteration == 0 and bad.warning
    # Reset takes the iteration out of the link
    at.button(key="mcmc_chains__reset").click().run()
    assert "mcmc_chains_it" not in at.query_params


def test_box_muller_default_passes_and_100_seeds_show_uniform_p_values():
    at = _open("2 Box-Muller")
    for n in (100_000, 10_000, 1_000):
        at.select_slider(key="bm_N").set_value(n).run()
        assert float(_metrics(at)["p-value"]) > 0.05, n  # the default seed does not tell a class the method fails
    at.button(key="bm_seeds").click().run()
    _check(at)
    assert any("bm_pvalues_fig" in chart.proto.id for chart in at.get("plotly_chart"))


def test_box_muller_p_values_over_seeds_are_uniform():
    from scipy import stats

    from playground.sampling import box_muller_pvalues

    pvalues = box_muller_pvalues(2_000, 300, seed=1)
    assert stats.kstest(pvalues, "uniform").pvalue > 0.01
    assert 0.01 < np.mean(pvalues < 0.05) < 0.10
