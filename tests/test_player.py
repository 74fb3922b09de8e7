"""Play in the browser (playground.ui.player): the frames sent rebuild each tick's figure exactly,
and a Pause puts the stepper back to exactly the state the frame on the screen was drawn from."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from playground.divergence_fit import FitConfig, FitRace
from playground.distributions import GaussianMixture
from playground.mcmc import MCMCChains, energy_for
from playground.ui import player
from playground.ui.controls import _compute_chunk, _rewind


def _figure(shift: float, title: str = "t") -> go.Figure:
    fig = go.Figure([go.Contour(z=np.arange(9.0).reshape(3, 3)),
                     go.Scatter(x=[0.0, 1.0], y=[shift, 2 * shift]),
                     go.Bar(x=[1, 2], y=[3.0, 4.0])])
    fig.update_layout(title=title)
    return fig


def _replay(frames: list[dict]) -> tuple[list[dict], dict]:
    """What the browser's player holds after applying ``frames`` (the JS apply(), in Python)."""
    traces: list = []
    layout: dict = {}
    for frame in frames:
        traces = (traces + [None] * frame["n"])[:frame["n"]]
        for index, text in frame["traces"].items():
            traces[int(index)] = json.loads(text)
        if "layout" in frame:
            layout = json.loads(frame["layout"])
        for index, text in frame.get("annotations", {}).items():  # a relabel (JS: Plotly.relayout)
            layout["annotations"][int(index)]["text"] = text
    return traces, layout


def test_frames_send_only_what_changed_and_rebuild_every_figure():
    figures = [_figure(1.0), _figure(2.0), _figure(2.0), _figure(2.0, title="new")]
    parts = [player.figure_parts(f) for f in figures]
    frames, previous = [], None
    for i, p in enumerate(parts):
        frames.append(player.encode_frame(i, p, previous))
        previous = p
    assert sorted(frames[0]["traces"]) == ["0", "1", "2"] and "layout" in frames[0]
    assert list(frames[1]["traces"]) == ["1"] and "layout" not in frames[1]  # only the moved scatter
    assert frames[2]["traces"] == {} and "layout" not in frames[2]
    assert frames[3]["traces"] == {} and "layout" in frames[3]
    for upto in range(1, len(figures) + 1):
        traces, layout = _replay(frames[:upto])
        expected = json.loads(figures[upto - 1].to_json())
        assert traces == expected["data"]
        assert layout == expected["layout"]


def test_a_changed_note_is_sent_as_its_text_and_any_other_layout_change_as_the_layout():
    """The GAN's "N generated points are outside this view" changes every frame: sent as the text
    alone (the browser relabels; a new layout would be a full redraw); any other change sends the layout."""
    def figure(count: int, title: str = "t", x: float = 0.0) -> go.Figure:
        fig = go.Figure(go.Scatter(x=[x], y=[1.0]))
        fig.update_layout(title=title)
        fig.add_annotation(text=f"{count} outside", xref="paper", yref="paper", x=0.0, y=1.0, showarrow=False)
        return fig

    figures = [figure(5), figure(7, x=1.0), figure(7), figure(9, title="new")]
    parts = [player.figure_parts(f) for f in figures]
    frames, previous = [], None
    for i, p in enumerate(parts):
        frames.append(player.encode_frame(i, p, previous))
        previous = p
    assert "layout" in frames[0]
    assert frames[1]["annotations"] == {"0": "7 outside"} and "layout" not in frames[1]
    assert "annotations" not in frames[2] and "layout" not in frames[2]
    assert "layout" in frames[3] and "annotations" not in frames[3]  # the title moved too
    for upto in range(1, len(figures) + 1):
        traces, layout = _replay(frames[:upto])
        expected = json.loads(figures[upto - 1].to_json())
        assert traces == expected["data"] and layout == expected["layout"]


def _mcmc() -> MCMCChains:
    return MCMCChains(energy_for("banana"), "mala", 0.1, n_chains=4, seed=3)


def _race() -> FitRace:
    target = GaussianMixture(np.array([0.5, 0.5]), np.array([[-2.0], [2.0]]), np.array([[[0.5]], [[0.5]]]))
    return FitRace(target, ["forward_kl", "reverse_kl"], FitConfig(), seed=1)


