"""AppTest of the KDE vs GMM page: 1D/2D switch, bandwidth, K, good and bad CSV uploads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground.data import csv_bytes

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "2_KDE_vs_GMM.py")



def _app(**params: str) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=240)
    app.query_params.update({"n": "200", "cn": "200", **params})
    app.run()
    _assert_ok(app)
    return app


def _assert_ok(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]


def _table(app: AppTest) -> dict[str, dict]:
    frame = app.dataframe[0].value
    return {row["estimator"]: row for row in frame.to_dict("records")}


def test_page_1d_bandwidth_and_k_change_the_numbers():
    app = _app()
    before = _table(app)
    assert set(before) >= {"Histogram", "Gaussian (MLE)", "KDE", "GMM", "Truth"}
    assert np.isfinite(before["KDE"]["test LL"]) and np.isfinite(before["GMM"]["test LL"])
    assert before["Truth"]["test LL"] > before["Gaussian (MLE)"]["test LL"]  # one Gaussian misses three bumps
    assert len(app.get("plotly_chart")) == 1

    app.select_slider(key="h").set_value(0.02).run()
    _assert_ok(app)
    small_h = _table(app)
    assert small_h["KDE"]["train LL"] > before["KDE"]["train LL"]  # over-fitting: train up ...
    assert small_h["KDE"]["test LL"] < before["KDE"]["test LL"]  # ... test down

    app.select_slider(key="K").set_value(1).run()
    _assert_ok(app)
    one = _table(app)
    assert one["GMM"]["parameters"] == 2 and one["GMM"]["test LL"] == pytest.approx(one["Gaussian (MLE)"]["test LL"],
                                                                                     abs=1e-3)
    app.selectbox(key="cov").set_value("spherical")
    app.select_slider(key="K").set_value(5).run()
    _assert_ok(app)
    assert _table(app)["GMM"]["parameters"] == 14  # 4 weights + 5 means + 5 variances

    app.radio(key="rule").set_value("cv").run()
    _assert_ok(app)
    assert _table(app)["KDE"]["test LL"] != small_h["KDE"]["test LL"]
    app.selectbox(key="kernel").set_value("epanechnikov").run()
    _assert_ok(app)
    app.radio(key="bins").set_value("count").run()
    app.slider(key="nbins").set_value(80).run()
    _assert_ok(app)
    assert _table(app)["Histogram"]["parameters"] == 79


def test_page_switches_to_2d_and_back():
    app = _app()
    app.selectbox(key="target").set_value("mog2d").run()
    _assert_ok(app)
    assert len(app.get("plotly_chart")) == 2  # heatmaps and marginals
    table = _table(app)
    assert table["Gaussian (MLE)"]["parameters"] == 5
    assert table["GMM"]["test LL"] > table["Gaussian (MLE)"]["test LL"]
    for focus in ("Histogram", "Gaussian (MLE)", "GMM"):
        app.selectbox(key="focus").set_value(focus).run()
        _assert_ok(app)
    app.selectbox(key="target").set_value("moons").run()  # sample-only: no truth row, no crash
    _assert_ok(app)
    assert "Truth" not in _table(app)
    app.selectbox(key="target").set_value("gaussian1d").run()
    _assert_ok(app)


@pytest.mark.parametrize("dataset", ["three_bumps", "mog2d"])
def test_every_view_draws(dataset):
    app = _app(target=dataset)
    expected = {"Held-out likelihood": 2, "Generation": 1, "Curse of dimensionality": 1}
    for view, charts in expected.items():
        app.radio(key="view").set_value(view).run()
        _assert_ok(app)
        assert len(app.get("plotly_chart")) == charts, view
    app.slider(key="cb").set_value(4).run()  # curse of dimensionality: bins per axis
    _assert_ok(app)
    assert any("of the 16 cells" in m.value for m in app.markdown)


def test_k_larger_than_n_warns_instead_of_crashing():
    app = _app(n="20", test="0.5")
    app.select_slider(key="K").set_value(150).run()
    _assert_ok(app)
    assert any("K = 150" in w.value for w in app.warning)


def test_good_and_bad_csv_uploads():
    app = _app()
    app.selectbox(key="target").set_value("csv").run()
    _assert_ok(app)
    points = np.random.default_rng(0).normal(size=(150, 2)) * [1.0, 0.3]
    app.file_uploader[0].set_value(("mine.csv", csv_bytes(points, header=("a", "b")), "text/csv")).run()
    _assert_ok(app)
    assert any("150 points in your file" in c.value for c in app.caption)
    assert _table(app)["Gaussian (MLE)"]["parameters"] == 5 and "Truth" not in _table(app)

    app.file_uploader[0].set_value(("bad.csv", b"x,y\n1,2\nfoo,3\n", "text/csv")).run()
    _assert_ok(app)
    assert any("not a number" in e.value for e in app.error)
    assert len(app.get("plotly_chart")) == 1  # the page keeps working on the fallback target


def test_large_k_on_many_points_is_fitted_on_a_capped_subset():
    from playground.ui import kde

    assert kde.gmm_fit_points(3) == kde.GMM_FIT_WORK // 3
    assert kde.gmm_fit_points(150) == kde.GMM_MIN_FIT_POINTS
    app = _app(n="20000", K="150", focus="GMM")
    text = " ".join(str(m.value) for m in app.metric)
    assert f"GMM is fitted on {kde.GMM_MIN_FIT_POINTS:,} of them" in " ".join(c.value for c in app.caption)
    train_points = len(kde.split(np.zeros((20_000, 1)), 0.3, 0)[0])
    assert f"{kde.GMM_MIN_FIT_POINTS:,} of {train_points:,} points" in text
    assert np.isfinite(_table(app)["GMM"]["test LL"])


def test_cross_validated_h_says_when_it_was_rescaled_from_a_subsample():
    """Above 2,000 training points CV runs on a subsample of 2,000 and h is carried over by (m/N)^(1/(d+4))."""
    from playground.kde_vs_gmm import CV_POINTS, rescale_bandwidth

    small = _app(rule="cv")
    assert "h (CV)" in [m.label for m in small.metric]
    large = _app(n="5000", rule="cv")
    metrics = {m.label: float(str(m.value).replace(",", "")) for m in large.metric}
    assert "h (CV, rescaled)" in metrics and "h (CV)" not in metrics
    assert metrics["h"] == pytest.approx(metrics["h (CV, rescaled)"], rel=1e-3)
    assert rescale_bandwidth(1.0, CV_POINTS, 5000, 1) == pytest.approx((2000 / 5000) ** 0.2)


def test_the_1d_picture_draws_the_kde_as_a_sum_of_bumps_and_the_toggle_hides_them():
    import json

    app = _app()
    spec = next(json.loads(c.proto.spec) for c in app.get("plotly_chart") if "kde_main" in c.proto.id)
    names = [trace.get("name", "") for trace in spec["data"]]
    assert any(name.startswith("KDE: its 140 kernels") for name in names)  # 200 points, 30 % held out
    assert any(name.startswith("GMM: its 3 components") for name in names)
    app.toggle(key="bumps").set_value(False).run()
    spec = next(json.loads(c.proto.spec) for c in app.get("plotly_chart") if "kde_main" in c.proto.id)
    assert not any("kernels" in trace.get("name", "") for trace in spec["data"])
