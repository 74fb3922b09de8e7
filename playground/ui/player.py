"""Play in the browser: the main picture of a stepper animated client-side.

Play used to rerun a Streamlit fragment per tick: a step, a new figure, a round trip and a
redraw each time, about 2.5 chart updates per second on this machine, and a Pause click
queued behind those reruns (and sometimes dropped by them). Here the server computes a
*chunk* of ticks ahead (each tick's figure, split into traces), and a small
``st.components.v2`` component draws them in the browser at a fixed frame rate with its own
Plotly, asking for the next chunk before the queue runs dry. Pause is handled in the
browser: the animation stops at the frame on the screen, at once, and that frame's
iteration is sent back once; the server puts the stepper back to exactly that iteration
(it replays from the snapshot taken at the start of the chunk: the steppers are
deterministic given their seeds). GAN Lab splits training and drawing the same way.

Plotly for the browser comes from the installed ``plotly`` package (the same version that
builds the figures), written once into the app's ``static/`` folder, served by Streamlit's
static file serving (``.streamlit/config.toml``); nothing is fetched from the internet. If
that folder cannot be written, pages fall back to the server-side Play.

Frames send only what changed: traces that differ, the layout when it differs, or only the
texts of annotations when nothing else in the layout moved (a live count). Scatter and bar traces
move with ``Plotly.animate`` (a few ms); a heatmap or a new layout needs a full redraw (~0.15 s in
Chromium without a GPU), so heavy traces are redrawn every ``HEAVY_EVERY``-th frame while the
points move at every frame; the last frame of a run is drawn complete, and after a Pause the
server draws the exact picture of the frame on the screen.

Everything here is transport: the figures are built by the page's own ``picture`` function.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Callable

import plotly
import plotly.graph_objects as go
from plotly.io.json import to_json_plotly

from playground.ui.navigation import ROOT

LOG = logging.getLogger(__name__)

PLOTLY_FILE = f"pg-plotly-{plotly.__version__}.min.js"
STATIC_DIR = ROOT / "static"

FPS = 20            # frames per second in the browser
FIRST_CHUNK = 6     # frames in the first chunk: Play starts moving after a few ticks, not a whole chunk
CHUNK = 16          # frames in each later chunk
CHUNK_SECONDS = 0.5  # ... or fewer: a chunk ends after this much compute (bounds what a Pause waits for)
AHEAD = 32          # the browser asks for more while it holds fewer frames than this
HEAVY_EVERY = 3     # a heatmap (a full redraw) is redrawn every 3rd frame; points move every frame


@lru_cache(maxsize=1)
def plotly_js_ready() -> bool:
    """Write the browser's Plotly into ``static/`` once per process; False if that is impossible."""
    target = STATIC_DIR / PLOTLY_FILE
    try:
        if not target.is_file():
            from plotly.offline import get_plotlyjs

            STATIC_DIR.mkdir(exist_ok=True)
            partial = target.with_suffix(".part")
            partial.write_text(get_plotlyjs(), encoding="utf-8")
            partial.replace(target)  # atomic: two servers starting together never serve half a file
        return True
    except OSError as error:  # a read-only install: Play stays server-side
        LOG.warning("Browser-side Play is off: cannot write %s (%s)", target, error)
        return False


def figure_parts(fig: go.Figure) -> tuple[list[str], str]:
    """The figure as one JSON text per trace and one for the layout (what a frame sends)."""
    spec = fig.to_dict()  # numeric arrays as base64 typed arrays, as st.plotly_chart sends them
    return [to_json_plotly(trace) for trace in spec["data"]], to_json_plotly(spec.get("layout", {}))


def encode_frame(iteration: int, parts: tuple[list[str], str],
                 previous: tuple[list[str], str] | None) -> dict[str, Any]:
    """One frame: the iteration it shows and the traces (and layout) that differ from ``previous``.

    With ``previous=None`` every trace is sent (the first frame of a chunk: a chunk is
    self-contained, so that a browser that lost its player can start again from any chunk).
    """
    traces, layout = parts
    changed = {str(i): text for i, text in enumerate(traces)
               if previous is None or i >= len(previous[0]) or previous[0][i] != text}
    frame: dict[str, Any] = {"it": int(iteration), "traces": changed, "n": len(traces)}
    if previous is None or previous[1] != layout:
        texts = None if previous is None else _annotation_texts_only(previous[1], layout)
        if texts is not None:  # only annotation texts moved (a live count): the browser relabels, no redraw
            frame["annotations"] = texts
        else:
            frame["layout"] = layout
    return frame


def _annotation_texts_only(before: str, after: str) -> dict[str, str] | None:
    """{index: new text} when the two layouts differ only in the text of some annotations, else None."""
    old, new = json.loads(before), json.loads(after)
    old_notes, new_notes = old.pop("annotations", []), new.pop("annotations", [])
    if old != new or len(old_notes) != len(new_notes):
        return None
    texts = {}
    for i, (a, b) in enumerate(zip(old_notes, new_notes)):
        if {k: v for k, v in a.items() if k != "text"} != {k: v for k, v in b.items() if k != "text"}:
            return None
        if a.get("text") != b.get("text"):
            texts[str(i)] = b.get("text", "")
    return texts


