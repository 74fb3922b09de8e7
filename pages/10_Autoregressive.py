"""Autoregressive models (lecture 004): the chain rule made visible.

A 2D density as p(x₁) p(x₂ | x₁) on a grid, trained by teacher-forced cross-entropy, sampled one
coordinate after the other; then next-character prediction on names, with the sampling rules of
language models (temperature, top-k, top-p).
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("Autoregressive models", ":material/format_list_numbered:")

import numpy as np
import pandas as pd

from playground import autoregressive as A
from playground.data import fingerprint
from playground.figures import autoregressive as F
from playground.stepper import lock_for
from playground.ui.controls import dataset_picker, format_number, formula_panel, stepper_panel
from playground.ui.deeplink import linked

INTRO = (
    "Any joint density factorises by the **chain rule**: $p(x) = \\prod_d p(x_d \\mid x_{<d})$. An autoregressive "
    "model learns each conditional, here as a categorical over the cells of a grid. The likelihood is exact (a "
    "product of probabilities), training is plain cross-entropy with the true previous values fed in (**teacher "
    "forcing**), and sampling goes one dimension at a time (**ancestral sampling**): exact, but sequential."
)
if not page.projection:
    st.markdown(INTRO)

@st.cache_data(show_spinner=False, max_entries=16)
def _true_table(name: str, bounds: tuple, bins: int):
    from playground.targets import get_target

    return A.true_table(get_target(name), bounds, bins)

# 1. The chain rule on a grid: the main picture ----------------------------------------------------
side, main = page.split() if page.projection else st.columns([1, 2.5], gap="medium")
with side:
    target = dataset_picker("ardata", dims=(2,), default="mog2d")
    bins = linked(st.select_slider, "Grid: B × B cells", key="bins", default=24, options=[8, 12, 16, 24, 32, 48],
                  help="Each coordinate becomes one of B values: a conditional is a categorical over B cells.")
    order = linked(st.radio, "Order of the chain rule", key="order", default="x1_first", options=list(A.ORDERS),
                   format_func=A.ORDERS.get,
                   help="The same joint in theory; two trained models differ until both have learned it.")
    n_data = linked(st.select_slider, "Training points", key="ndata", default=2000,
                    options=[100, 300, 1000, 2000, 10000])
    lr = linked(st.select_slider, "Learning rate (Adam)", key="arlr", default=1e-2, options=[1e-3, 3e-3, 1e-2, 3e-2])
    numbers = st.container()

config = A.GridConfig(bins=int(bins), order=order, lr=float(lr), n_data=int(n_data), seed=page.seed)
bounds = tuple(tuple(float(v) for v in b) for b in target.bounds)
truth = _true_table(target.name, bounds, int(bins)) if target.has_log_prob and getattr(target, "data", None) is None \
    else None
centers = A.cell_centers(bounds, int(bins))
slice_cell = min(int(st.session_state.get("slice", int(bins) // 2)), int(bins) - 1)

def factory() -> A.GridAutoregressive:
    return A.GridAutoregressive(target, config)

def picture(model: A.GridAutoregressive):
    """Data histogram, the model's joint (the product of its conditionals) and the truth, on one scale."""
    tables = {"data": A.empirical_table(model.train_cells, model.config.bins),
              "model " + ("p(x₁)p(x₂|x₁)" if model.config.order == "x1_first" else "p(x₂)p(x₁|x₂)"):
                  np.exp(model.log_table())}
    if truth is not None:
        tables["truth"] = truth
    return page.themed(F.joint_panels(centers, tables, slice_at=float(centers[0][slice_cell])), height=430,
                       main=True)

