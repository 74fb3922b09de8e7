"""Serving a class: security defaults, no unsafe loaders, and the load tool against a live server."""

from __future__ import annotations

import asyncio
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_streamlit_config_keeps_the_classroom_defaults():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["enableXsrfProtection"] is True
    assert server["maxUploadSize"] == 10  # MB: CSVs of 100,000 rows fit
    assert server["runOnSave"] is False and server["fileWatcherType"] == "none"
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"  # no traceback reaches a browser
    assert config["runner"]["postScriptGC"] is False  # see README "Serving a class"


def test_no_user_file_is_unpickled_evaluated_or_torch_loaded():
    unsafe = re.compile(r"pickle\.loads?\(|torch\.load\(|(?<![\w.])eval\(|(?<![\w.])exec\(|allow_pickle\s*=\s*True|joblib\.load")
    offenders = []
    for path in [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "playground").rglob("*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if unsafe.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, offenders


@pytest.fixture(scope="module")
def server():
    from bench.appserver import AppServer

    with AppServer() as running:
        yield running


def test_load_tool_drives_every_classical_page_without_errors(server):
    from bench import load

    result = asyncio.run(load.classroom(server, sessions=4, duration=4.0, pages=load.CLASSICAL, think=0.3,
                                        ramp=1.0))
    assert result["errors"] == 0, result
    assert result["warm_up_s"] > 0 and result["rss_peak_mb"] >= result["rss_start_mb"] > 0
    for page in load.CLASSICAL:
        actions = result["by_page"][page]
        assert actions["open"]["count"] == 1 and actions["open"]["errors"] == 0
        interactions = sum(v["count"] for k, v in actions.items() if k != "open")
        assert interactions >= 1, (page, actions)
    slider = result["by_action"]["slider"]
    assert 0 < slider["p50_s"] <= slider["p95_s"]


class _FakeSocket:
    """Replays ForwardMsgs the way a server would answer one rerun request."""

    def __init__(self, messages):
        self.messages = [m.SerializeToString() for m in messages]
        self.sent = []

    async def send(self, data):
        self.sent.append(data)

    async def recv(self):
        return self.messages.pop(0)


def _exception_then_finished(status):
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    boom = ForwardMsg()
    boom.delta.new_element.exception.message = "boom"
    done = ForwardMsg()
    done.script_finished = status
    return [boom, done]


def test_an_exception_element_or_a_failed_run_counts_as_an_error():
    """The load tool must be able to fail: an exception on the page is an error, not a latency."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from bench import load

    socket = _FakeSocket(_exception_then_finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    result = asyncio.run(load._run(socket, "Samplers", {}))
    assert not result.ok and "boom" in result.error and len(socket.sent) == 1

    failed = ForwardMsg()
    failed.script_finished = ForwardMsg.FINISHED_WITH_COMPILE_ERROR
    result = asyncio.run(load._run(_FakeSocket([failed]), "Samplers", {}))
    assert not result.ok and "status" in result.error

    fine = ForwardMsg()
    fine.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY
    result = asyncio.run(load._run(_FakeSocket([fine]), "Samplers", {}))
    assert result.ok and not result.error


def test_churn_opens_and_closes_sessions(server):
    from bench import load

    result = asyncio.run(load.churn(server, 5, "Samplers", settle_s=0.0))
    assert result["errors"] == 0 and result["sessions"] == 5