# The component. It keeps its state on its root element, so a rerun that passes new chunks
# finds the queue and the drawn chart where it left them.
PLAYER_JS = r"""
function loadPlotly(url) {
  if (window.Plotly) { return Promise.resolve(window.Plotly); }
  if (!window.__pgPlotly) {
    window.__pgPlotly = new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = url;
      script.onload = function () { resolve(window.Plotly); };
      script.onerror = function () { window.__pgPlotly = null; reject(new Error("cannot load " + url)); };
      document.head.appendChild(script);
    });
  }
  return window.__pgPlotly;
}

export default function (component) {
  var data = component.data, send = component.setTriggerValue, root = component.parentElement;
  var p = root.__pgPlayer;
  if (!p || p.play !== data.play) {
    if (p) { p.stop(); }
    p = root.__pgPlayer = {play: data.play, queue: [], have: -1, asked: -1, traces: [], texts: [], layout: null,
                           layoutText: null, shown: data.start, playing: true, final: false, busy: false,
                           last: 0, timer: null};
    root.innerHTML = "";
    p.chart = document.createElement("div");
    p.chart.className = "pg-player-chart";
    p.chart.style.width = "100%";
    p.caption = document.createElement("div");
    p.caption.className = "pg-player-caption";
    p.caption.setAttribute("data-testid", "pg-player-caption");
    // the iteration, written over the chart's top-left corner: the picture keeps the whole box
    p.caption.style.cssText = "position:absolute; left:0.3rem; top:0; font-size:0.85rem; opacity:0.7; " +
                              "pointer-events:none; font-family:inherit; z-index:2;";
    root.style.position = "relative";
    root.appendChild(p.chart);
    root.appendChild(p.caption);
    p.stop = function () {
      p.playing = false;
      if (p.timer) { window.cancelAnimationFrame(p.timer); p.timer = null; }
      document.removeEventListener("click", p.onclick, true);
    };
    p.event = function (kind) {
      send("event", {kind: kind, play: p.play, it: p.shown, have: p.have, nonce: Math.random()});
    };
    // Pause, Step and Reset of this stepper stop the animation in this tab at once. Pause is
    // answered here (the server is told the iteration on the screen); Step and Reset go on to
    // the server, which first puts the stepper back to that iteration.
    p.onclick = function (event) {
      if (!p.playing || !root.isConnected) { return; }
      var hit = event.target && event.target.closest ? event.target.closest("button") : null;
      if (!hit) { return; }
      var box = hit.closest('[class*="st-key-' + data.key + '__"]');
      if (!box) { return; }
      var name = (box.className.match(new RegExp("st-key-" + data.key + "__(play|step|reset)")) || [])[1];
      if (!name) { return; }
      p.stop();
      p.event("pause");
      if (name === "play") { event.preventDefault(); event.stopImmediatePropagation(); }
    };
    document.addEventListener("click", p.onclick, true);
  }
  p.fill = data.fill;
  var chunks = data.chunks || [];
  for (var c = 0; c < chunks.length; c += 1) {
    if (chunks[c].chunk <= p.have) { continue; }
    p.have = chunks[c].chunk;
    Array.prototype.push.apply(p.queue, chunks[c].frames);
    if (chunks[c].final) { p.final = true; }
  }
  if (!p.playing) { return; }

  // Scatter and bar traces are moved by Plotly.animate without a redraw (a few ms); a new
  // layout, a new number of traces or another trace type redraws the whole chart (react).
  var LIGHT = {scatter: true, scattergl: true, bar: true};
  // A heavy trace (a heatmap: the GAN's discriminator, a density) makes the frame a full redraw
  // (~0.15 s without a GPU). Those are redrawn every HEAVY_EVERY-th frame, the points every frame;
  // a waiting heavy update is kept and drawn at the next full redraw, and the last frame of a run
  // is always complete (after a Pause the server draws the exact picture anyway).
  var HEAVY_EVERY = data.heavyEvery || 1;
  p.pending = p.pending || {};
  // A layout that differs from the drawn one only in annotation texts (a chunk's self-contained
  // first frame repeats the whole layout) is a relabel, not a new layout.
  function layoutKey(parsed) {
    var copy = JSON.parse(JSON.stringify(parsed));
    (copy.annotations || []).forEach(function (note) { note.text = ""; });
    return JSON.stringify(copy);
  }
  function apply(frame) {
    var full = !p.drawn || frame.n !== p.traces.length, changed = [], indices = [];
    var newLayout = frame.layout !== undefined && frame.layout !== p.layoutText;
    if (newLayout && p.layoutKey !== undefined) {
      var incoming = JSON.parse(frame.layout);
      if (layoutKey(incoming) === p.layoutKey) {
        newLayout = false;
        frame.annotations = frame.annotations || {};
        (incoming.annotations || []).forEach(function (note, n) { frame.annotations[String(n)] = note.text; });
      }
    }
    p.sinceFull = (p.sinceFull || 0) + 1;
    var heavyNow = full || newLayout || frame.flush || p.sinceFull >= HEAVY_EVERY;
    for (var key in frame.traces) { p.pending[key] = frame.traces[key]; }
    for (key in p.pending) {
      var i = Number(key), text = p.pending[key];
      if (p.texts[i] === text) { delete p.pending[key]; continue; }
      var trace = JSON.parse(text);
      if (!LIGHT[trace.type || "scatter"]) {
        if (!heavyNow) { continue; }  // waits in p.pending
        full = true;
      }
      delete p.pending[key];
      p.texts[i] = text;
      p.traces[i] = trace;
      changed.push(trace);
      indices.push(i);
    }
    p.traces.length = frame.n;
    p.texts.length = frame.n;
    if (newLayout) {
      p.layoutText = frame.layout;
      p.layout = JSON.parse(frame.layout);
      p.layoutKey = layoutKey(p.layout);
      if (p.fill) { delete p.layout.height; p.layout.autosize = true; }
      full = true;
    }
    // A live count in a note: kept in p.layout (the next redraw shows it) and relabelled on its own
    // every HEAVY_EVERY-th frame when no redraw comes (a relabel costs about what moving the points does).
    if (frame.annotations && p.layout && p.layout.annotations) {
      p.notes = p.notes || {};
      for (var a in frame.annotations) {
        var note = p.layout.annotations[Number(a)];
        if (note && note.text !== frame.annotations[a]) {
          note.text = frame.annotations[a];
          p.notes["annotations[" + a + "].text"] = frame.annotations[a];
        }
      }
    }
    var sized = false;
    if (p.fill) {  // a projected main picture fills its box (sized by the page's CSS)
      var box = root.closest('[class*="st-key-pg_main_"]');
      var h = Math.max(240, (box ? box.clientHeight : 480) - 4) + "px";
      if (p.chart.style.height !== h) { p.chart.style.height = h; sized = true; }
    }
    p.shown = frame.it;
    p.caption.textContent = "Iteration " + frame.it + " \u00b7 playing";
    if (full || sized) {
      p.drawn = true;
      p.sinceFull = 0;
      p.notes = {};
      return window.Plotly.react(p.chart, p.traces.slice(), p.layout, {displaylogo: false, responsive: true});
    }
    var moved = indices.length ? window.Plotly.animate(p.chart, {data: changed, traces: indices},
      {mode: "immediate", transition: {duration: 0}, frame: {duration: 0, redraw: false}}) : null;
    var relabel = p.notes;
    if (!relabel || !Object.keys(relabel).length || (p.sinceFull < HEAVY_EVERY && !frame.flush)) { return moved; }
    p.notes = {};
    p.sinceFull = 0;
    return Promise.resolve(moved).then(function () { return window.Plotly.relayout(p.chart, relabel); });
  }

  function tick(now) {
    p.timer = null;
    if (!p.playing) { return; }
    if (!root.isConnected) { p.stop(); return; }
    if (!p.final && p.queue.length < data.ahead && p.asked < p.have) { p.asked = p.have; p.event("more"); }
    if (!p.busy && p.queue.length && now - p.last >= 1000 / data.fps) {
      p.last = now;
      p.busy = true;
      var frame = p.queue.shift();
      if (!p.queue.length && p.final) { frame.flush = true; }  // the run's last frame: complete
      Promise.resolve(apply(frame)).then(function () { p.busy = false; },
                                                   function () { p.busy = false; });
    } else if (!p.queue.length && p.final && !p.busy) {
      p.stop();
      p.event("done");
      return;
    }
    p.timer = window.requestAnimationFrame(tick);
  }
  loadPlotly(data.plotly).then(function () {
    if (p.playing && !p.timer) { p.timer = window.requestAnimationFrame(tick); }
  }, function (error) { p.caption.textContent = String(error); });
}
"""

