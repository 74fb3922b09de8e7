"""Classroom load: many students on one ``streamlit run`` server.

Each simulated student is a websocket client that speaks Streamlit's own protocol
(protobuf ``BackMsg`` / ``ForwardMsg`` over ``/_stcore/stream``), as the browser does:
it opens a page, then for ``duration`` seconds moves a slider or presses a Step
button, waiting for the script run to finish each time. Latency is measured from the
request to the run's ``script_finished``; an error is an exception element, a run that
does not finish successfully, or a lost connection. Server memory is the RSS of the
server process.

    python -m bench.load --sessions 30 --duration 60 --pages Samplers KDE_vs_GMM EM_step_through KL_divergences
    python -m bench.load --sessions 30 --cold --ramp 0   # worst case: a cold server, everyone at the same instant
    python -m bench.load --churn 200          # open and close 200 sessions, memory before/after
    python -m bench.load --warm-only http://127.0.0.1:8501   # open every page once on a running server
    python -m bench.load --soak 20            # 10 students on every page for 20 minutes: memory and errors

Results are printed and written to ``bench/load_results.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from bench.appserver import AppServer, ProxiedApp

HERE = Path(__file__).resolve().parent
CLASSICAL = ["Samplers", "KDE_vs_GMM", "EM_step_through", "KL_divergences"]
TRAINING = ["Latent_explorer", "Flow_warping", "GAN_training"]
NEWER = ["Diffusion", "Energy_based_models", "Autoregressive", "Evaluation"]
TRAINING_ALL = TRAINING + ["Diffusion", "Energy_based_models", "Autoregressive"]
PLAY_TICK_S = 0.7  # a soak's "Play": the page's Step pressed at about Play's tick rate
RUN_TIMEOUT_S = 60.0


@dataclass
class Widget:
    id: str
    kind: str  # "slider", "select_slider" or "button"
    low: float = 0.0
    high: float = 0.0
    step: float = 1.0
    integer: bool = False
    options: tuple[str, ...] = ()


@dataclass
class RunResult:
    seconds: float
    ok: bool
    error: str = ""
    widgets: dict[str, Widget] = field(default_factory=dict)


def _collect_widget(element, widgets: dict[str, Widget]) -> None:
    kind = element.WhichOneof("type")
    if kind == "slider":
        proto = element.slider
        if len(proto.default) != 1 or proto.disabled:
            return
        if proto.options:  # select_slider: the browser sends the formatted option
            widgets[proto.id] = Widget(proto.id, "select_slider", options=tuple(proto.options))
        elif proto.max > proto.min:
            widgets[proto.id] = Widget(proto.id, "slider", proto.min, proto.max, proto.step or 1.0,
                                       integer=proto.data_type == proto.INT)
    elif kind == "button":
        proto = element.button
        if "__step" in proto.id and not proto.disabled:
            widgets[proto.id] = Widget(proto.id, "button")


async def _run(ws, page: str, states: dict[str, WidgetState], query: str = "") -> RunResult:
    """Ask for a script run with the given widget states and wait until it finishes."""
    message = BackMsg()
    message.rerun_script.query_string = query
    message.rerun_script.page_name = page
    message.rerun_script.widget_states.widgets.extend(states.values())
    start = time.perf_counter()
    await ws.send(message.SerializeToString())
    widgets: dict[str, Widget] = {}
    error = ""
    while True:
        raw = await asyncio.wait_for(ws.recv(), timeout=RUN_TIMEOUT_S)
        forward = ForwardMsg()
        forward.ParseFromString(raw)
        kind = forward.WhichOneof("type")
        if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
            element = forward.delta.new_element
            if element.WhichOneof("type") == "exception":
                error = error or f"exception: {element.exception.message[:200]}"
            _collect_widget(element, widgets)
        elif kind == "script_finished":
            status = forward.script_finished
            if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                continue
            seconds = time.perf_counter() - start
            ok = status in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
            if not ok:
                error = error or f"script finished with status {status}"
            return RunResult(seconds, ok and not error, error, widgets)


def _interaction(widgets: dict[str, Widget], rng: random.Random) -> WidgetState | None:
    if not widgets:
        return None
    widget = rng.choice(list(widgets.values()))
    state = WidgetState(id=widget.id)
    if widget.kind == "button":
        state.trigger_value = True
        return state
    if widget.kind == "select_slider":
        state.string_array_value.data[:] = [rng.choice(widget.options)]
        return state
    steps = max(int(round((widget.high - widget.low) / widget.step)), 1)
    value = widget.low + widget.step * rng.randint(0, steps)
    value = min(max(value, widget.low), widget.high)
    state.double_array_value.data[:] = [float(int(round(value))) if widget.integer else value]
    return state


async def student(url: str, page: str, duration: float, seed: int, records: list[dict], think: float = 5.0,
                  delay: float = 0.0, play: bool = False) -> None:
    """One student: wait ``delay`` seconds, open a page, then interact until the time is up.

    ``play``: keep training, as Play does: the page's Step pressed every ~``PLAY_TICK_S`` seconds
    (a protocol client has no browser to run Play's fragment or player, so it sends the steps)."""
    rng = random.Random(seed)
    await asyncio.sleep(delay)
    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    try:
        async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=2**26) as ws:
            states: dict[str, WidgetState] = {}
            result = await _run(ws, page, states, query=f"seed={seed % 5}")
            records.append({"page": page, "action": "open", "seconds": result.seconds, "ok": result.ok,
                            "error": result.error})
            widgets = result.widgets
            deadline = time.perf_counter() + duration
            while time.perf_counter() < deadline:
                steps = {k: w for k, w in widgets.items() if w.kind == "button"}
                state = _interaction(steps if play and steps else widgets, rng)
                if state is None:
                    break
                action = "step" if state.WhichOneof("value") == "trigger_value" else "slider"
                sent = dict(states)
                sent[state.id] = state
                result = await _run(ws, page, sent)
                if action == "slider":
                    states[state.id] = state  # slider values persist; a trigger fires once
                records.append({"page": page, "action": action, "seconds": result.seconds, "ok": result.ok,
                                "error": result.error})
                widgets.update(result.widgets)
                pause = PLAY_TICK_S if play and steps else think
                await asyncio.sleep(pause * rng.uniform(0.5, 1.5))  # a student looks at the picture
    except Exception as error:  # noqa: BLE001 - every failure is a recorded error
        records.append({"page": page, "action": "connection", "seconds": float("nan"), "ok": False,
                        "error": f"{type(error).__name__}: {error}"})


