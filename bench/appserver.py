"""Start ``streamlit run app.py`` on a free loopback port (used by browser tests and benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(base_url: str, timeout: float = 90.0, process: subprocess.Popen | None = None) -> float:
    """Poll ``/_stcore/health`` until it answers ok; return the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{base_url} not healthy after {timeout} s")


class AppServer:
    """``with AppServer() as server:`` runs the app; ``server.url``, ``server.startup_s``, ``server.rss_mb()``."""

    def __init__(self, port: int | None = None, env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env or {}
        self.extra_args = extra_args or []
        self.process: subprocess.Popen | None = None
        self.startup_s = float("nan")
        self.log_path = log_path

    def __enter__(self) -> "AppServer":
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
                   "--server.address", "127.0.0.1", "--server.headless", "true",
                   "--browser.gatherUsageStats", "false", *self.extra_args]
        start = time.perf_counter()
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **self.env})
        try:
            wait_healthy(self.url, process=self.process)
        except BaseException:
            self.__exit__()
            raise
        self.startup_s = time.perf_counter() - start
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def rss_mb(self) -> float:
        """Resident memory of the server process, in MB (Linux /proc)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@contextmanager
def running_app(port: int | None = None, env: dict[str, str] | None = None) -> Iterator[tuple[str, float]]:
    """Yield (base_url, seconds from process start to healthy) while the app runs."""
    with AppServer(port, env) as server:
        yield server.url, server.startup_s


def wait_not_running(page, timeout_ms: int = 120_000) -> None:
    """Wait until no script run is in progress and no element is stale."""
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.getAttribute('data-test-script-state') === 'notRunning'
                   && !document.querySelector('[data-testid="stSkeleton"]');
        }""",
        timeout=timeout_ms,
    )


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the Streamlit app has rendered and no script run is in progress."""
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout_ms)
    wait_not_running(page, timeout_ms)
    page.wait_for_timeout(800)  # let Plotly finish drawing


NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")


def find_nginx() -> str | None:
    import shutil

    return shutil.which("nginx") or next((p for p in NGINX_CANDIDATES if Path(p).exists()), None)


def render_nginx_config(prefix: Path, port: int, upstream_ports: list[int]) -> Path:
    """Fill deploy/nginx.conf.template (the documented scale-out recipe) for loopback replicas."""
    upstreams = "".join(f"        server 127.0.0.1:{p};\n" for p in upstream_ports)
    text = (ROOT / "deploy" / "nginx.conf.template").read_text()
    text = text.replace("@PORT@", str(port)).replace("@PREFIX@", str(prefix)).replace("@UPSTREAMS@\n", upstreams)
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


class ProxiedApp:
    """``with ProxiedApp(replicas=2) as app:`` runs N app servers behind nginx with sticky sessions.

    Same interface as ``AppServer`` (``url``, ``rss_mb()`` summed over the replicas), plus
    ``replica_urls``. Needs nginx (Debian package; scripts/install_system_deps.sh).
    """

    def __init__(self, replicas: int = 2, log_dir: Path | None = None) -> None:
        self.replicas = replicas
        self.log_dir = log_dir
        self.servers: list[AppServer] = []
        self.url = ""
        self._stack = None

    def __enter__(self) -> "ProxiedApp":
        import tempfile
        from contextlib import ExitStack

        nginx = find_nginx()
        if nginx is None:
            raise RuntimeError("nginx is not installed (bash scripts/install_system_deps.sh)")
        self._stack = ExitStack()
        try:
            for i in range(self.replicas):
                log = self.log_dir / f"replica{i}.log" if self.log_dir else None
                self.servers.append(self._stack.enter_context(AppServer(log_path=log)))
            prefix = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
            port = free_port()
            config = render_nginx_config(prefix, port, [s.port for s in self.servers])
            subprocess.run([nginx, "-p", str(prefix), "-c", str(config)], check=True)
            self._stack.callback(subprocess.run, [nginx, "-p", str(prefix), "-c", str(config), "-s", "stop"])
            self.url = f"http://127.0.0.1:{port}"
            wait_healthy(self.url, timeout=30)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._stack is not None:
            self._stack.close()

    @property
    def replica_urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def rss_mb(self) -> float:
        return sum(s.rss_mb() for s in self.servers)