PLAYER_CSS = ".pg-player-chart .modebar { display: none; }"


@lru_cache(maxsize=1)
def _component():
    import streamlit as st

    return st.components.v2.component("pg_player", js=PLAYER_JS, css=PLAYER_CSS, isolate_styles=False)


def mount(key: str, *, play: int, start: int, chunks: list[dict[str, Any]], fill: bool, on_event) -> None:
    """Draw the player for stepper ``key`` with the chunks the browser has not yet received.

    ``fill``: the picture fills its box (a projected main picture); otherwise the figure's
    own height."""
    _component()(key=player_key(key), data={
        "key": key, "play": play, "start": start, "chunks": chunks, "fps": FPS, "ahead": AHEAD,
        "heavyEvery": HEAVY_EVERY,
        "fill": fill, "plotly": f"app/static/{PLOTLY_FILE}",
    }, on_event_change=on_event)


# Set by ``stepper_panel`` while its picture plays in the browser: the next main picture the
# page draws (``PageContext.show(main=True)``) mounts the player instead. Arguments: fill.
ACTIVE: ContextVar[Callable[[bool], None] | None] = ContextVar("pg_player_active", default=None)


def player_key(key: str) -> str:
    """The component's widget key for stepper ``key`` (a component key must not contain "__")."""
    return "pg_player_" + key.replace("__", "_")
