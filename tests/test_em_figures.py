"""Figure builders of the EM page: the geometry and colours they draw are right."""

from __future__ import annotations

import numpy as np
import pytest

from playground.figures.mixture import (blended_colors, ellipse, log_likelihood_figure, mixture_1d_figure,
                                        mixture_2d_figure, responsibility_bar_figure)
from playground.figures.theme import component_color
from playground.mixture import mixture_curves_1d


def test_ellipse_lies_on_the_mahalanobis_contour():
    mean, covariance = np.array([1.0, -2.0]), np.array([[2.0, 0.6], [0.6, 0.5]])
    for n_sigma in (1, 2):
        points = ellipse(mean, covariance, n_sigma)
        distances = np.einsum("nd,de,ne->n", points - mean, np.linalg.inv(covariance), points - mean)
        np.testing.assert_allclose(distances, n_sigma**2, rtol=1e-10)


def test_blended_colours_are_the_component_colours_for_hard_assignments():
    colors = blended_colors(np.eye(3))
    for k, color in enumerate(colors):
        hex_color = component_color(k).lstrip("#")
        assert color == "rgb({},{},{})".format(*(int(hex_color[i:i + 2], 16) for i in (0, 2, 4)))


def test_log_likelihood_figure_places_e_and_m_half_steps():
    fig = log_likelihood_figure(["init", "E", "M", "E", "M"], [-3, -3, -2, -2, -1.5], [np.nan, -3, -2.2, -2, -1.6],
                                current=2)
    np.testing.assert_array_equal(fig.data[0].x, [0, 0.5, 1, 1.5, 2])
    names = [trace.name for trace in fig.data]
    assert "E-step" in names and "M-step" in names


def test_mixture_figures_draw_every_component_and_the_mixture():
    X = np.random.default_rng(0).normal(size=(50, 2))
    weights, means = np.array([0.4, 0.6]), np.array([[0.0, 0.0], [1.0, 1.0]])
    covariances = np.stack([np.eye(2), 0.5 * np.eye(2)])
    responsibilities = np.full((50, 2), 0.5)
    fig2d = mixture_2d_figure(X, weights, means, covariances, responsibilities, selected=3)
    assert sum(1 for t in fig2d.data if t.name == "component 1") == 2  # 1- and 2-sigma
    curves_1d = mixture_curves_1d(X[:, :1], weights, means[:, :1], covariances[:, :1, :1])
    fig1d = mixture_1d_figure(X[:, :1], curves_1d, responsibilities[:, :2])
    mixture = next(t for t in fig1d.data if t.name == "mixture p(x)")
    integral = np.trapezoid(mixture.y, mixture.x)
    assert 0.9 < integral <= 1.0 + 1e-9  # the plotted mixture is a density (range covers most mass)
    bars = responsibility_bar_figure(np.array([0.2, 0.8]), point=3)
    np.testing.assert_allclose(bars.data[0].y, [0.2, 0.8])


def test_restarts_figure_is_zero_based_and_does_not_invent_differences():
    from playground.figures.mixture import restarts_figure

    same = restarts_figure(list(range(5)), [-2.00001, -2.00002, -2.0, -2.00003, -2.00001])
    assert same.layout.yaxis.range[0] == 0.0 and same.layout.yaxis.range[1] >= 0.05
    assert max(same.data[0].y) < 1e-4 and "one optimum" in same.layout.annotations[0].text
    spread = restarts_figure([0, 1, 2], [-2.0, -2.4, float("nan")], chosen=1)
    np.testing.assert_allclose(spread.data[0].y[:2], [0.0, 0.4])
    assert spread.data[0].text[2] == "failed" and not spread.layout.annotations


def test_1d_curves_resolve_a_collapsing_component_and_label_2d_means():
    from playground.figures.mixture import add_components_2d
    from playground.mixture import mixture_curves_1d

    curves = mixture_curves_1d(np.linspace(-3, 8, 50), np.array([0.7, 0.3]), np.array([[0.0], [8.0 - 1e-4]]),
                               np.array([1.0, 1e-8]))
    peak = 0.3 / np.sqrt(2 * np.pi * 1e-8)  # the collapsing component's height at its mean
    assert curves.mixture.max() == pytest.approx(peak, rel=1e-3)
    assert np.all(np.diff(curves.grid) > 0)
    import plotly.graph_objects as go

    fig = go.Figure()
    add_components_2d(fig, np.full(8, 0.125), np.random.default_rng(0).normal(size=(8, 2)), np.array([np.eye(2)] * 8))
    labels = [label for trace in fig.data if trace.mode == "markers+text" for label in trace.text]
    assert labels == [f"<b>{k}</b>" for k in range(1, 9)]
