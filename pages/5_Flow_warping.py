"""Normalizing flows as a visible warping of space (lectures 003 and 004).

1. The change of variables in 1D: shape a monotone map F, watch the density stretch and squeeze.
2. A 1D flow trained by maximum likelihood.
3. 2D flows (NICE, Real-NVP) trained live; a grid and samples warped layer by layer,
   the density by change of variables, per-layer log-determinants, an invertibility check.
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("Normalizing-flow warping", ":material/waves:")

from playground.ui.flows import change_of_variables_section, flow_1d_section, flow_2d_section

INTRO = (
    "A flow is an **invertible** map $F$ between data space and a latent space of the same size. "
    "The *normalizing* direction $z = F(x)$ turns data into a standard Gaussian; the *generative* "
    "direction $x = F^{-1}(z)$ turns Gaussian noise into data. Because $F$ is invertible, the model "
    "density is exact: **change of variables**."
)
SECTIONS = ("1 · Change of variables in 1D", "2 · A 1D flow learns a density", "3 · 2D flows: NICE and Real-NVP")
if page.projection:  # one screen per section, picture first
    areas = st.tabs(list(SECTIONS), key="fsection", bind="query-params")
else:
    st.markdown(INTRO)
    areas = [st.container() for _ in SECTIONS]

def heading(index: int, text: str) -> None:
    if not page.projection:
        st.header(SECTIONS[index])
        st.markdown(text)

with areas[0]:
    heading(0, "A base density $q = \\mathcal{N}(0, 1)$ lives on $z$. A monotone map $F$ sends $x$ to $z$. "
               "Where $F$ is steep, a short $x$-interval receives a lot of $z$-mass, so $p(x)$ is high; "
               "where $F$ is flat, the mass is spread thin.")
    change_of_variables_section(page)
    page.explain(
        "For any test function $h$, $\\int h(x)\\,p(x)\\,dx = \\int h(F^{-1}(z))\\,q(z)\\,dz$; substituting "
        "$z = F(x)$, $dz = F'(x)\\,dx$ gives $p(x) = q(F(x))\\,|F'(x)|$. The factor $|F'(x)|$ is how much "
        "$F$ stretches space at $x$: mass is conserved, so density is divided by the stretch of the "
        "generative map, i.e. multiplied by that of $F$. The map here is a ramp plus one smooth step, "
        "$F'(x) = a + \\frac{w}{s}\\operatorname{sech}^2\\frac{x-c}{s} > 0$, so $F$ is always invertible."
    )

with areas[1]:
    heading(1, "Density estimation with a flow: draw data $x_i$, compute $F(x_i)$ and $F'(x_i)$, and adjust $F$ "
               "to maximise $\\sum_i \\log q(F(x_i)) + \\log F'(x_i)$. Generation runs the other way: "
               "$z \\sim q$, $x = F^{-1}(z)$ (here by bisection, since $F$ is monotone).")
    flow_1d_section(page)

with areas[2]:
    heading(2, "In 2D, $F = f_L \\circ \\dots \\circ f_1$ is a stack of **coupling layers**. Each keeps one "
               "coordinate $x_A$ and changes the other: NICE adds a shift, $z_B = x_B - v(x_A)$ "
               "(unit Jacobian determinant: **volume preserving**); Real-NVP also rescales, "
               "$z_B = (x_B - v(x_A))\\,e^{-u(x_A)}$ with $\\log|\\det J| = -\\sum_j u_j(x_A)$. The masks "
               "alternate so that every coordinate gets transformed. Train, then slide through the layers.")
    flow_2d_section(page)
    page.explain(
        "- **Triangular Jacobians**: a coupling layer's Jacobian is triangular, so its determinant is the "
        "product of the diagonal, $O(d)$ instead of $O(d^3)$.\n"
        "- **Layer 1, the scale layer**, is a learned diagonal affine map. NICE puts its diagonal scaling last, "
        "just before the prior; here it comes first and is initialised to standardise the data, so the couplings "
        "see standardised inputs. Either way it is the only layer of a NICE flow that changes volume.\n"
        "- **Colours** follow each point's starting angle around the centre: the same colour is the same "
        "point, so you can see where each part of the Gaussian ends up.\n"
        "- **Invertibility check**: both round trips, $\\max|F^{-1}(F(x)) - x|$ over the data and "
        "$\\max|F(F^{-1}(z)) - z|$ over base samples, stay at float32 round-off (about $10^{-6}$).\n"
        "- **Failure to try**: Real-NVP, scales not bounded, learning rate 10: the exponential overflows, "
        "the stepper stops and keeps the last good state.",
        title="Details and things to try",
    )
