"""Normalizing flows: one contract for every layer, checked against autograd and numerical integrals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from playground.flow_layers import (
    AdditiveCoupling,
    AffineCoupling,
    ElementwiseAffine,
    MonotoneTanh,
    alternating_masks,
)
from playground.flows import (
    Flow,
    build_flow,
    change_of_variables_1d,
    grid_lines,
    likelihood_terms,
    make_trainer,
    view_1d,
    view_2d,
)
from playground.seeding import torch_generator
from playground.targets import get_target



def _random_affine(dim: int) -> ElementwiseAffine:
    layer = ElementwiseAffine(dim)
    generator = torch_generator(3)
    with torch.no_grad():
        layer.shift.copy_(torch.randn(dim, generator=generator))
        layer.log_scale.copy_(0.5 * torch.randn(dim, generator=generator))
    return layer


def _coupling(cls, dim: int, phase: int, **kwargs):
    mask = alternating_masks(dim, 2)[phase]
    return cls(mask, hidden=8, generator=torch_generator(dim + phase), init_identity=False, **kwargs)


# Every member of the layer family, and composed flows: (name, dim, factory).
LAYERS = [
    ("affine-1d", 1, lambda: _random_affine(1)),
    ("affine-3d", 3, lambda: _random_affine(3)),
    ("monotone-1d", 1, lambda: MonotoneTanh(1, 5, generator=torch_generator(1), init_identity=False)),
    ("monotone-2d", 2, lambda: MonotoneTanh(2, 4, generator=torch_generator(2), init_identity=False)),
    ("nice-2d-keep-x1", 2, lambda: _coupling(AdditiveCoupling, 2, 0)),
    ("nice-2d-keep-x2", 2, lambda: _coupling(AdditiveCoupling, 2, 1)),
    ("nice-3d-strided-mask", 3, lambda: _coupling(AdditiveCoupling, 3, 0)),
    ("realnvp-2d-keep-x1", 2, lambda: _coupling(AffineCoupling, 2, 0)),
    ("realnvp-2d-keep-x2-unbounded", 2, lambda: _coupling(AffineCoupling, 2, 1, scale_bound=None)),
    ("realnvp-3d-strided-mask", 3, lambda: _coupling(AffineCoupling, 3, 0)),
    ("realnvp-4d-strided-mask", 4, lambda: _coupling(AffineCoupling, 4, 1)),
    ("flow-nice", 2, lambda: build_flow("nice", 2, 4, 8, seed=1, init_identity=False, device="cpu")),
    ("flow-realnvp", 2, lambda: build_flow("realnvp", 2, 4, 8, seed=2, init_identity=False, device="cpu")),
    ("flow-monotone-1d", 1, lambda: build_flow("monotone", 1, 2, seed=3, init_identity=False, device="cpu")),
]


@pytest.mark.parametrize("name,dim,factory", LAYERS, ids=[entry[0] for entry in LAYERS])
def test_layer_contract_round_trip_and_log_det_match_autograd(name, dim, factory, device):
    layer = factory().to(device=device, dtype=torch.float64)
    x = 1.5 * torch.randn(6, dim, generator=torch_generator(7), dtype=torch.float64).to(device)

    z, log_det = layer(x)
    assert z.shape == x.shape and log_det.shape == (6,)
    # inverse(forward(x)) = x and forward(inverse(z)) = z, in float64
    assert torch.allclose(layer.inverse(z), x, atol=1e-10, rtol=0)
    assert torch.allclose(layer(layer.inverse(x))[0], x, atol=1e-10, rtol=0)
    # log_det = log|det dz/dx| of the full Jacobian, computed by autograd, sample by sample
    for i in range(len(x)):
        jacobian = torch.autograd.functional.jacobian(lambda row: layer(row[None])[0][0], x[i])
        assert jacobian.shape == (dim, dim)
        assert torch.allclose(log_det[i], torch.linalg.slogdet(jacobian).logabsdet, atol=1e-9, rtol=0)
    assert not torch.allclose(z, x), "a random layer should move points (else the test proves nothing)"


@pytest.mark.parametrize("phase", [0, 1])
def test_nice_log_det_is_exactly_zero(phase, device):
    layer = _coupling(AdditiveCoupling, 2, phase).to(device)
    x = torch.randn(50, 2, generator=torch_generator(0)).to(device)
    z, log_det = layer(x)
    assert torch.equal(log_det, torch.zeros(50, device=device))
    assert not torch.allclose(z, x)
    # and inside a composed flow, every coupling's contribution is exactly 0
    flow = build_flow("nice", 2, 6, 8, seed=0, init_identity=False, device=device)
    _, log_dets = flow.trace(x)
    assert [layer.label for layer in flow.layers] == ["scale"] + ["NICE"] * 6
    assert all(torch.equal(ld, torch.zeros_like(ld)) for ld in log_dets[1:])


@pytest.mark.parametrize("kind,dim", [("nice", 2), ("realnvp", 2), ("realnvp", 3), ("realnvp", 5)])
def test_flow_forward_hands_blocks_on_exactly_like_layer_by_layer(kind, dim):
    flow = build_flow(kind, dim, 5, 8, seed=2, init_identity=False, device="cpu", dtype=torch.float64)
    assert all(flow._chained[2:]) and not flow._chained[1]  # couplings chain, the scale layer does not
    x = torch.randn(40, dim, generator=torch_generator(1), dtype=torch.float64)
    z, log_det = flow(x)
    stages, log_dets = flow.trace(x)
    assert torch.allclose(z, stages[-1], atol=1e-12, rtol=0)
    assert torch.allclose(log_det, torch.stack(log_dets).sum(0), atol=1e-12, rtol=0)


def test_realnvp_is_not_volume_preserving():
    layer = _coupling(AffineCoupling, 2, 0)
    _, log_det = layer(torch.randn(50, 2, generator=torch_generator(0)))
    assert log_det.abs().max() > 1e-2


def test_alternating_masks_transform_every_coordinate():
    for dim in (2, 3, 5):
        masks = alternating_masks(dim, 4)
        changed = torch.stack([~m for m in masks[:2]]).any(0)
        assert changed.all() and all(m.any() and not m.all() for m in masks)
        assert torch.equal(masks[0], ~masks[1]) and torch.equal(masks[0], masks[2])
    with pytest.raises(ValueError):
        alternating_masks(1, 2)


def _integral_2d(flow: Flow, half_width: float, resolution: int) -> float:
    axis = np.linspace(-half_width, half_width, resolution)
    mesh = np.stack([g.ravel() for g in np.meshgrid(axis, axis, indexing="xy")], 1)
    with torch.no_grad():
        density = flow.log_prob(torch.as_tensor(mesh, dtype=torch.float64, device=flow.device)).exp()
    density = density.cpu().numpy().reshape(resolution, resolution)
    return float(np.trapezoid(np.trapezoid(density, axis, axis=1), axis))


@pytest.mark.parametrize("kind", ["nice", "realnvp"])
def test_random_flow_density_integrates_to_one(kind, device):
    flow = build_flow(kind, 2, 4, 16, seed=5, init_identity=False, device=device, dtype=torch.float64)
    assert abs(_integral_2d(flow, 9.0, 500) - 1.0) < 1e-2


def test_trained_flow_density_integrates_to_one(device):
    data = get_target("moons").sample(1000, seed=0)
    trainer = make_trainer("realnvp", data, num_layers=4, hidden=16, learning_rate=1e-2, batch_size=128,
                           seed=0, device=device)
    trainer.step(60)
    flow = trainer.flow.to(torch.float64)
    assert abs(_integral_2d(flow, 5.0, 500) - 1.0) < 1e-2


@pytest.mark.parametrize("kind", ["nice", "realnvp"])
def test_training_lowers_nll_on_moons(kind, device):
    target = get_target("moons")
    trainer = make_trainer(kind, target.sample(1500, seed=0), num_layers=4, hidden=32, learning_rate=1e-2,
                           batch_size=256, seed=0, device=device)
    held_out = target.sample(1500, seed=1)
    start = trainer.nll(held_out)
    trainer.step(120)
    assert not trainer.stopped
    assert trainer.iteration == 120 and len(trainer.metric("nll")) == 120
    assert trainer.nll(held_out) < start - 0.3  # nats: a clear improvement, measured on fresh data


def test_training_is_reproducible_for_a_seed():
    data = get_target("moons").sample(500, seed=0)
    runs = [make_trainer("realnvp", data, num_layers=2, hidden=8, seed=4, device="cpu") for _ in range(2)]
    for run in runs:
        run.step(5)
    assert runs[0].metric("nll").tolist() == runs[1].metric("nll").tolist()
    assert torch.equal(runs[0].flow.sample(10, seed=3), runs[1].flow.sample(10, seed=3))
    assert not torch.equal(runs[0].flow.sample(10, seed=3), runs[0].flow.sample(10, seed=4))


def test_exploding_realnvp_stops_with_message_and_keeps_a_finite_state():
    data = get_target("moons").sample(2000, seed=0)
    trainer = make_trainer("realnvp", data, num_layers=4, hidden=16, learning_rate=3.0, scale_bound=None,
                           batch_size=128, seed=0, device="cpu")
    trainer.step(100)
    assert trainer.stopped and trainer.iteration < 100
    assert "NaN or infinite" in trainer.message
    assert all(torch.isfinite(p).all() for p in trainer.flow.parameters())
    assert np.isfinite(trainer.metric("nll")).all()
    assert math.isfinite(trainer.nll())
    before = trainer.iteration
    trainer.step(5)
    assert trainer.iteration == before  # a stopped stepper stays stopped until reset


def test_flow_samples_follow_the_generative_direction(device):
    flow = build_flow("realnvp", 2, 4, 8, seed=1, init_identity=False, device=device)
    x = flow.sample(200, seed=0)
    z = flow.base.sample(200, torch_generator(0, device), flow.device, flow.dtype)
    assert x.device.type == device.type
    assert torch.allclose(flow(x)[0], z, atol=1e-4)


# ----------------------------------------------------------------------------------
# 1D: the change of variables made visible
# ----------------------------------------------------------------------------------

def test_one_dimensional_map_density_is_the_change_of_variables_formula():
    layer = MonotoneTanh.from_values(0.6, 0.2, heights=[1.2, 0.8], centers=[-1.0, 2.0], widths=[0.4, 0.7])
    x = np.linspace(-6, 6, 301)
    view = change_of_variables_1d(layer, x)
    step = 1e-6
    finite_difference = (change_of_variables_1d(layer, x + step)["z"] - change_of_variables_1d(layer, x - step)["z"]) / (
        2 * step)
    np.testing.assert_allclose(view["derivative"], finite_difference, rtol=1e-6)
    np.testing.assert_allclose(view["density"], stats.norm.pdf(view["z"]) * np.abs(finite_difference), rtol=1e-6)
    mass, _ = integrate.quad(lambda t: change_of_variables_1d(layer, np.array([t]))["density"][0], -40, 40, limit=200)
    assert mass == pytest.approx(1.0, abs=1e-8)


def test_from_values_rejects_a_non_monotone_map():
    with pytest.raises(ValueError):
        MonotoneTanh.from_values(-1.0, 0.0, [1.0], [0.0], [1.0])
    with pytest.raises(ValueError):
        MonotoneTanh.from_values(1.0, 0.0, [1.0], [0.0], [0.0])


def test_trained_1d_flow_density_matches_change_of_variables_and_fits_three_bumps(device):
    target = get_target("three_bumps")
    trainer = make_trainer("monotone", target.sample(2000, seed=0), num_layers=1, num_steps=8,
                           learning_rate=2e-2, batch_size=256, seed=0, device=device)
    trainer.step(300)
    view = view_1d(trainer.flow, (-8.0, 8.0), resolution=2001)
    # p(x) = q(F(x)) F'(x), with F' from finite differences of the plotted F
    derivative = np.gradient(view.z, view.x)
    np.testing.assert_allclose(view.density, stats.norm.pdf(view.z) * derivative, rtol=2e-2, atol=1e-4)
    assert np.all(np.diff(view.z) > 0), "F must be increasing"
    assert np.trapezoid(view.density, view.x) == pytest.approx(1.0, abs=1e-2)
    held_out = target.sample(4000, seed=1)
    true_nll = -target.log_prob(held_out).mean()
    assert trainer.nll(held_out) < true_nll + 0.06


# ----------------------------------------------------------------------------------
# The 2D view used by the warping page
# ----------------------------------------------------------------------------------

def test_view_2d_is_consistent_with_the_flow(device):
    target = get_target("moons")
    data = target.sample(300, seed=0)
    trainer = make_trainer("nice", data, num_layers=4, hidden=16, seed=0, device=device)
    trainer.step(30)
    view = view_2d(trainer.flow, data, target.bounds, seed=0, n_samples=200, resolution=60)
    layers = len(trainer.flow.layers)
    assert len(view.generative_points) == len(view.normalizing_points) == layers + 1
    assert view.generative_grid[0].shape == grid_lines(target.bounds).shape
    np.testing.assert_allclose(view.normalizing_points[0], data, atol=1e-6)
    # NICE couplings contribute exactly 0; only the scale layer changes volume
    assert np.all(view.layer_log_dets[1:] == 0.0) and view.layer_log_dets[0] != 0.0
    assert view.mean_log_likelihood == pytest.approx(-trainer.nll(data), abs=1e-4)
    assert sum(likelihood_terms(trainer.flow, data)) == pytest.approx(-trainer.nll(data), abs=1e-4)
    assert view.invertibility_error < 1e-4
    x = torch.as_tensor(data, dtype=trainer.flow.dtype, device=trainer.flow.device)
    with torch.no_grad():  # each number is the round trip its label names
        assert view.inverse_error == pytest.approx(float((trainer.flow.inverse(trainer.flow(x)[0]) - x).abs().max()),
                                                   abs=1e-7)
    assert view.invertibility_error == max(view.inverse_error, view.forward_error)
    assert 0.9 < view.mass_in_view <= 1.01
    # the generative trace ends where sampling ends
    samples = trainer.flow.sample(200, seed=0)
    assert view.generative_points[-1].shape == (200, 2)
    assert np.isfinite(samples.cpu().numpy()).all()


# ----------------------------------------------------------------------------------
# Figures built from the views
# ----------------------------------------------------------------------------------

def test_warping_figure_holds_every_stage_as_a_frame():
    from playground.figures.flows import position_colors, warping_figure

    points = [np.full((5, 2), float(i), dtype=np.float32) for i in range(4)]
    grids = [grid_lines(((-1.0, 1.0), (-1.0, 1.0)), lines=3, points=4) * (i + 1) for i in range(4)]
    colors = position_colors(np.random.default_rng(0).normal(size=(5, 2)))
    assert np.all(np.abs(colors) <= np.pi)
    fig = warping_figure(points, grids, colors, [f"stage {i}" for i in range(4)], active=2)
    assert len(fig.frames) == 4 and fig.layout.title.text == "stage 2"
    np.testing.assert_array_equal(fig.data[1].x, points[2][:, 0])
    grid_x = np.asarray(fig.data[0].x, dtype=float)
    assert np.isnan(grid_x).sum() == 6  # one gap after each of the 6 polylines
    assert [frame.layout.title.text for frame in fig.frames] == [f"stage {i}" for i in range(4)]


def test_log_det_figure_shows_each_layer_and_the_sum():
    from playground.figures.flows import log_det_figure

    fig = log_det_figure(["scale", "NICE", "NICE"], np.array([0.5, 0.0, 0.0]))
    np.testing.assert_array_equal(fig.data[0].y, [0.5, 0.0, 0.0])
    assert "sum = +0.500" in fig.layout.title.text and "NICE" in fig.layout.xaxis.title.text


def test_warping_axes_follow_the_points_and_show_the_base_at_its_scale():
    """A grid line flung to 20 does not shrink the picture; the base stage spans at least [-3.5, 3.5]."""
    from playground.figures.flows import warping_figure

    g = np.random.default_rng(1)
    data = g.normal(size=(300, 2)) * 0.5 + 5.0
    z = g.normal(size=(300, 2))
    grids = [grid_lines(((4.0, 6.0), (4.0, 6.0)), lines=3, points=4), grid_lines(((-20.0, 20.0), (-20.0, 20.0)))]
    labels = ["x", "z"]
    base = warping_figure([data, z], grids, np.zeros(300), labels, active=1, base_stage=1)
    x_range = base.layout.xaxis.range
    assert x_range[0] <= -3.5 and 6.0 < x_range[1] < 8.0  # the data and the base, not the grid's +-20
    without_base = warping_figure([data, data + 0.1], [grids[0], grids[0]], np.zeros(300), labels, active=1)
    assert without_base.layout.xaxis.range[0] > 3.0


@pytest.mark.parametrize("kind", ["nice", "realnvp"])
def test_layer_jacobian_is_triangular_and_its_log_det_is_the_layers(kind):
    """Each layer's Jacobian by autograd: a coupling's kept row is the identity's (triangular), and
    log|det J| (NumPy) equals the log-det the layer reports; the scale layer is diagonal."""
    from playground.flows import layer_jacobian

    data = get_target("moons").sample(500, seed=0)
    trainer = make_trainer(kind, data, num_layers=4, hidden=16, seed=0)
    trainer.step(20)
    for index in range(len(trainer.flow.layers)):
        jac = layer_jacobian(trainer.flow, index, np.array([0.3, -0.2]))
        assert jac.matrix.shape == (2, 2)
        assert np.log(abs(np.linalg.det(jac.matrix))) == pytest.approx(jac.log_det, abs=1e-4)
        if jac.kept:
            (kept,) = jac.kept
            np.testing.assert_allclose(jac.matrix[kept], np.eye(2)[kept], atol=1e-6)
            if kind == "nice":
                assert jac.log_det == pytest.approx(0.0, abs=1e-6)  # volume preserving
        else:
            assert jac.matrix[0, 1] == pytest.approx(0.0, abs=1e-7) and jac.matrix[1, 0] == pytest.approx(0.0, abs=1e-7)
    first = layer_jacobian(trainer.flow, 1, np.array([0.3, -0.2]))
    with torch.no_grad():
        expected = trainer.flow.layers[0](torch.tensor([[0.3, -0.2]], dtype=trainer.flow.dtype))[0][0].numpy()
    np.testing.assert_allclose(first.point, expected, rtol=1e-6)  # the point where layer 2 acts


def test_each_coupling_is_labelled_with_the_coordinate_it_keeps():
    from playground.figures.flows import log_det_figure
    from playground.flows import layer_label

    flow = build_flow("nice", num_layers=4, seed=0)
    labels = [layer_label(layer) for layer in flow.layers]
    kept = [int(torch.nonzero(layer.mask)[0]) for layer in flow.layers[1:]]
    assert labels == ["scale"] + [f"NICE (keeps x{'₁₂'[k]})" for k in kept]
    assert len(set(kept)) == 2  # the masks alternate
    fig = log_det_figure(labels, np.zeros(len(labels)))
    assert list(fig.layout.xaxis.ticktext)[:2] == ["1: scale", f"2: keeps x{'₁₂'[kept[0]]}"]