def render(model: A.GridAutoregressive) -> None:
    page.show(picture(model), key="ar_joint", main=True)
    held_out = model.held_out_cells
    model_nll = float(-model.log_prob(held_out).mean())
    values = {"held-out NLL": model_nll, "bits / dim": model_nll / (2 * np.log(2))}
    if truth is not None:
        values["truth NLL"] = float(-np.log(np.maximum(truth[held_out[:, 0], held_out[:, 1]], 1e-300)).mean())
    values["cells"] = int(config.bins) ** 2
    first, second = ("x_1", "x_2") if order == "x1_first" else ("x_2", "x_1")
    with numbers:
        formula_panel(
            rf"\log p(x) = \log p({first}) + \log p({second} \mid {first}),\quad "
            rf"\mathcal{{L}} = -\tfrac1N \textstyle\sum_n \log p(x_n)", values,
            title="Chain rule; NLL of held-out data (nats per point)",
            try_next=_grid_hint(model, n_data, order))

def _grid_hint(model: A.GridAutoregressive, n_data: int, order: str) -> str:
    if model.iteration == 0:
        return "press Play: the model's panel takes the shape of the data."
    if n_data > 300:
        return "set 100 training points and Play to iteration 1,000: the held-out NLL turns up (memorised cells)."
    if model.iteration < 1000:
        return "Play on to iteration 1,000: the held-out NLL turns up while the training loss keeps falling."
    if order == "x1_first":
        return ("switch the order to x₂ first and Play to the same iteration: the same joint in theory, another "
                "function in practice; both end on the data's own frequencies.")
    return "switch back to x₁ first: the two orders meet as both learn the training frequencies."

with main:
    grid_model: A.GridAutoregressive = stepper_panel(
        "ar_grid", factory, (config, fingerprint(target)), render, steps_per_tick=10, max_steps_per_tick=100, interval=0.5,
        max_iterations=5000, picture=picture)

# 2. One conditional ---------------------------------------------------------------------------------
st.header("One conditional: p(x₂ | x₁ = a)")
left, right = st.columns([2, 1])
with right:
    st.slider("a: the cell of x₁", 0, int(bins) - 1, key="slice", value=min(slice_cell, int(bins) - 1),
              format="cell %d", help="The dotted line in the pictures above.")
    a = float(centers[0][slice_cell])
    st.markdown(f"x₁ = **{a:.2f}**. The model gives this conditional directly when it goes x₁ first; going x₂ "
                "first it is obtained by Bayes' rule from its joint (the column, renormalised).")
with lock_for(grid_model):
    conditional = grid_model.conditional(slice_cell, given="x1")
    empirical = A.empirical_table(grid_model.train_cells, config.bins)[slice_cell]
with left:
    page.show(F.conditional_bars(centers[1], conditional, empirical / empirical.sum() if empirical.sum() else None,
                                 None if truth is None else truth[slice_cell] / truth[slice_cell].sum(),
                                 given="x₁", value=a, axis="x₂"), key="ar_conditional", height=340)

