"""Shared controls: the stepper panel, the dataset picker and the formula panel."""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Hashable, Sequence

import streamlit as st

from playground.stepper import Stepper, lock_for
from playground.targets import Target, get_target, list_targets
from playground.ui import deeplink, player
from playground.ui.deeplink import linked

CSV_OPTION = "csv"


# ----------------------------------------------------------------------------------
# Stepper panel
# ----------------------------------------------------------------------------------

def per_snapshot(stepper: Any, name: str, build: Callable[[], Any], *key: Hashable) -> Any:
    """``build()`` once per state of ``stepper`` (its ``iteration``) and ``key``, kept on the stepper.

    A page reruns all its sections on any click; a section whose stepper did not move (the
    loss ablation while the main model trains, a slider elsewhere on the page) reuses its
    figures and numbers instead of rebuilding them. Call under the stepper's lock (a
    ``render`` is); what ``build`` returns must not be mutated by the caller. Only for steppers
    whose state is fixed by their iteration (a Reset makes a new stepper, so nothing stale is
    kept)."""
    store = stepper.__dict__.setdefault("_pg_views", {})
    full_key = (getattr(stepper, "iteration", None), key)
    hit = store.get(name)
    if hit is not None and hit[0] == full_key:
        return hit[1]
    value = build()
    store[name] = (full_key, value)
    return value


def stepper_panel(key: str, factory: Callable[[], Stepper], config: Hashable,
                  render: Callable[[Stepper], None], *, steps_per_tick: int = 1, max_steps_per_tick: int = 50,
                  interval: float = 0.6, step_label: str = "Step", max_iterations: int | None = None,
                  converged: Callable[[Stepper], str | None] | None = None,
                  picture: Callable[[Stepper], Any] | None = None) -> Stepper:
    """Step / Play-Pause / Reset / speed controls that drive any ``Stepper``.

    The stepper lives in ``st.session_state[key]`` (one per viewer) and is rebuilt
    with ``factory()`` whenever ``config`` changes or Reset is pressed. While playing,
    an ``st.fragment(run_every=interval)`` advances it ``steps per tick`` steps and
    calls ``render(stepper)``; only that fragment reruns, not the whole page.
    Every step and every render holds ``lock_for(stepper)`` (see ``playground.stepper``).
    ``converged(stepper)`` returns a note when there is nothing left to watch: Play then
    stops by itself and the note is shown.

    ``picture(stepper)`` returns the page's main picture, themed (``page.themed``), as ``render``
    draws it. When given, Play runs in the browser (``playground.ui.player``): chunks of ticks
    computed ahead, drawn at ``player.FPS`` frames per second, Pause answered in the browser
    and the stepper put back to the iteration on the screen. ``render`` then runs once per
    chunk (its numbers lead the picture by at most a chunk while playing).
    """
    state = st.session_state
    config_key, playing_key = f"{key}__config", f"{key}__playing"
    link_key = f"{key}_it"  # the iteration in the link: a link reopens the run where it was
    opened = key not in state
    if opened or state.get(config_key) != config:
        state[key] = factory()
        state[config_key] = config
        state[playing_key] = False
        if opened:
            _replay_link(state[key], link_key, steps_per_tick, max_iterations)

    speed_key = f"{key}__speed"

    # Callbacks run before the rerun they trigger, so every label below already shows
    # the new state (a Play click reruns with "Pause" on the button).
    play_key = f"{key}__browser"  # the browser-side Play in progress (see playground.ui.player)
    use_player = picture is not None and _player_available()

    def stop_browser_play(iteration: int | None) -> None:
        """End a browser-side Play, with the stepper put back to ``iteration`` (the frame on the screen)."""
        run = state.get(play_key)
        state[play_key] = None
        state[playing_key] = False
        if run is not None and iteration is not None:
            with lock_for(state[key]):
                state[key] = _rewind(run, state[key], iteration)
            if run.get("note") and iteration >= run["chunks"][-1]["last"]:
                state[f"{key}__note"] = run["note"]

    def on_player_event() -> None:
        event = (state.get(player.player_key(key)) or {}).get("event") or {}
        run = state.get(play_key)
        if run is None or event.get("play") != run["id"]:
            return  # from a Play already ended (a Reset, a config change)
        run["have"] = max(run["have"], int(event.get("have", -1)))
        shown = int(event.get("it", run["start"]))
        if event.get("kind") in ("pause", "done"):
            stop_browser_play(shown)
            state[f"{key}__relabel"] = True
        else:  # "more": drop the chunks already shown entirely, compute the next one
            run["shown"] = shown
            run["chunks"] = [c for c in run["chunks"] if c["last"] >= shown] or run["chunks"][-1:]
            run["want"] = True

    # Callbacks run before the rerun they trigger, so every label below already shows
    # the new state (a Play click reruns with "Pause" on the button).
    def step_once() -> None:
        if state.get(play_key) is not None:  # Step while playing in the browser: stop at the shown frame
            stop_browser_play(state[play_key]["shown"])
        stepper = state[key]
        with lock_for(stepper):  # a double click waits for the first step instead of racing it
            stepper.step(state.get(speed_key, steps_per_tick))

    def toggle_play() -> None:
        if state.get(play_key) is not None:  # a Pause the browser did not catch (its player was not drawn yet)
            stop_browser_play(state[play_key]["shown"])
            return
        state[playing_key] = not state[playing_key]

    def reset() -> None:
        state[key] = factory()
        state[playing_key] = False
        state[play_key] = None
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

    if not state[playing_key]:
        state[play_key] = None
    elif state.get(play_key) is not None and not use_player:
        state[play_key] = None

    @st.fragment(run_every=interval if state[playing_key] and not use_player else None)
    def live() -> None:
        if state.pop(f"{key}__relabel", False):  # a Pause answered in the browser: redraw the buttons
            st.rerun()
        stepper: Stepper = state[key]
        if state[playing_key] and use_player:
            with lock_for(stepper):
                _browser_play(stepper)
            return
        with lock_for(stepper):  # one writer: no click's step runs while this tick steps or draws
            if state[playing_key]:
                done = max_iterations is not None and stepper.iteration >= max_iterations
                if stepper.stopped or done:  # stop, and rerun the page: the button reads Play again and
                    state[playing_key] = False  # every section below the trainer shows the final model
                    st.rerun()
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

    def _browser_play(stepper: Stepper) -> None:
        run = state.get(play_key)
        if run is None:
            run = state[play_key] = {"id": int(state.get(f"{key}__plays", 0)) + 1, "chunks": [], "next": 0,
                                     "start": stepper.iteration, "shown": stepper.iteration, "have": -1,
                                     "want": True, "final": False, "note": None}
            state[f"{key}__plays"] = run["id"]
        if run["want"] and not run["final"]:
            run["want"] = False
            _compute_chunk(run, stepper, picture, state.get(speed_key, steps_per_tick), max_iterations, converged)
        if stepper.stopped:
            st.error(stepper.message, icon=":material/warning:")
        pending = [c["message"] for c in run["chunks"] if c["message"]["chunk"] > run["have"]]
        token = player.ACTIVE.set(lambda fill: player.mount(
            key, play=run["id"], start=run["start"], chunks=pending, fill=fill, on_event=on_player_event))
        try:
            render(stepper)
        finally:
            player.ACTIVE.reset(token)

    live()
    _write_link(link_key, state[key], playing=state[playing_key])
    return state[key]