def _summary(records: list[dict]) -> dict:
    by_action: dict[str, dict] = {}
    for action in sorted({r["action"] for r in records}):
        times = sorted(r["seconds"] for r in records if r["action"] == action and r["ok"])
        errors = [r for r in records if r["action"] == action and not r["ok"]]
        by_action[action] = {
            "count": len(times) + len(errors),
            "errors": len(errors),
            "p50_s": statistics.median(times) if times else None,
            "p95_s": times[min(len(times) - 1, int(0.95 * len(times)))] if times else None,
            "first_errors": [e["error"] for e in errors[:3]],
        }
    return by_action


async def warm_up(url: str, pages: list[str]) -> float:
    """The lecturer's rehearsal: open every page once (imports, first-run caches). Returns seconds."""
    start = time.perf_counter()
    for page in pages:
        await student(url, page, 0.0, seed=0, records=[])
    return time.perf_counter() - start


async def classroom(server: AppServer, sessions: int, duration: float, pages: list[str], think: float,
                    ramp: float = 0.0, warm: bool = True) -> dict:
    warm_s = 0.0
    if warm:  # every replica (behind a proxy, a student's replica is chosen at random)
        for url in getattr(server, "replica_urls", [server.url]):
            warm_s += await warm_up(url, pages)
    records: list[dict] = []
    rss_start = server.rss_mb()
    # Students arrive spread over ``ramp`` seconds (a class opening the lecturer's link), each then
    # interacts for ``duration`` seconds.
    tasks = [student(server.url, pages[i % len(pages)], duration, seed=i, records=records, think=think,
                     delay=ramp * i / max(sessions, 1))
             for i in range(sessions)]
    peak = rss_start

    async def sample_memory():
        nonlocal peak
        while True:
            peak = max(peak, server.rss_mb())
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample_memory())
    await asyncio.gather(*tasks)
    sampler.cancel()
    return {"sessions": sessions, "duration_s": duration, "think_s": think, "ramp_s": ramp, "warm_up_s": warm_s,
            "replicas": getattr(server, "replicas", 1), "pages": pages, "rss_start_mb": rss_start,
            "rss_peak_mb": peak, "rss_end_mb": server.rss_mb(), "by_action": _summary(records),
            "by_page": {page: _summary([r for r in records if r["page"] == page]) for page in pages},
            "errors": sum(not r["ok"] for r in records), "interactions": len(records)}


