"""Decode on hover: the image under the mouse, drawn beside the cursor on a latent map.

Plotly's hover events never reach the server in Streamlit, and a round trip per mouse
move would be far too slow. So the decoder travels to the browser once per redraw as a
``playground.autoencoders.DecoderProgram`` (plain affine layers, float32), and a small
``st.components.v2`` component runs it there on every mouse move over the chart whose
widget key it is given: the cursor's pixel becomes map coordinates through the chart's
own axes, the program decodes them, and the image is drawn in a box that follows the
cursor. It draws nothing else and takes no room on the page.

The program is the compute module's; ``tests/test_autoencoders.py`` checks it decodes as
the model does and ``tests/test_browser.py`` that the browser draws what it decodes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

DECODE_JS = r"""
function floats(text) {
  var raw = atob(text), bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
  return new Float32Array(bytes.buffer);
}

function compile(program) {
  var layers = program.layers.map(function (l) { return {n: l.out, m: l.in, w: floats(l.w), b: floats(l.b)}; });
  return function (x, y) {
    var h = new Float64Array([x, y]);
    for (var k = 0; k < layers.length; k += 1) {
      var L = layers[k], out = new Float64Array(L.n);
      for (var i = 0; i < L.n; i += 1) {
        var s = L.b[i], row = i * L.m;
        for (var j = 0; j < L.m; j += 1) { s += L.w[row + j] * h[j]; }
        out[i] = (k < layers.length - 1 && s < 0) ? 0 : s;
      }
      h = out;
    }
    for (var p = 0; p < h.length; p += 1) {
      var v = program.output === "sigmoid" ? 1 / (1 + Math.exp(-h[p])) : h[p];
      if (program.clip) { v = Math.min(program.clip[1], Math.max(program.clip[0], v)); }
      h[p] = v;
    }
    return h;
  };
}

export default function (component) {
  var data = component.data, root = component.parentElement;
  var state = window.__pgDecodeHover = window.__pgDecodeHover || {};
  var s = state[data.map] = state[data.map] || {};
  s.decode = compile(data.program);
  s.shape = data.shape;
  s.digits = data.digits;
  if (!s.box) {
    s.box = document.createElement("div");
    s.box.className = "pg-decode-hover";
    s.box.setAttribute("data-testid", "pg-decode-hover");
    s.box.style.cssText = "position:fixed; display:none; z-index:1000; pointer-events:none; padding:4px; " +
      "background:#ffffff; border:1px solid #444; border-radius:4px; font:14px sans-serif; color:#111; " +
      "box-shadow:0 2px 6px rgba(0,0,0,0.25); text-align:center;";
    s.canvas = document.createElement("canvas");
    s.canvas.style.cssText = "display:block; image-rendering:pixelated;";
    s.label = document.createElement("div");
    s.box.appendChild(s.canvas);
    s.box.appendChild(s.label);
    document.body.appendChild(s.box);
  }

  function draw(event, gd) {
    var full = gd._fullLayout, xa = full && full.xaxis, ya = full && full.yaxis;
    if (!xa || !ya || !xa._length) { return false; }
    var rect = gd.getBoundingClientRect();
    var px = event.clientX - rect.left - xa._offset, py = event.clientY - rect.top - ya._offset;
    if (px < 0 || py < 0 || px > xa._length || py > ya._length) { return false; }
    var x = xa.p2l(px), y = ya.p2l(py);
    var image = s.decode(x, y), rows = s.shape[0], cols = s.shape[1];
    var size = Math.max(96, Math.min(200, Math.round(Math.min(window.innerWidth, window.innerHeight) / 6)));
    var canvas = s.canvas;
    if (canvas.width !== cols) { canvas.width = cols; canvas.height = rows; }
    canvas.style.width = size + "px";
    canvas.style.height = Math.round(size * rows / cols) + "px";
    var context = canvas.getContext("2d"), pixels = context.createImageData(cols, rows);
    for (var i = 0; i < rows * cols; i += 1) {
      var grey = Math.round(255 * (1 - Math.min(1, Math.max(0, image[i]))));  // ink: 1 is black
      pixels.data[4 * i] = pixels.data[4 * i + 1] = pixels.data[4 * i + 2] = grey;
      pixels.data[4 * i + 3] = 255;
    }
    context.putImageData(pixels, 0, 0);
    s.label.textContent = "decode(" + x.toFixed(s.digits) + ", " + y.toFixed(s.digits) + ")";
    s.box.__pgDecoded = {z: [x, y], image: Array.from(image)};  // read by the browser tests
    s.box.style.display = "block";
    // above and to the left of the cursor (Plotly writes its own hover label to the right)
    var w = s.box.offsetWidth, h = s.box.offsetHeight, left = event.clientX - 18 - w, top = event.clientY - 18 - h;
    if (left < 4) { left = event.clientX + 18; }
    if (top < 4) { top = event.clientY + 18; }
    s.box.style.left = Math.max(0, left) + "px";
    s.box.style.top = Math.max(0, top) + "px";
    return true;
  }

  function attach() {
    var holder = document.querySelector(".st-key-" + data.map);
    var gd = holder ? holder.querySelector(".js-plotly-plot") : null;
    if (!gd || gd.__pgDecodeHover) { return; }
    gd.__pgDecodeHover = true;
    gd.addEventListener("mousemove", function (event) {
      if (!draw(event, gd)) { s.box.style.display = "none"; }
    });
    gd.addEventListener("mouseleave", function () { s.box.style.display = "none"; });
  }
  attach();
  // The chart may be drawn after this component, or replaced by a rerun: look again while mounted.
  if (s.timer) { window.clearInterval(s.timer); }
  s.timer = window.setInterval(function () {
    if (!root.isConnected) { window.clearInterval(s.timer); s.timer = null; s.box.style.display = "none"; return; }
    attach();
  }, 400);
}
"""


@lru_cache(maxsize=1)
def _component():
    import streamlit as st

    return st.components.v2.component("pg_decode_hover", js=DECODE_JS, isolate_styles=False)


def mount(map_key: str, program: dict[str, Any], shape: tuple[int, int], *, digits: int = 2) -> None:
    """Decode on hover over the chart drawn with ``st.plotly_chart(key=map_key)``.

    ``program``: ``DecoderProgram.to_json()`` (2D map position -> image of ``shape`` pixels)."""
    _component()(key=f"pg_decode_hover_{map_key}",
                 data={"map": map_key, "program": program, "shape": [int(shape[0]), int(shape[1])],
                       "digits": int(digits)})
