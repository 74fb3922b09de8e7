"""Imports point downwards: compute never imports Streamlit or Plotly; figures never import Streamlit."""

from __future__ import annotations

import ast

import pytest

from playground.ui.navigation import ROOT

PACKAGE = ROOT / "playground"


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module.split(".")[0]


COMPUTE = [p for p in PACKAGE.rglob("*.py") if p.parent.name not in ("ui", "figures")]
FIGURES = list((PACKAGE / "figures").rglob("*.py"))


@pytest.mark.parametrize("path", COMPUTE, ids=lambda p: str(p.relative_to(ROOT)))
def test_compute_modules_import_neither_streamlit_nor_plotly(path):
    assert not {"streamlit", "plotly"} & set(_imports(path))


@pytest.mark.parametrize("path", FIGURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_figure_builders_do_not_import_streamlit(path):
    assert "streamlit" not in set(_imports(path))


def test_library_code_uses_no_global_rng():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for pattern in ("np.random.seed(", "torch.manual_seed(", "random.seed("):
            if pattern in text:
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not offenders
