"""Compute package of the generative-models playground.

Import it from a notebook as you would any library::

    from playground.targets import get_target
    x = get_target("ring8").sample(1000, seed=0)

Compute modules never import Streamlit or Plotly; figure builders live in
``playground.figures`` and Streamlit helpers in ``playground.ui``.
"""

__version__ = "0.1.0"