LINK_REPLAY_CAP = 2000  # iterations a link may ask to replay on open


def _replay_link(stepper: Stepper, link_key: str, steps_per_tick: int, max_iterations: int | None) -> None:
    """A link with ``<key>_it=N``: the run is replayed from its seed to iteration N (within a cap)."""
    raw = st.query_params.get(link_key)
    if raw is None:
        return
    try:
        wanted = int(raw)
        if wanted < 0:
            raise ValueError
    except ValueError:
        st.warning(f"The link's iteration ({raw!r}) is not a count; the run starts from the beginning.",
                   icon=":material/link_off:")
        return
    cap = min(LINK_REPLAY_CAP, max_iterations or LINK_REPLAY_CAP)
    if wanted > cap:
        st.warning(f"The link asks for iteration {wanted:,}; replayed to {cap:,}, the most a link reopens.",
                   icon=":material/link_off:")
        wanted = cap
    with lock_for(stepper):
        while stepper.iteration < wanted and not stepper.stopped:
            before = stepper.iteration
            stepper.step(max(1, min(steps_per_tick, wanted - stepper.iteration)))
            if stepper.iteration == before:
                break


def _write_link(link_key: str, stepper: Stepper, *, playing: bool) -> None:
    """The iteration goes into the link while the run stands still (not on every Play frame)."""
    deeplink.drawn(link_key)
    if playing:
        return
    wanted = str(stepper.iteration) if stepper.iteration > 0 else None
    if st.query_params.get(link_key) != wanted:
        if wanted is None:
            del st.query_params[link_key]
        else:
            st.query_params[link_key] = wanted


def _player_available() -> bool:
    return player.plotly_js_ready()


