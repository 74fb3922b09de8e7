"""Hostile uploads, tried on a real page: each bad CSV gets its own clear message, the
page keeps drawing (on the fallback data) and no traceback reaches the browser.

The same table is in the README ("Bad input, tried and survived")."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from playground.ui.navigation import ROOT

MILLION_ROWS = ("x\n" + "0.25\n" * 1_000_000).encode()

BAD_FILES = {
    "empty": (b"", "The file is empty"),
    "header only": (b"x,y\n", "has a header (x, y) but no data rows"),
    "non-numeric": (b"x,y\n1,2\nfoo,3\n", "Row 3, column 1: 'foo' is not a number"),
    "NaN": (b"1,2\nnan,3\n", "hold NaN or infinity"),
    "inf": (b"1,2\n3,-inf\n", "hold NaN or infinity"),
    "3 columns": (b"1,2,3\n4,5,6\n", "Expected 1 or 2 numeric columns, found 3"),
    "ragged rows": (b"1,2\n3\n", "Row 2 has 1 columns"),
    "1e308": (b"1,2\n1e308,3\n", "overflow the computations"),
    "binary": (bytes(range(256)) * 4, "binary file"),
    "one row": (b"5\n", "single data row"),
}


def _kde_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.switch_page("pages/2_KDE_vs_GMM.py")
    at.query_params["target"] = "csv"
    return at.run()


def _upload(at: AppTest, name: str, raw: bytes) -> AppTest:
    return at.file_uploader[0].set_value((name, raw, "text/csv")).run()


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_csv_gets_its_message_and_the_page_keeps_working(kind):
    raw, message = BAD_FILES[kind]
    at = _upload(_kde_page(), f"{kind}.csv", raw)
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "cannot be used" in errors and message in errors, errors
    assert len(at.get("plotly_chart")) >= 1  # still drawing, on the fallback data


@pytest.mark.parametrize("kind, raw, note", [
    ("UTF-16 text", "x\n1.5\n2.5\n3.0\n".encode("utf-16"), "from your file"),
    ("1 column", b"0.1\n0.4\n0.3\n0.9\n", "from your file"),
    ("1,000,000 rows", MILLION_ROWS, "only the first 100,000 are used"),
])
def test_unusual_but_valid_csv_is_used(kind, raw, note):
    at = _upload(_kde_page(), f"{kind}.csv", raw)
    assert not at.exception
    shown = " ".join(m.value for m in [*at.success, *at.info])
    assert note in shown, shown
    assert not at.error
