"""page.show(builder, *args): one built, themed figure per distinct input, shared by viewers."""

import numpy as np
import plotly.graph_objects as go

from playground.figures import theme
from playground.ui import page

CALLS = []


def _builder(x, *, label="x"):
    CALLS.append(label)
    return go.Figure(theme.scatter(x, x, name=label))


class _Opaque:
    """Something Streamlit's hasher refuses."""

    def __reduce__(self):
        raise TypeError("not hashable")


def test_same_inputs_build_once_and_share_the_figure():
    page._cached_figure.clear()
    CALLS.clear()
    x = np.arange(5.0)
    first = page.shared_figure(_builder, (x,), {"label": "a"}, projection=False)
    second = page.shared_figure(_builder, (x.copy(),), {"label": "a"}, projection=False)
    assert first is second and CALLS == ["a"]
    assert first.layout.font.size == theme.NORMAL.font  # themed inside the cache


def test_any_changed_input_builds_a_new_figure():
    page._cached_figure.clear()
    CALLS.clear()
    x = np.arange(5.0)
    base = page.shared_figure(_builder, (x,), {"label": "a"}, projection=False)
    other_data = page.shared_figure(_builder, (x + 1,), {"label": "a"}, projection=False)
    other_kwarg = page.shared_figure(_builder, (x,), {"label": "b"}, projection=False)
    projected = page.shared_figure(_builder, (x,), {"label": "a"}, projection=True)
    taller = page.shared_figure(_builder, (x,), {"label": "a"}, projection=False, height=900)
    assert len({id(f) for f in (base, other_data, other_kwarg, projected, taller)}) == 5
    assert list(other_data.data[0].x) == list(x + 1)
    assert projected.layout.font.size == theme.PROJECTION.font and taller.layout.height == 900


def test_unhashable_arguments_are_built_for_the_run_only():
    CALLS.clear()
    opaque = _Opaque()
    fig = page.shared_figure(lambda o: _builder([1.0, 2.0], label="opaque"), (opaque,), {}, projection=False)
    again = page.shared_figure(lambda o: _builder([1.0, 2.0], label="opaque"), (opaque,), {}, projection=False)
    assert CALLS == ["opaque", "opaque"] and fig is not again