def _compute_chunk(run: dict, stepper: Stepper, picture: Callable[[Stepper], Any], speed: int,
                   max_iterations: int | None, converged: Callable[[Stepper], str | None] | None) -> None:
    """The next chunk of a browser-side Play: ticks stepped now, each tick's picture as a frame.

    The stepper is snapshotted first; ``_rewind`` replays the recorded ticks from it.
    """
    size = player.FIRST_CHUNK if run["next"] == 0 else player.CHUNK
    snapshot = copy.deepcopy(stepper)
    start, frames, ticks, previous, final = stepper.iteration, [], [], None, False
    began = time.perf_counter()
    for _ in range(size):
        # A chunk also ends after CHUNK_SECONDS of work (training pages): a Pause waits for the chunk
        # being computed, then for a replay of at most one chunk.
        if frames and time.perf_counter() - began > player.CHUNK_SECONDS:
            break
        if stepper.stopped or (max_iterations is not None and stepper.iteration >= max_iterations):
            final = True
            break
        stepper.step(speed)
        ticks.append((speed, stepper.iteration))
        parts = player.figure_parts(picture(stepper))
        frames.append(player.encode_frame(stepper.iteration, parts, previous))
        previous = parts
        note = converged(stepper) if converged is not None else None
        if note or stepper.stopped:
            run["note"], final = note, True
            break
    run["final"] = final
    run["chunks"].append({"snapshot": snapshot, "start": start, "ticks": ticks,
                         "last": stepper.iteration,
                         "message": {"chunk": run["next"], "frames": frames, "final": final}})
    run["next"] += 1


def _rewind(run: dict, stepper: Stepper, iteration: int) -> Stepper:
    """The stepper as it was when the frame of ``iteration`` was drawn (``stepper`` if it is there)."""
    if stepper.iteration == iteration:
        return stepper
    for chunk in run["chunks"]:
        if chunk["start"] <= iteration <= chunk["last"]:
            replay = copy.deepcopy(chunk["snapshot"])
            for speed, reached in chunk["ticks"]:
                if replay.iteration >= iteration:
                    break
                replay.step(speed)
            return replay
    return stepper  # not among the kept chunks (cannot happen): keep the newest state


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
        if name == DRAW_OPTION:
            return "✏️ Draw your own…"
        target = get_target(name)
        return f"{target.label} ({target.dim}D{'' if target.has_log_prob else ', sample-only'})"

    if 2 in dims and allow_csv:
        names.append(DRAW_OPTION)
    choice = linked(st.selectbox, label, key=key, default=default, options=names, format_func=describe)
    if choice == DRAW_OPTION:
        return _drawn_target(key, get_target(default) if 2 in dims and get_target(default).dim == 2
                             else next(t for t in targets if t.dim == 2))
    if choice != CSV_OPTION:
        return get_target(choice)
    return _csv_target(key, dims, get_target(default))


DRAW_OPTION = "draw"
MIN_DRAWN_POINTS = 60


def _drawn_target(key: str, fallback: Target) -> Target:
    """Draw 2D data: click (or lasso) points of a grid; each adds a small cluster. Undo and Clear."""
    from playground.data import DRAW_BOX, drawing_grid, drawn_data, from_array
    from playground.figures.primitives import drawing_plane

    centres_key, event_key = f"{key}__drawn", f"{key}__canvas"
    centres: list[tuple[float, float]] = st.session_state.setdefault(centres_key, [])
    grid = drawing_grid()
    event = st.session_state.get(event_key)
    selected = [int(p["point_index"]) for p in (event or {}).get("selection", {}).get("points", [])
                if p.get("curve_number") == 0 and "point_index" in p]
    signature = tuple(selected)
    if selected and signature != st.session_state.get(f"{key}__last_selection"):
        st.session_state[f"{key}__last_selection"] = signature
        centres.extend((float(grid[i, 0]), float(grid[i, 1])) for i in selected)
    data = drawn_data(centres, seed=len(centres))
    st.plotly_chart(drawing_plane(grid, data, DRAW_BOX), key=event_key, on_select="rerun",
                    selection_mode=("points", "box", "lasso"), config={"displaylogo": False}, theme=None)
    undo, clear = st.columns(2)
    if undo.button("Undo", key=f"{key}__undo", icon=":material/undo:", disabled=not centres, width="stretch"):
        centres.pop()
        st.rerun()
    if clear.button("Clear", key=f"{key}__clear", icon=":material/delete:", disabled=not centres, width="stretch"):
        centres.clear()
        st.rerun()
    if len(data) < MIN_DRAWN_POINTS:
        st.info(f"Click the plane (or pick the lasso in its toolbar) to draw: each click adds 30 points. "
                f"At least {MIN_DRAWN_POINTS} points are needed; showing **{fallback.label}** meanwhile.")
        return fallback
    st.caption(f"{len(data):,} points drawn in {len(centres)} clicks.")
    return from_array(data, name="your drawing")


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
                  try_next: str | None = None, columns: int = 4) -> None:
    """The formula behind a figure, its live numbers (in up to ``columns`` columns), and what to try next."""
    with st.container(border=True):
        if title:
            st.markdown(f"**{title}**")
        st.latex(latex)
        if values:
            cells = st.columns(min(len(values), columns))
            for i, (name, value) in enumerate(values.items()):
                cells[i % len(cells)].metric(name, format_number(value))
        if try_next:
            st.caption(f"**Try next:** {try_next}")
