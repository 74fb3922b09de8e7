"""Imports point downwards: compute never imports Streamlit or Plotly; figures never import Streamlit;
ui and figures compute nothing, so neither imports torch or SciPy (anywhere in the module, functions included)."""

from __future__ import annotations

import ast

import pytest

from playground.ui.navigation import ROOT

PACKAGE = ROOT / "playground"


def _imports(path):
    yield from _imports_of(path.read_text())


def _imports_of(source: str):
    """Top-level package of every import in ``source``, at any depth (ast.walk visits function bodies)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module.split(".")[0]


COMPUTE = [p for p in PACKAGE.rglob("*.py") if p.parent.name not in ("ui", "figures")]
FIGURES = list((PACKAGE / "figures").rglob("*.py"))
UI = list((PACKAGE / "ui").rglob("*.py"))
NUMERICS = {"torch", "scipy"}  # the compute layer's tools


@pytest.mark.parametrize("path", COMPUTE, ids=lambda p: str(p.relative_to(ROOT)))
def test_compute_modules_import_neither_streamlit_nor_plotly(path):
    assert not {"streamlit", "plotly"} & set(_imports(path))


@pytest.mark.parametrize("path", FIGURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_figure_builders_do_not_import_streamlit(path):
    assert "streamlit" not in set(_imports(path))


@pytest.mark.parametrize("path", FIGURES + UI, ids=lambda p: str(p.relative_to(ROOT)))
def test_ui_and_figures_compute_nothing(path):
    """Numbers come from the compute modules: no torch or SciPy import, even inside a function."""
    assert not NUMERICS & set(_imports(path))


def test_the_import_scan_sees_imports_inside_functions():
    source = "def f():\n    import torch.nn\n    from scipy.stats import norm\n    from . import sibling\n"
    assert set(_imports_of(source)) == {"torch", "scipy"}


def test_library_code_uses_no_global_rng():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for pattern in ("np.random.seed(", "torch.manual_seed(", "random.seed("):
            if pattern in text:
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not offenders
