"""Shared controls: the stepper panel, the dataset picker and the formula panel."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence

import streamlit as st

from playground.stepper import Stepper, lock_for
from playground.targets import Target, get_target, list_targets
from playground.ui.deeplink import linked

CSV_OPTION = "csv"


# ----------------------------------------------------------------------------------
# Stepper panel
# ----------------------------------------------------------------------------------

def stepper_panel(key: str, factory: Callable[[], Stepper], config: Hashable,
                  render: Callable[[Stepper], None], *, steps_per_tick: int = 1, max_steps_per_tick: int = 50,
                  interval: float = 0.6, step_label: str = "Step", max_iterations: int | None = None,
                  converged: Callable[[Stepper], str | None] | None = None) -> Stepper:
    """Step / Play-Pause / Reset / speed controls that drive any ``Stepper``.

    The stepper lives in ``st.session_state[key]`` (one per viewer) and is rebuilt
    with ``factory()`` whenever ``config`` changes or Reset is pressed. While playing,
    an ``st.fragment(run_every=interval)`` advances it ``steps per tick`` steps and
    calls ``render(stepper)``; only that fragment reruns, not the whole page.
    Every step and every render holds ``lock_for(stepper)`` (see ``playground.stepper``).
    ``converged(stepper)`` returns a note when there is nothing left to watch: Play then
    stops by itself and the note is shown.
    """
    state = st.session_state
    config_key, playing_key = f"{key}__config", f"{key}__playing"
    if key not in state or state.get(config_key) != config:
        state[key] = factory()
        state[config_key] = config
        state[playing_key] = False

    speed_key = f"{key}__speed"

    # Callbacks run before the rerun they trigger, so every label below already shows
    # the new state (a Play click reruns with "Pause" on the button).
    def step_once() -> None:
        stepper = state[key]
        with lock_for(stepper):  # a double click waits for the first step instead of racing it
            stepper.step(state.get(speed_key, steps_per_tick))

    def toggle_play() -> None:
        state[playing_key] = not state[playing_key]

    def reset() -> None:
        state[key] = factory()
        state[playing_key] = False
        state.pop(f"{key}__note", None)

    columns = st.columns([1, 1.15, 1, 1.4])  # buttons wide enough for projection-size labels
    columns[0].button(step_label, key=f"{key}__step", width="stretch", on_click=step_once,
                      icon=":material/skip_next:", help="Advance by the number of steps per tick.")
    playing = state[playing_key]
    columns[1].button("Pause" if playing else "Play", key=f"{key}__play", width="stretch", on_click=toggle_play,
                      icon=":material/pause:" if playing else ":material/play_arrow:", type="primary")
    columns[2].button("Reset", key=f"{key}__reset", width="stretch", on_click=reset, icon=":material/restart_alt:")
    # The label sits in the value ("steps per tick: 20"): the button row stays one line high, which keeps
    # the picture under it on a projector's first screen.
    speed = columns[3].slider("Steps per tick", 1, max_steps_per_tick, steps_per_tick, key=speed_key,
                              format="steps per tick: %d", label_visibility="collapsed",
                              help="Steps per Step click and per Play tick.")

    @st.fragment(run_every=interval if state[playing_key] else None)
    def live() -> None:
        stepper: Stepper = state[key]
        with lock_for(stepper):  # one writer: no click's step runs while this tick steps or draws
            if state[playing_key]:
                done = max_iterations is not None and stepper.iteration >= max_iterations
                if stepper.stopped or done:
                    state[playing_key] = False
                else:
                    stepper.step(speed)
                    note = converged(stepper) if converged is not None else None
                    if note:  # nothing left to watch: stop, and redraw the buttons (Play, not Pause)
                        state[playing_key] = False
                        state[f"{key}__note"] = note
                        st.rerun()
            elif state.get(f"{key}__note") and converged is not None and not converged(stepper):
                state.pop(f"{key}__note")  # stepped on or reset since
            if state.get(f"{key}__note"):
                st.info(state[f"{key}__note"], icon=":material/check_circle:")
            if stepper.stopped:
                st.error(stepper.message, icon=":material/warning:")
            render(stepper)  # the picture right under the buttons: both on a projector's first screen
            st.caption(f"Iteration {stepper.iteration}" + (" · playing" if state[playing_key] else ""))

    live()
    return state[key]


# ----------------------------------------------------------------------------------
# Dataset picker
# ----------------------------------------------------------------------------------

def dataset_picker(key: str = "data", *, dims: Sequence[int] = (1, 2), default: str | None = None,
                   label: str = "Data", allow_csv: bool = True) -> Target:
    """Choose a registry target or upload a CSV; a bad CSV shows why and falls back."""
    targets = [t for t in list_targets() if t.dim in dims]
    names = [t.name for t in targets] + ([CSV_OPTION] if allow_csv else [])
    default = default or names[0]

    def describe(name: str) -> str:
        if name == CSV_OPTION:
            return "📄 Your CSV file…"
        target = get_target(name)
        return f"{target.label} ({target.dim}D{'' if target.has_log_prob else ', sample-only'})"

    choice = linked(st.selectbox, label, key=key, default=default, options=names, format_func=describe)
    if choice != CSV_OPTION:
        return get_target(choice)
    return _csv_target(key, dims, get_target(default))


def _csv_target(key: str, dims: Sequence[int], fallback: Target) -> Target:
    from playground.data import CSVError, load_csv

    upload = st.file_uploader("CSV with one or two numeric columns (header optional)", type=["csv", "txt"],
                              key=f"{key}__upload")
    if upload is None:
        st.info(f"Upload a file to use your data; showing **{fallback.label}** meanwhile.")
        return fallback
    try:
        target = load_csv(upload.getvalue(), name=upload.name)
    except CSVError as error:
        st.error(f"**{upload.name}** cannot be used: {error}", icon=":material/error:")
        return fallback
    if target.dim not in dims:
        st.error(f"This page needs {' or '.join(f'{d}D' for d in dims)} data; the file has {target.dim} column(s).")
        return fallback
    st.success(f"Using **{target.label}** from your file ({target.dim}D).", icon=":material/description:")
    for note in target.notes:
        st.info(note)
    return target


# ----------------------------------------------------------------------------------
# Formula panel
# ----------------------------------------------------------------------------------

def format_number(value: Any, digits: int = 4) -> str:
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return f"{value:,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number != 0 and (abs(number) >= 1e5 or abs(number) < 1e-3):
        return f"{number:.{digits - 1}e}"
    return f"{number:.{digits}g}"


def formula_panel(latex: str, values: dict[str, Any] | None = None, *, title: str | None = None,
                  try_next: str | None = None) -> None:
    """The formula behind a figure, its live numbers, and what to try next."""
    with st.container(border=True):
        if title:
            st.markdown(f"**{title}**")
        st.latex(latex)
        if values:
            columns = st.columns(min(len(values), 4))
            for i, (name, value) in enumerate(values.items()):
                columns[i % len(columns)].metric(name, format_number(value))
        if try_next:
            st.caption(f"**Try next:** {try_next}")