def _mcmc_state(chains: MCMCChains) -> list[np.ndarray]:
    return [chains.positions, chains.samples(burn_in=0.0)]


def _race_state(race: FitRace) -> list[np.ndarray]:
    return [np.concatenate([m.means.ravel(), m.covariances.ravel(), m.weights]) for m in race.models().values()] + \
        [np.array([row[k] for row in race.history for k in sorted(row)], dtype=float)]


@pytest.mark.parametrize("make, state", [(_mcmc, _mcmc_state), (_race, _race_state)], ids=["mcmc", "kl-race"])
def test_pause_puts_the_stepper_back_to_the_frame_on_the_screen(make, state, monkeypatch):
    monkeypatch.setattr(player, "CHUNK_SECONDS", 600.0)  # whole chunks, however loaded the machine
    stepper = make()
    stepper.step(4)
    run = {"id": 1, "chunks": [], "next": 0, "start": stepper.iteration, "shown": stepper.iteration,
           "have": -1, "want": True, "final": False, "note": None}
    drawn = []

    def picture(s):
        drawn.append(s.iteration)
        return _figure(float(s.iteration))

    _compute_chunk(run, stepper, picture, 3, max_iterations=None, converged=None)
    _compute_chunk(run, stepper, picture, 3, max_iterations=None, converged=None)
    frames = [f for c in run["chunks"] for f in c["message"]["frames"]]
    assert [f["it"] for f in frames] == drawn == list(range(7, 4 + 3 * (player.FIRST_CHUNK + player.CHUNK) + 1, 3))
    assert stepper.iteration == drawn[-1]  # the server is ahead of the screen
    for shown in (4, drawn[2], drawn[player.FIRST_CHUNK], drawn[-3]):
        rewound = _rewind(run, stepper, shown)
        twin = make()
        twin.step(4)
        while twin.iteration < shown:
            twin.step(3)
        assert rewound.iteration == shown
        for a, b in zip(state(rewound), state(twin)):
            np.testing.assert_array_equal(a, b)
        # and the rewound stepper goes on exactly like the twin
        rewound.step(3)
        twin.step(3)
        for a, b in zip(state(rewound), state(twin)):
            np.testing.assert_array_equal(a, b)
    assert _rewind(run, stepper, stepper.iteration) is stepper


def test_a_chunk_ends_at_convergence_and_at_the_iteration_cap(monkeypatch):
    monkeypatch.setattr(player, "CHUNK_SECONDS", 600.0)
    stepper = _mcmc()
    run = {"id": 1, "chunks": [], "next": 0, "start": 0, "shown": 0, "have": -1, "want": True, "final": False,
           "note": None}
    _compute_chunk(run, stepper, lambda s: _figure(0.0), 2, max_iterations=None,
                   converged=lambda s: "settled" if s.iteration >= 4 else None)
    assert run["final"] and run["note"] == "settled" and stepper.iteration == 4
    assert run["chunks"][-1]["message"]["final"] and len(run["chunks"][-1]["message"]["frames"]) == 2
    stepper, run["final"] = _mcmc(), False
    _compute_chunk(run, stepper, lambda s: _figure(0.0), 5, max_iterations=10, converged=None)
    assert run["final"] and stepper.iteration == 10


def test_the_browser_plotly_is_the_installed_one():
    from plotly.offline import get_plotlyjs

    assert player.plotly_js_ready()
    path = player.STATIC_DIR / player.PLOTLY_FILE
    assert path.read_text(encoding="utf-8") == get_plotlyjs()


def test_a_chunk_ends_after_its_time_budget(monkeypatch):
    monkeypatch.setattr(player, "CHUNK_SECONDS", 0.0)  # every tick is over budget: one frame per chunk
    stepper = _mcmc()
    run = {"id": 1, "chunks": [], "next": 0, "start": 0, "shown": 0, "have": -1, "want": True, "final": False,
           "note": None}
    _compute_chunk(run, stepper, lambda s: _figure(float(s.iteration)), 2, max_iterations=None, converged=None)
    assert len(run["chunks"][-1]["message"]["frames"]) == 1 and not run["final"] and stepper.iteration == 2
