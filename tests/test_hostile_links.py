"""Deep links with malformed or out-of-range values never crash a page.

For every page, the keys it mirrors in the URL are read from a normal run; then the
page is opened with every key set to garbage (and, separately, to absurd numbers).
Each page must run without an exception and say which values it ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground.ui.deeplink import OWNER_KEY
from playground.ui.navigation import ROOT, available_pages

PAGES = available_pages()


def _open(page_path: str, params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.switch_page(page_path)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    return at.run()


@pytest.fixture(scope="module")
def linked_keys():
    """The URL keys of each page, read from one normal run."""
    cache: dict[str, list[str]] = {}

    def keys(page_path: str) -> list[str]:
        if page_path not in cache:
            at = _open(page_path)
            assert not at.exception
            # Every control the page mirrors in the URL (defaults are not written, so the
            # URL of a fresh page is empty: read the keys the page drew).
            cache[page_path] = sorted(at.session_state[OWNER_KEY].keys())
        return cache[page_path]

    return keys


@pytest.mark.parametrize("bad_value", ["garbage", "1e309", "-99999999", "nan"])
@pytest.mark.parametrize("page", PAGES, ids=lambda p: Path(p.path).stem)
def test_page_survives_hostile_link_values(page, bad_value, linked_keys):
    keys = linked_keys(page.path)
    assert "seed" in keys and "projection" in keys
    at = _open(page.path, {key: bad_value for key in keys})
    assert not at.exception, at.exception
    assert at.title[0].value == page.title
    notices = " ".join(w.value for w in at.warning)
    if bad_value == "garbage":
        assert "was ignored" in notices  # at least the seed and projection are reported
