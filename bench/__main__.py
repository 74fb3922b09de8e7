"""Run every benchmark: ``python -m bench`` (optionally ``python -m bench name ...``).

Each ``bench/bench_<topic>.py`` defines ``run(report)``. ``report(name, ours, peer,
note="", repeats=7, warmup=1)`` times two zero-argument callables that compute the
same thing on the same inputs, in this one process, after warm-up, in alternation, and
records the median times and the ratio peer/ours (> 1 means the playground is faster). A module
may also call ``report.measure(name, value, unit, note)`` for a figure that has no
peer (for instance the app's cold start). Results go to ``bench/results.json``.
"""

from __future__ import annotations

import importlib
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _median_times(ours: Callable[[], object], peer: Callable[[], object], repeats: int,
                  warmup: int) -> tuple[float, float]:
    """Median times of the two, measured in alternation (ours first on even repeats, the peer first on
    odd ones), so that a machine whose speed drifts during the run favours neither."""
    for _ in range(warmup):
        ours()
        peer()
    ours_times, peer_times = [], []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            ours_times.append(_timed(ours))
            peer_times.append(_timed(peer))
        else:
            peer_times.append(_timed(peer))
            ours_times.append(_timed(ours))
    return statistics.median(ours_times), statistics.median(peer_times)


class Reporter:
    """Collects benchmark rows and prints them as they come."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.rows: list[dict] = []

    def __call__(self, name: str, ours: Callable[[], object], peer: Callable[[], object], note: str = "",
                 repeats: int = 7, warmup: int = 1) -> dict:
        ours_s, peer_s = _median_times(ours, peer, repeats, warmup)
        row = {"module": self.module, "name": name, "ours_s": ours_s, "peer_s": peer_s,
               "ratio_peer_over_ours": peer_s / ours_s if ours_s > 0 else float("inf"), "note": note}
        self.rows.append(row)
        print(f"{self.module:>12} | {name:<48} ours {ours_s * 1e3:10.2f} ms | peer {peer_s * 1e3:10.2f} ms | "
              f"peer/ours {row['ratio_peer_over_ours']:6.2f}x  {note}", flush=True)
        return row

    def measure(self, name: str, value: float, unit: str, note: str = "") -> dict:
        row = {"module": self.module, "name": name, "value": value, "unit": unit, "note": note}
        self.rows.append(row)
        print(f"{self.module:>12} | {name:<48} {value:10.3f} {unit}  {note}", flush=True)
        return row


def discover() -> list[str]:
    return sorted(path.stem for path in HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    wanted = set(argv)
    rows: list[dict] = []
    for stem in discover():
        short = stem.removeprefix("bench_")
        if wanted and short not in wanted and stem not in wanted:
            continue
        module = importlib.import_module(f"bench.{stem}")
        reporter = Reporter(short)
        module.run(reporter)
        rows.extend(reporter.rows)
    out = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                       "processor": platform.processor(), "cpus": __import__("os").cpu_count()},
           "results": rows}
    (HERE / "results.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {HERE / 'results.json'} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
