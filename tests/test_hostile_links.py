"""Deep links with malformed or out-of-range values never crash a page, and every value that
is ignored is reported by name.

For every page, the keys it mirrors in the URL are read from a normal run; then the page is
opened with every key set to one hostile value (``garbage``, ``1e309``, ``-99999999``, ``nan``,
as in the README's "Bad input, tried and survived"). Each page must run without an exception,
show "The link's value for **<label>** (...) was ignored" for every one of its keys, naming that
key's own control, and draw that control as a normal run does. Free-text fields are the
exception: any text is a valid link value, so they show the text and the page's own check of it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import TextInput

from playground.ui.deeplink import OWNER_KEY
from playground.ui.navigation import ROOT, available_pages

PAGES = available_pages()
HOSTILE = ["garbage", "1e309", "-99999999", "nan"]
NOTICE = re.compile(r"The link's value for \*\*(.+?)\*\* \((.+?)\) was ignored; using (.*)\.$", re.S)

# Free-text controls: key -> (page, the name the page's own message uses, values it accepts as they are).
# The autoregressive page's fields take letters a-z; the KL page's take comma-separated probabilities.
FREE_TEXT = {
    "P": ("7_KL_divergences", "P", ()),
    "Q": ("7_KL_divergences", "Q", ()),
    "prefix": ("10_Autoregressive", "prefix", ("garbage", "nan")),
    "word": ("10_Autoregressive", "word", ("garbage", "nan")),
}


def _open(page_path: str, params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.switch_page(page_path)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    return at.run()


def _widgets(at: AppTest) -> dict[str, object]:
    """Every widget the page drew that has a key of its own: key -> element (label, value)."""
    found: dict[str, object] = {}

    def walk(node) -> None:
        key = getattr(node, "key", None)
        if isinstance(key, str) and hasattr(node, "label") and hasattr(node, "value"):
            found[key] = node
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at.sidebar)
    walk(at.main)
    return found


def _notices(at: AppTest) -> dict[str, list[str]]:
    """The "was ignored" notices on the page: the control's label -> the reasons given."""
    named: dict[str, list[str]] = {}
    for warning in at.warning:
        match = NOTICE.search(warning.value)
        if match:
            named.setdefault(match.group(1), []).append(match.group(2))
    return named


@pytest.fixture(scope="module")
def normal_run():
    """Each page's linked keys, and each key's control (label and value), read from one normal run."""
    cache: dict[str, object] = {}

    def read(page_path: str):
        if page_path not in cache:
            at = _open(page_path)
            assert not at.exception
            # Every control the page mirrors in the URL (defaults are not written, so the
            # URL of a fresh page is empty: read the keys the page drew).
            keys = sorted(at.session_state[OWNER_KEY].keys())
            widgets = _widgets(at)
            assert set(keys) <= set(widgets), set(keys) - set(widgets)
            cache[page_path] = keys, {key: (widgets[key].label, widgets[key].value) for key in keys}
            cache[page_path + ":text"] = sorted(key for key in keys if isinstance(widgets[key], TextInput))
        return cache[page_path]

    read.cache = cache
    return read


@pytest.mark.parametrize("bad_value", HOSTILE)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: Path(p.path).stem)
def test_every_hostile_link_value_is_ignored_by_name(page, bad_value, normal_run):
    keys, controls = normal_run(page.path)
    assert "seed" in keys and "projection" in keys
    at = _open(page.path, {key: bad_value for key in keys})
    assert not at.exception, at.exception
    assert at.title[0].value == page.title
    notices = _notices(at)
    drawn = _widgets(at)
    for key in keys:
        label, normal_value = controls[key]
        if key in FREE_TEXT:
            assert label not in notices, key  # any text is a valid value for a text field: checked below
            continue
        # one notice per control of that label, each quoting the link's value in its reason
        same_label = sum(1 for other in keys if controls[other][0] == label and other not in FREE_TEXT)
        assert len(notices.get(label, [])) == same_label, (key, label, sorted(notices))
        assert all(bad_value in reason for reason in notices[label]), (key, notices[label])
        # ... and the control is drawn as in a normal run: the link's value did not get through
        assert drawn[key].value == normal_value, (key, drawn[key].value, normal_value)
    assert set(notices) <= {controls[key][0] for key in keys}  # no notice about anything else


def test_free_text_fields_are_the_pages_own_text_inputs(normal_run):
    """The exceptions above are exactly the pages' linked text fields (a new one must be added there)."""
    for page in PAGES:
        normal_run(page.path)
        text_keys = normal_run.cache[page.path + ":text"]
        assert text_keys == sorted(k for k, (stem, _, _) in FREE_TEXT.items() if stem == Path(page.path).stem)


@pytest.mark.parametrize("bad_value", HOSTILE)
@pytest.mark.parametrize("key", list(FREE_TEXT))
def test_a_free_text_field_shows_the_link_text_and_the_page_checks_it(key, bad_value):
    stem, name, accepted = FREE_TEXT[key]
    page = next(p for p in PAGES if Path(p.path).stem == stem)
    at = _open(page.path, {key: bad_value})
    assert not at.exception, at.exception
    assert at.text_input(key=key).value == bad_value  # the link's text reaches the field
    messages = [m.value for m in [*at.warning, *at.error]]
    naming = [m for m in messages if re.search(rf"\b{re.escape(name)}\b", m)]
    if bad_value in accepted:
        assert not naming, naming
    else:
        assert naming, messages  # the page says what is wrong with it, naming the field