# 3. Ancestral sampling --------------------------------------------------------------------------------
st.header("Ancestral sampling: one coordinate after the other")
controls, shown = st.columns([1, 2])
with controls:
    n_samples = linked(st.select_slider, "Samples", key="nsamp", default=300, options=[10, 100, 300, 1000, 3000])
    temperature = linked(st.select_slider, "Temperature", key="artemp", default=1.0,
                         options=[0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
                         help="Divides every conditional's logits: < 1 sharpens, > 1 flattens.")
    one_by_one = st.toggle("One point at a time", key="onebyone",
                           help="Draw the points one by one: first coordinate, then the second given it.")
with lock_for(grid_model):
    drawn = grid_model.sample(int(n_samples), seed=page.seed, temperature=float(temperature))
    model_table = np.exp(grid_model.log_table())
    first_axis = 0 if order == "x1_first" else 1  # the coordinate drawn first
    first_name, second_name = ("x₁", "x₂") if order == "x1_first" else ("x₂", "x₁")
count = len(drawn["cells"])
if one_by_one:
    with controls:
        buttons = st.columns(2)
        if buttons[0].button("Draw the next point", key="ar_next", icon=":material/skip_next:", width="stretch"):
            st.session_state["ar_shown"] = min(int(st.session_state.get("ar_shown", 0)) + 1, count)
        if buttons[1].button("Start again", key="ar_again", icon=":material/restart_alt:", width="stretch"):
            st.session_state["ar_shown"] = 0
    count = min(int(st.session_state.get("ar_shown", 0)), count)
last = count - 1
with shown:
    line = float(centers[first_axis][drawn["cells"][last, first_axis]]) if one_by_one and count else None
    page.show(F.joint_panels(centers, {"model, with its samples": model_table}, points=drawn["points"][:count],
                             slice_at=line, slice_axis="x1" if first_axis == 0 else "x2"),
              key="ar_samples", height=380)
with controls:
    rows = []
    for i in range(max(0, count - 6), count):
        cell = drawn["cells"][i]
        rows.append({"#": i + 1,
                     f"1 · draw {first_name}": f"{centers[first_axis][cell[first_axis]]:.2f} (p = {drawn['p_first'][i]:.3f})",
                     f"2 · then {second_name}": f"{centers[1 - first_axis][cell[1 - first_axis]]:.2f} "
                                               f"(p = {drawn['p_second'][i]:.3f})"})
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if one_by_one and count:
        st.caption(f"Point {count}: {first_name} = {centers[first_axis][drawn['cells'][last, first_axis]]:.2f} "
                   f"drawn from p({first_name}) (p = {drawn['p_first'][last]:.3f}), then {second_name} from "
                   f"p({second_name} | {first_name}) on the dotted line (p = {drawn['p_second'][last]:.3f}); "
                   f"log p(cell) = {np.log(drawn['p_first'][last] * drawn['p_second'][last]):.3f}.")
    elif one_by_one:
        st.caption("Press **Draw the next point**.")
    else:
        st.caption("The last draws, each with the probability it had (at the chosen temperature). A point is drawn "
                   "uniformly inside its cell.")

# 4. Next-character prediction ----------------------------------------------------------------------------
st.header("Next-character prediction: a tiny language model")
st.markdown(
    f"The same chain rule on words: $p(w) = \\prod_t p(c_t \\mid c_{{t-3}}, c_{{t-2}}, c_{{t-1}})$, the "
    f"end of the word being one more character (\".\"). Trained by teacher forcing on {len(A.NAMES)} given names "
    "(10 % held out); the sampling rules below are those of large language models.")

def _next_character(seed: int) -> None:
    """Draw one character after the prefix with the current rules; the end mark finishes the word."""
    model: A.CharModel | None = st.session_state.get("ar_chars")
    prefix_now = str(st.session_state.get("prefix", "")).lower()
    st.session_state.pop("ar_finished", None)
    if model is None:
        return
    try:
        with lock_for(model):
            char = model.sample_next(prefix_now, seed=seed, temperature=float(st.session_state.get("ctemp", 1.0)),
                                     top_k=int(st.session_state.get("topk", 27)),
                                     top_p=float(st.session_state.get("topp", 1.0)))
    except ValueError:
        return  # the prefix has other characters: the page says so
    if char == A.BOUNDARY or len(prefix_now) >= 20:
        st.session_state["ar_finished"] = prefix_now
        st.session_state["prefix"] = ""
    else:
        st.session_state["prefix"] = prefix_now + char

char_side, char_main = st.columns([1, 2])
with char_side:
    prefix = linked(st.text_input, "Prefix (letters a-z)", key="prefix", default="ma", max_chars=20)
    st.button("Sample the next character", key="ar_nextchar", on_click=_next_character, args=(page.seed,),
              icon=":material/keyboard_tab:", help="Generation one character at a time: the drawn character is "
              "appended to the prefix; the end mark \".\" finishes the name.")
    if st.session_state.get("ar_finished"):
        st.success(f"Generated: **{st.session_state['ar_finished']}** (the end mark was drawn).")
    char_temperature = linked(st.select_slider, "Temperature ", key="ctemp", default=1.0,
                              options=[0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0])
    top_k = linked(st.select_slider, "Top-k", key="topk", default=27, options=[1, 2, 3, 5, 10, 27],
                   help="Keep the k most likely characters (27 = all of them).")
    top_p = linked(st.select_slider, "Top-p (nucleus)", key="topp", default=1.0,
                   options=[0.3, 0.5, 0.7, 0.9, 0.95, 1.0],
                   help="Keep the fewest most likely characters whose probability reaches p.")
    word = linked(st.text_input, "Score a word", key="word", default="emma", max_chars=20)

rules = {"temperature": float(char_temperature), "top_k": int(top_k), "top_p": float(top_p)}

def render_chars(model: A.CharModel) -> None:
    history = {name: model.metric(name) for name in ("iteration", "loss", "held_out_nll")}
    page.show(F.nll_curves(history, unit="nats / char", y_title="NLL"), key="char_curves", height=300)
    try:
        plain = np.exp(model.next_log_probs(prefix.lower()))
        sampled = np.exp(model.next_log_probs(prefix.lower(), **rules))
    except ValueError as error:
        st.warning(f"The prefix cannot be used: {error}.")
        return
    page.show(F.next_char_bars(model.vocabulary, plain, sampled, prefix=prefix.lower()), key="char_bars",
              height=340)
    names = model.sample(12, seed=page.seed, **rules)
    st.markdown("**Sampled names:** " + ", ".join(f"`{n or '(empty)'}`" for n in names))
    try:
        score = model.log_prob(word.lower())
        st.caption(f"log p(“{word.lower()}.”) = {format_number(score)} nats, {format_number(score / (len(word) + 1))} "
                   f"per character ({'a training name' if word.lower() in model.train_words else 'not a training name'}).")
    except ValueError as error:
        st.warning(f"The word cannot be scored: {error}.")

with char_main:
    char_model: A.CharModel = stepper_panel(
        "ar_chars", lambda: A.CharModel(A.CharConfig(seed=page.seed)), page.seed, render_chars,
        steps_per_tick=20, max_steps_per_tick=200, interval=0.5, max_iterations=3000)
with char_side:
    try:
        kept = int(np.sum(np.exp(char_model.next_log_probs(prefix.lower(), **rules)) > 0))
    except ValueError:
        kept = "—"
    if char_model.iteration < 300:
        char_hint = "press Play and watch the held-out curve: it turns up when the model starts to memorise names."
    elif rules["temperature"] >= 0.5:
        char_hint = "set the temperature to 0.1: nearly the same names every time (close to the argmax path)."
    else:
        char_hint = "set the temperature back to 1 and top-p to 0.5: only the likeliest letters survive."
    formula_panel(r"\begin{gathered}p_T(c) \propto \exp(z_c / T) \\ \text{then keep the top } k \\ "
                  r"\text{or the nucleus } p\end{gathered}",
                  {"T": rules["temperature"], "k": rules["top_k"], "p": rules["top_p"], "next letters kept": kept},
                  title="Sampling rule", try_next=char_hint)

page.explain(
    (INTRO + "\n\n" if page.projection else "")
    + "**Grid model.** $p(x_1)$ is a vector of B probabilities; $p(x_2 \\mid x_1)$ an MLP from the one-hot $x_1$ "
    "to B logits. Their product is a B × B table that sums to 1 exactly, so the held-out log-likelihood is exact "
    "(in nats per point; divide by 2 ln 2 for bits per dimension). Both orders of the chain rule can represent "
    "every joint; two trained models differ until both have learned it, and with few data both end up memorising "
    "the training cells (the held-out NLL turns up).\n\n"
    "**Teacher forcing.** Training feeds the true previous value into each conditional, never a sampled one: all "
    "conditionals train in parallel. Sampling cannot do that: it is sequential.\n\n"
    "**Temperature, top-k, top-p.** They change the distribution sampled from, not the model: temperature divides "
    "the logits, top-k keeps the k likeliest values, top-p the fewest likeliest whose total reaches p. At "
    "temperature → 0 sampling becomes the argmax.",
    title="How to read the page",
)
