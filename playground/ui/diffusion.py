"""Control groups and cached calls of the diffusion page (no computation here: playground.diffusion)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from playground import diffusion as D
from playground.stepper import lock_for
from playground.targets import Target
from playground.ui.controls import dataset_picker
from playground.ui.deeplink import linked

STATE_KEY = "diffusion_trainer"
STEP_OPTIONS = [1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 100, 200, 500]
LEARNING_RATES = [2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2]

DEFAULTS: dict[str, Any] = {
    "data": "ring8", "sched": "linear", "obj": "eps", "cond": False, "lr": 2e-3, "bs": 256, "width": 128,
    "t": 0.1, "samplers": ["ddpm", "ddim", "heun"], "steps": 50, "eta": 0.5, "src": "network",
    "cls": 0, "w": 1.0,
}


@dataclass(frozen=True)
class Preset:
    label: str
    watch: str
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None


PRESETS: dict[str, Preset] = {
    "custom": Preset("Your own settings", "Press **Play** to train; move **t** to see the score at each noise level."),
    "few_steps": Preset(
        "Too few steps", "Exact score, 5 steps: DDPM and Euler–Maruyama leave the eight modes blurred (precision "
        "about 0.4 and 0.2), and so does the ODE with Euler's method. Raise **Sampling steps** to 50: every sampler "
        "lands on the modes (precision about 0.99). The error is the sampler's, not the network's.",
        {"src": "exact", "steps": 5, "samplers": ["ddpm", "euler_maruyama", "euler"], "eta": 0.0}),
    "sde_ode": Preset(
        "SDE vs ODE at 10 steps", "Same exact score, same starting noise, 10 steps each: Euler–Maruyama on the "
        "reverse SDE has wide, blurred modes (precision about 0.3); Euler's method on the probability-flow ODE has "
        "sharp ones (about 0.9). The SDE paths jitter, the ODE paths are smooth curves.",
        {"src": "exact", "steps": 10, "samplers": ["euler_maruyama", "euler"]}),
    "guidance": Preset(
        "Guidance too strong", "A class-conditional model: Play about 1,500 steps first. With guidance w = 1 the "
        "samples sit on the chosen mode; at w = 8 they are pushed past it, off the ring (average radius above 3 "
        "instead of 2): precision and recall both fall.",
        {"cond": True, "w": 8.0, "samplers": ["ddim"], "steps": 50, "eta": 0.0}, seed=1),
    "small_t": Preset(
        "Where the network is wrong", "Play a few hundred steps, keep t = 0.05. Far from the data the learned "
        "(vermillion) and exact (black) arrows agree: both point back to the ring. On the modes they do not: at small "
        "noise the exact score points sharply into each narrow mode and the network has not learned that yet. The "
        "gap curve below rises steeply as t falls.",
        {"t": 0.05}),
}


def _apply_preset() -> None:
    preset = PRESETS[st.session_state["dpreset"]]
    for key, value in {**DEFAULTS, **preset.settings}.items():
        st.session_state[key] = value
    if preset.seed is not None:
        st.session_state["seed"] = preset.seed
    st.session_state.pop(STATE_KEY, None)


def preset_picker() -> Preset:
    name = linked(st.selectbox, "Preset", key="dpreset", default="custom", options=list(PRESETS),
                  format_func=lambda key: PRESETS[key].label, on_change=_apply_preset,
                  help="Ready-made views, each with one thing to watch.")
    return PRESETS[name]


def training_controls(preset: Preset, seed: int) -> tuple[Target, D.DiffusionConfig]:
    """Data, noising path, objective and optimiser -> (target, config)."""
    d = {**DEFAULTS, **preset.settings}
    target = dataset_picker("data", dims=(2,), default=d["data"])
    schedule = linked(st.selectbox, "Noise schedule", key="sched", default=d["sched"], options=list(D.SCHEDULES),
                      format_func=lambda name: D.SCHEDULES[name].label)
    objective = linked(st.selectbox, "The network predicts", key="obj", default=d["obj"], options=list(D.OBJECTIVES),
                       format_func=D.OBJECTIVES.get)
    conditional = linked(st.toggle, "Class-conditional (for guidance)", key="cond", default=d["cond"],
                         disabled=target.mixture is None,
                         help="Each point's class is its most likely mixture component; 20% of the time the class "
                         "is hidden, so one network learns both p(x | class) and p(x).")
    with st.expander("Network and optimiser", expanded=False):
        lr = linked(st.select_slider, "Learning rate (Adam)", key="lr", default=d["lr"], options=LEARNING_RATES)
        batch = linked(st.select_slider, "Batch size", key="bs", default=d["bs"], options=[64, 128, 256, 512])
        width = linked(st.select_slider, "Hidden width (3 layers)", key="width", default=d["width"],
                       options=[32, 64, 128, 256])
    config = D.DiffusionConfig(schedule=schedule, objective=objective, lr=float(lr), batch_size=int(batch),
                               hidden=int(width), conditional=bool(conditional and target.mixture is not None),
                               seed=seed)
    return target, config


def time_control(preset: Preset, schedule: D.Schedule) -> float:
    d = {**DEFAULTS, **preset.settings}
    t = linked(st.slider, "Time t (0 = data, 1 = noise)", key="t", default=d["t"], min_value=0.0, max_value=1.0,
               step=0.01)
    return min(max(float(t), schedule.t_min if schedule.t_min > 0 else 1e-3), schedule.t_max)


def sampling_controls(preset: Preset, target: Target, trainer: D.DiffusionTrainer) -> dict[str, Any]:
    d = {**DEFAULTS, **preset.settings}
    columns = st.columns([2.2, 1.2, 1, 1.2])
    samplers = linked(columns[0].multiselect, "Samplers", key="samplers", default=d["samplers"],
                      options=list(D.SAMPLERS), format_func=D.SAMPLERS.get)
    steps = linked(columns[1].select_slider, "Sampling steps", key="steps", default=d["steps"], options=STEP_OPTIONS,
                   help="Heun evaluates the network twice per step: it gets half as many steps, the same budget.")
    eta = linked(columns[2].slider, "DDIM η", key="eta", default=d["eta"], min_value=0.0, max_value=1.0, step=0.1,
                 help="0: deterministic (the ODE); 1: DDPM's ancestral sampler.")
    sources = ["network", "exact"] if target.mixture is not None else ["network"]
    source = linked(columns[3].radio, "Score used", key="src", default=d["src"] if d["src"] in sources else "network",
                    options=sources, format_func={"network": "the network", "exact": "exact (mixture)"}.get)
    label, guidance = None, 1.0
    if trainer.n_classes:
        pair = st.columns(2)
        label = int(linked(pair[0].number_input, "Class (mode) to generate", key="cls", default=d["cls"],
                           min_value=0, max_value=trainer.n_classes - 1, step=1))
        guidance = float(linked(pair[1].select_slider, "Guidance scale w", key="w", default=d["w"],
                                options=[0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0],
                                help="0: unconditional; 1: conditional; > 1: pushed further towards the class."))
    return {"samplers": list(samplers), "steps": int(steps), "eta": float(eta), "source": source, "label": label,
            "guidance": guidance}


def noise_predictor(trainer: D.DiffusionTrainer, target: Target, choice: dict[str, Any]) -> D.EpsFn:
    if choice["source"] == "exact" and target.mixture is not None:
        return D.ExactNoisePredictor(target.mixture, trainer.schedule)
    return trainer.model.noise_predictor(label=choice["label"], guidance=choice["guidance"])


def run_samplers(trainer: D.DiffusionTrainer, target: Target, choice: dict[str, Any], seed: int) -> dict:
    """The samplers' runs, kept in the session until the network or a control changes."""
    key = ("diffusion_runs", id(trainer), trainer.iteration, repr(sorted(choice.items())), seed)
    cached = st.session_state.get("diffusion_runs")
    if cached is None or cached[0] != key:
        with lock_for(trainer):
            runs = D.run_samplers(noise_predictor(trainer, target, choice), trainer.schedule, choice["samplers"],
                                  choice["steps"], eta=choice["eta"], seed=seed)
        cached = (key, runs)
        st.session_state["diffusion_runs"] = cached
    return cached[1]


@st.cache_data(show_spinner=False, max_entries=64)
def reference_samples(_target: Target, name: str, n: int, seed: int):
    return _target.sample(n, seed)


@st.cache_data(show_spinner=False, max_entries=64)
def schedule_curves(name: str):
    return D.schedule_curves(D.SCHEDULES[name])


@st.cache_data(show_spinner=False, max_entries=32)
def density_grid(_target: Target, name: str, schedule: str, t: float, bounds: tuple):
    return D.noised_density_grid(_target.mixture, D.SCHEDULES[schedule], t, bounds)