async def soak(server: AppServer, sessions: int, minutes: float, pages: list[str], settle_min: float = 3.0,
               segment_min: float = 2.0) -> dict:
    """``sessions`` students for ``minutes``, each moving to the next of ``pages`` every ``segment_min``
    minutes (so every page is used); on the training pages they keep training (Step at Play's pace). Memory is read every 10 s; the reference is the reading ``settle_min``
    minutes in (every student has opened a page and built its caches), as the issue asks."""
    await warm_up(server.url, pages)
    records: list[dict] = []
    readings: list[tuple[float, float]] = []
    start = time.perf_counter()

    async def one_student(i: int) -> None:  # moves to the next page every ``segment_min`` minutes (a new tab)
        await asyncio.sleep(5.0 * i / max(sessions, 1))
        segment = 0
        while time.perf_counter() - start < minutes * 60 - 1:
            page = pages[(i + segment) % len(pages)]
            left = minutes * 60 - (time.perf_counter() - start)
            await student(server.url, page, min(segment_min * 60, left), seed=1000 * segment + i, records=records,
                          play=page in TRAINING_ALL)
            segment += 1

    tasks = [one_student(i) for i in range(sessions)]

    async def sample_memory():
        while True:
            readings.append((time.perf_counter() - start, server.rss_mb()))
            await asyncio.sleep(10.0)

    sampler = asyncio.create_task(sample_memory())
    await asyncio.gather(*tasks)
    sampler.cancel()
    readings.append((time.perf_counter() - start, server.rss_mb()))
    reference = next((mb for t, mb in readings if t >= settle_min * 60), readings[-1][1])
    end = readings[-1][1]
    return {"sessions": sessions, "minutes": minutes, "pages": pages, "rss_at_settle_mb": reference,
            "rss_end_mb": end, "rss_peak_mb": max(mb for _, mb in readings),
            "growth_after_settle_pct": 100 * (end - reference) / reference,
            "rss_every_minute_mb": [round(mb, 1) for t, mb in readings if int(t) % 60 < 10],
            "by_action": _summary(records), "by_page": {p: _summary([r for r in records if r["page"] == p])
                                                        for p in pages},
            "errors": sum(not r["ok"] for r in records), "interactions": len(records)}


async def churn(server: AppServer, count: int, page: str, settle_s: float) -> dict:
    """Open and close ``count`` sessions one after another; compare server memory."""
    warm: list[dict] = []
    for i in range(5):  # warm-up: imports, caches, first-run allocations
        await student(server.url, page, 0.0, seed=i, records=warm)
    await asyncio.sleep(settle_s)
    rss_start = server.rss_mb()
    records: list[dict] = []
    for i in range(count):
        await student(server.url, page, 0.0, seed=1000 + i, records=records)
    rss_after = server.rss_mb()
    await asyncio.sleep(settle_s)
    # Expired sessions are dropped lazily, when the session store is next touched: open one more.
    await student(server.url, page, 0.0, seed=99_999, records=records)
    gc.collect()
    rss_settled = server.rss_mb()
    return {"sessions": count, "page": page, "rss_start_mb": rss_start, "rss_right_after_mb": rss_after,
            "rss_settled_mb": rss_settled, "growth_pct": 100 * (rss_settled - rss_start) / rss_start,
            "errors": sum(not r["ok"] for r in records) + sum(not r["ok"] for r in warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--pages", nargs="+", default=CLASSICAL)
    parser.add_argument("--think", type=float, default=5.0,
                        help="mean seconds a student looks at the picture between two interactions")
    parser.add_argument("--ramp", type=float, default=10.0,
                        help="students arrive spread over this many seconds (0: all at the same instant)")
    parser.add_argument("--cold", action="store_true",
                        help="skip the warm-up (by default every page is opened once before the class arrives)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="serve with this many `streamlit run` replicas behind nginx (deploy/nginx.conf.template)")
    parser.add_argument("--warm-only", metavar="URL", nargs="+",
                        help="only open every page once on these running servers (scripts/serve_class.sh does "
                             "this for each replica before the class arrives), then exit")
    parser.add_argument("--churn", type=int, default=0, help="open and close this many sessions instead")
    parser.add_argument("--churn-page", default="Samplers")
    parser.add_argument("--soak", type=float, default=0.0, metavar="MINUTES",
                        help="a long session instead: --sessions students (default 10 here) on every page, the "
                             "training pages training all along; server memory every 10 s")
    parser.add_argument("--settle", type=float, default=130.0,
                        help="seconds to wait before measuring: Streamlit keeps a closed session 2 min for reconnects")
    args = parser.parse_args()
    if args.warm_only:
        for url in args.warm_only:
            seconds = asyncio.run(warm_up(url.rstrip("/"), CLASSICAL + TRAINING))
            print(f"{url}: every page opened once in {seconds:.1f} s")
        return
    gc.collect()
    serving = (ProxiedApp(args.replicas) if args.replicas > 1 and not (args.churn or args.soak)
               else AppServer(log_path=HERE / "load_server.log"))
    with serving as server:
        if args.churn:
            result = asyncio.run(churn(server, args.churn, args.churn_page, args.settle))
            name = "churn"
        elif args.soak:
            sessions = args.sessions if "--sessions" in " ".join(__import__("sys").argv) else 10
            result = asyncio.run(soak(server, sessions, args.soak, CLASSICAL + TRAINING + NEWER))
            name = f"soak_{sessions}x{args.soak:g}min"
        else:
            result = asyncio.run(classroom(server, args.sessions, args.duration, args.pages, args.think,
                                           ramp=args.ramp, warm=not args.cold))
            name = (f"classroom_{args.sessions}x{'_'.join(args.pages)}{'_cold' if args.cold else ''}"
                    f"{f'_{args.replicas}replicas' if args.replicas > 1 else ''}")
    print(json.dumps(result, indent=2))
    out = HERE / "load_results.json"
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing[name] = result
    out.write_text(json.dumps(existing, indent=2))


if __name__ == "__main__":
    main()
