"""The app as a whole: navigation in teaching order, every page runs, the home page is light."""

from __future__ import annotations

import re
import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground.ui.navigation import HOME, PLANNED, ROOT, available_pages

PAGE_FILES = sorted((ROOT / "pages").glob("*.py"))


def test_every_page_file_is_registered_and_in_teaching_order():
    registered = [page.path for page in available_pages()]
    on_disk = [f"pages/{path.name}" for path in PAGE_FILES]
    assert sorted(registered) == sorted(on_disk), "a page file exists that the registry does not know (or vice versa)"
    numbers = [int(re.match(r"pages/(\d+)_", path).group(1)) for path in registered]
    assert numbers == sorted(numbers)
    # The registry order is the teaching order and matches Streamlit's own file order.
    assert [p.path for p in PLANNED if p.exists] == registered


def _title(at: AppTest) -> str:
    return at.title[0].value if at.title else ""


def test_home_page_runs_and_lists_the_pages_in_order():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert _title(at) == "Generative-models playground"
    text = " ".join(m.value for m in at.markdown)
    for family in ("Autoregressive", "Flows", "Energy-based", "VAE", "GAN", "Diffusion"):
        assert f"**{family}**" in text


@pytest.mark.parametrize("page", available_pages(), ids=lambda p: Path(p.path).stem)
def test_every_page_is_reachable_with_its_title(page):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.switch_page(page.path).run()
    assert not at.exception, at.exception
    assert _title(at) == page.title


def test_home_page_does_not_import_torch_but_warms_it_in_the_background():
    code = (
        "import sys, time; from streamlit.testing.v1 import AppTest;"
        f"at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=60).run();"
        "assert not at.exception; print('torch' in sys.modules);"
        "import threading; warm = [t for t in threading.enumerate() if t.name == 'playground-warm-imports'];"
        "[t.join(120) for t in warm]; print(bool(warm), 'torch' in sys.modules)"
    )
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT,
                           env={**os.environ, "PLAYGROUND_WARM_IMPORTS": "0"})
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.split() == ["False", "False", "False"]  # the home page's own run imports no torch
    warmed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert warmed.returncode == 0, warmed.stderr
    assert warmed.stdout.split()[1:] == ["True", "True"]  # ... and the warm-up thread loads it


def test_home_is_the_entry_point():
    assert HOME.path == "app.py" and (ROOT / HOME.path).is_file()
