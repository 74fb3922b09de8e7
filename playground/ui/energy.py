"""Control groups of the energy-based models page (no computation here: playground.energy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from playground import energy as E
from playground.targets import Target
from playground.ui.controls import dataset_picker
from playground.ui.deeplink import linked

STATE_KEY = "energy_trainer"

DEFAULTS: dict[str, Any] = {
    "data": "mog2d", "method": "cd", "start": "buffer", "lsteps": 20, "lstep": 0.01, "alpha": 0.01, "sn": False,
    "buf": 4096, "reinit": 0.05, "lr": 2e-3, "width": 64,
}


@dataclass(frozen=True)
class Preset:
    label: str
    watch: str
    settings: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "good": Preset("A good run", "Play about 450 steps: the density takes the shape of the three Gaussians and the "
                   "held-out log-likelihood climbs to within 0.3 nats of the truth (dashed line)."),
    "few_steps": Preset(
        "Too few Langevin steps", "With 2 Langevin steps from fresh noise the negatives never reach the model's modes: "
        "the model learns the sampler's bias. Play 450 steps: the sliced W₂ between the chains and exact samples of "
        "the model stays above 2, the energies run away (log Z above 20) and the held-out log-likelihood stays near "
        "−13, against −3 for the good run.", {"lsteps": 2, "start": "noise"}),
    "no_reg": Preset(
        "No regularisation", "α = 0 and a 5× larger learning rate: nothing anchors the level of the energy, so E and "
        "log Z wander (log Z about 7 after 450 steps, against 3 with α = 0.01) and the held-out log-likelihood swings "
        "by more than a nat between evaluations.", {"alpha": 0.0, "lr": 1e-2}),
    "exact": Preset(
        "Exact likelihood (the reference)", "On the ring of 8 Gaussians: Z on the grid gives the likelihood's own "
        "gradient, no sampler. Play about 1,000 steps: the held-out log-likelihood comes within 0.3 nats of the truth "
        "and stays there; then switch Training to contrastive divergence (same data): it stays further off.",
        {"data": "ring8", "method": "exact", "lr": 5e-3}),
    "dsm": Preset("Denoising score matching", "No sampling during training: the energy's gradient is regressed on "
                  "the noise's score. Faster steps; compare its likelihood curve with the contrastive run.",
                  {"method": "dsm"}),
}


def _apply_preset() -> None:
    preset = PRESETS[st.session_state["epreset"]]
    for key, value in {**DEFAULTS, **preset.settings}.items():
        st.session_state[key] = value
    st.session_state.pop(STATE_KEY, None)


def preset_picker() -> Preset:
    name = linked(st.selectbox, "Preset", key="epreset", default="good", options=list(PRESETS),
                  format_func=lambda key: PRESETS[key].label, on_change=_apply_preset,
                  help="Ready-made runs, each with one thing to watch.")
    return PRESETS[name]


def training_controls(preset: Preset, seed: int) -> tuple[Target, E.EnergyConfig]:
    d = {**DEFAULTS, **preset.settings}
    target = dataset_picker("data", dims=(2,), default=d["data"])
    method = linked(st.radio, "Training", key="method", default=d["method"], options=list(E.METHODS),
                    format_func=E.METHODS.get)
    pair = st.columns(2)
    steps = linked(pair[0].select_slider, "Langevin steps", key="lsteps", default=d["lsteps"],
                   options=[1, 2, 5, 10, 20, 40, 80], disabled=method != "cd")  # exact and DSM do not sample
    step = linked(pair[1].select_slider, "Langevin step η", key="lstep", default=d["lstep"],
                  options=[0.001, 0.003, 0.01, 0.03, 0.1], disabled=method != "cd")
    start = linked(st.selectbox, "Chains start from", key="start", default=d["start"], options=list(E.STARTS),
                   format_func=E.STARTS.get, disabled=method != "cd")
    with st.expander("Buffer, regularisation, network", expanded=False):
        pair = st.columns(2)
        buffer = linked(pair[0].select_slider, "Buffer size", key="buf", default=d["buf"],
                        options=[256, 1024, 4096, 16384])
        reinit = linked(pair[1].select_slider, "Re-initialise", key="reinit", default=d["reinit"],
                        options=[0.0, 0.01, 0.05, 0.2, 1.0], help="Fraction of buffer chains restarted from noise.")
        alpha = linked(st.select_slider, "Energy regularisation α", key="alpha", default=d["alpha"],
                       options=[0.0, 0.001, 0.01, 0.1, 1.0])
        spectral = linked(st.toggle, "Spectral norm", key="sn", default=d["sn"])
        lr = linked(st.select_slider, "Learning rate", key="lr", default=d["lr"],
                    options=[5e-4, 1e-3, 2e-3, 5e-3, 1e-2])
        width = linked(st.select_slider, "Width", key="width", default=d["width"], options=[16, 32, 64, 128])
    config = E.EnergyConfig(method=method, start=start, langevin_steps=int(steps), step_size=float(step),
                            buffer_size=int(buffer), reinit=float(reinit), alpha=float(alpha),
                            spectral_norm=bool(spectral), lr=float(lr), width=int(width), seed=seed)
    return target, config
