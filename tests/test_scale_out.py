"""Scale-out: two replicas behind nginx with sticky sessions, driven by a real browser.

Each browser context gets its route cookie from nginx and must stay on one replica
for every request (page, static files, websocket, upload); different route cookies
must reach different replicas; a CSV upload through the proxy must work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from bench.appserver import CHROMIUM, AppServer, free_port, wait_idle
from playground.ui.navigation import ROOT

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
if NGINX is None or not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail("nginx and chromium are needed: run scripts/install_system_deps.sh", pytrace=False)
    pytest.skip("nginx or chromium missing", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

UPLOAD_PAGE = os.environ.get("PLAYGROUND_UPLOAD_PAGE", "GAN_training?data=csv")


def _render_config(prefix: Path, port: int, upstream_ports: list[int]) -> Path:
    upstreams = "".join(f"        server 127.0.0.1:{p};\n" for p in upstream_ports)
    text = (ROOT / "deploy" / "nginx.conf.template").read_text()
    text = text.replace("@PORT@", str(port)).replace("@PREFIX@", str(prefix)).replace("@UPSTREAMS@\n", upstreams)
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def proxy_url():
    with ExitStack() as stack:
        replicas = [stack.enter_context(AppServer()) for _ in range(2)]
        prefix = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        port = free_port()
        config = _render_config(prefix, port, [r.port for r in replicas])
        subprocess.run([NGINX, "-p", str(prefix), "-c", str(config)], check=True)
        stack.callback(subprocess.run, [NGINX, "-p", str(prefix), "-c", str(config), "-s", "stop"])
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        yield url, {f"127.0.0.1:{r.port}" for r in replicas}



def _visit(browser, url: str, route: str | None = None):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    if route:
        context.add_cookies([{"name": "pgroute", "value": route, "url": url}])
    page = context.new_page()
    replicas: set[str] = set()
    page.on("response", lambda r: replicas.add(r.headers.get("x-playground-replica", "")))
    return context, page, replicas


def test_sessions_are_sticky_and_spread_over_replicas(browser, proxy_url):
    url, upstreams = proxy_url
    seen: set[str] = set()
    for route in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot"):
        context, page, replicas = _visit(browser, url, route)
        page.goto(url, wait_until="domcontentloaded")
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        replicas.discard("")
        assert len(replicas) == 1, f"route {route} was served by {replicas}: not sticky"
        seen |= replicas
        context.close()
    assert seen == upstreams, f"only {seen} of {upstreams} received sessions"


def test_csv_upload_through_the_proxy(browser, proxy_url, tmp_path):
    url, _ = proxy_url
    csv = tmp_path / "points.csv"
    csv.write_text("x,y\n" + "\n".join(f"{i % 7 * 0.3},{i % 5 * 0.2}" for i in range(300)))
    context, page, _ = _visit(browser, url)
    page.goto(f"{url}/{UPLOAD_PAGE}", wait_until="domcontentloaded")
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(csv))
    page.get_by_text("from your file").first.wait_for(timeout=120_000)
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    context.close()
