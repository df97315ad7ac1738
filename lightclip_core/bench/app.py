"""`bench-app`: the app as its users meet it, over HTTP with gradio_client, on this machine.

1. Start ``app.py`` in a fresh process with an empty cache directory (as on a new machine or a new
   Space) and time until its port answers, then until it has warmed its default model (it does that
   after it starts serving: the checkpoint, and on a fresh machine the export of the ONNX query graph).
2. The first ``/search`` with each bundled encoder, then a second one: the first includes whatever the
   app must do on first use of that encoder (load the checkpoint; read its shipped gallery embeddings
   or encode the gallery).
3. Load: N concurrent clients call ``/search`` for T seconds, spread over three encoders: requests,
   errors, median and 95th-percentile latency, requests per second, and the CPU milliseconds per
   request of the app and of the clients. The clients run on the same machine as the app, so they are
   light by default: asyncio tasks on Gradio's REST API (``POST /gradio_api/call/search`` + its event
   stream), which go through the same queue and batching as any client. ``--client gradio_client``
   runs one `gradio_client.Client` per session instead; on two cores its threads spent ~3x the app's
   CPU per request (measured: 170 ms against 56), so it measured the clients more than the app.

Clients do not download the result images: a browser fetches them in parallel and from its cache
(gradio_client builds a new TLS context per file, ~20 ms of the client's CPU each, py-spy).
Loopback only; nothing leaves the machine. Needs httpx and gradio_client (installed with gradio).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..checkpoints import bundled_checkpoints
from ..errors import LightCLIPError
from ..fileio import log
from ..models.backbones import DEFAULT_BACKBONE
from ..profiling import machine_info

QUERIES = tuple(f"a {w} person in a {c} coat with a {b}" for w in ("tall", "short")
                for c in ("red", "blue", "green", "black", "grey") for b in ("backpack", "shoulder bag"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(app_file: str | Path, checkpoints: str | Path, gallery: str | Path, cache_dir: str | Path, log_path: Path,
              timeout_s: float = 180, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, float]:
    """Launch `app_file` (the project's app.py) on a free loopback port, in its folder; returns (process, url, seconds until the port answered)."""

    port = _free_port()
    env = {**os.environ, "LIGHTCLIP_PORT": str(port), "LIGHTCLIP_CHECKPOINTS": str(checkpoints),
           "LIGHTCLIP_GALLERY": str(gallery), "LIGHTCLIP_CACHE": str(cache_dir), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), **(extra_env or {})}
    out = open(log_path, "w")
    t0 = time.perf_counter()
    app_file = Path(app_file).resolve()
    proc = subprocess.Popen([sys.executable, str(app_file)], cwd=app_file.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}", time.perf_counter() - t0
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise LightCLIPError(f"The app did not start within {timeout_s:.0f} s; its log is {log_path}.")


def _wait_for_warm(log_path: Path, proc: subprocess.Popen, timeout_s: float = 300) -> float | None:
    """Seconds until the app says its default model is ready (it warms it after it starts serving),
    so that first searches measure each encoder, not the process's own warm-up; None if it never says."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s and proc.poll() is None:
        text = log_path.read_text(errors="replace") if log_path.is_file() else ""
        if " ready (" in text or "could not index" in text:
            return round(time.perf_counter() - t0, 2)
        time.sleep(0.2)
    return None


def cold_search(url: str, backbone: str, query: str = QUERIES[-1], k: int = 10) -> dict[str, Any]:
    """The first /search right after the port answers, as a user who opens the app at once meets it:
    seconds to connect (the app's config) and seconds of the search itself, both from the port."""
    from gradio_client import Client

    t0 = time.perf_counter()
    client = Client(url, verbose=False, httpx_kwargs={"timeout": 600}, download_files=False)
    connected = time.perf_counter() - t0
    got = client.predict(query, backbone, k, api_name="/search")
    total = time.perf_counter() - t0
    client.close()
    log(f"bench-app: first /search right after the port answered ({backbone}): {total - connected:.2f} s "
        f"(+ {connected:.2f} s to connect)")
    return {"backbone": backbone, "connect_s": round(connected, 3), "search_s": round(total - connected, 3),
            "since_port_s": round(total, 3), "results": len(got)}


def first_searches(url: str, backbones: list[str], query: str = QUERIES[0], k: int = 10) -> list[dict[str, Any]]:
    """Seconds of the first and the second /search per encoder, in one client session."""
    from gradio_client import Client

    client = Client(url, verbose=False, httpx_kwargs={"timeout": 600}, download_files=False)
    rows = []
    for b in backbones:
        t0 = time.perf_counter()
        got = client.predict(query, b, k, api_name="/search")
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        client.predict(query, b, k, api_name="/search")
        second = time.perf_counter() - t0
        rows.append({"backbone": b, "first_s": round(first, 3), "second_s": round(second, 3), "results": len(got)})
        log(f"bench-app: {b}: first /search {first:.2f} s, second {second:.2f} s")
    return rows


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (Linux /proc), None elsewhere."""

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


async def _http_search(http, url: str, q: str, b: str, k: int, session: str) -> list:
    """One /search through Gradio's REST API (``POST /gradio_api/call/search``, then its event stream):
    the queue, batching and outputs a client meets, without a client library's own overhead. Calls
    with the same `session` share one Gradio session, as a browser tab's do."""

    body = {"data": [q, b, k, "synthpedes"], "session_hash": session}  # every argument: REST fills in no defaults
    r = await http.post(f"{url}/gradio_api/call/search", json=body)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    event = None
    async with http.stream("GET", f"{url}/gradio_api/call/search/{event_id}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = line[5:].strip()
                if event == "error":
                    raise RuntimeError(f"the app answered with an error: {data[:200]}")
                return json.loads(data)[0]
    raise RuntimeError("the event stream ended without a result")


def load(url: str, encoders: list[str], clients: int = 20, seconds: float = 30, k: int = 10,
         client: str = "http", server_pid: int | None = None, warm: bool = True) -> dict[str, Any]:
    """`clients` concurrent sessions calling /search for `seconds` over `encoders` (client i uses
    encoder i mod E). `client="http"` (default): asyncio tasks on Gradio's REST API in this process;
    ``"gradio_client"``: one `gradio_client.Client` per session in its own thread, as a Python user
    would call the app (its SSE threads cost ~3x the app's own CPU per request on two cores, so it
    measures the clients more than the app). With `server_pid`, the app's CPU seconds are reported
    beside the clients' own. `warm=False` skips the untimed first search per encoder (http clients)."""
    if client == "gradio_client":
        return _load_gradio_client(url, encoders, clients, seconds, k, server_pid)
    if client != "http":
        raise LightCLIPError(f"Unknown load client {client!r}; use http or gradio_client.")

    import httpx

    latencies: list[float] = []
    errors: list[str] = []

    async def main() -> tuple[float, float, float | None]:
        limits = httpx.Limits(max_connections=2 * clients + 4, max_keepalive_connections=2 * clients + 4)
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            for b in encoders if warm else ():  # first use of each encoder happens before the clock starts
                await _http_search(http, url, QUERIES[0], b, k, "lightclip-load-warm")
            stop_at = time.perf_counter() + seconds

            async def run(i: int) -> None:
                b, n = encoders[i % len(encoders)], 0
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    try:
                        got = await _http_search(http, url, QUERIES[(i + n) % len(QUERIES)], b, k, f"lightclip-load-{i}")
                        why = None if len(got) == k else f"{len(got)} results for k={k}"
                    except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                        why = f"{type(exc).__name__}: {exc}"
                    (errors.append(why) if why else latencies.append(time.perf_counter() - t0))
                    n += 1

            c0, s0, t0 = _own_cpu_s(), _cpu_s(server_pid) if server_pid else None, time.perf_counter()
            await asyncio.gather(*(run(i) for i in range(clients)))
            wall = time.perf_counter() - t0
            s1 = _cpu_s(server_pid) if server_pid else None
            return wall, _own_cpu_s() - c0, (s1 - s0) if s0 is not None and s1 is not None else None

    wall, client_cpu, server_cpu = asyncio.run(main())
    return _load_summary("http", clients, wall, encoders, latencies, errors, client_cpu, server_cpu)


def _load_summary(client: str, clients: int, wall: float, encoders: list[str], latencies: list[float], errors: list[str],
                  client_cpu: float, server_cpu: float | None) -> dict[str, Any]:
    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else None
    done = len(lat) + len(errors)
    return {"client": client, "clients": clients, "seconds": round(wall, 1), "encoders": encoders, "requests": done,
            "errors": len(errors), "error_examples": errors[:3],
            "p50_s": round(statistics.median(lat), 3) if lat else None, "p95_s": round(p95, 3) if p95 else None,
            "max_s": round(lat[-1], 3) if lat else None,
            "requests_per_s": round(len(lat) / wall, 2),
            "client_cpu_ms_per_request": round(1e3 * client_cpu / done, 1) if done else None,
            "app_cpu_ms_per_request": round(1e3 * server_cpu / done, 1) if done and server_cpu is not None else None}


def _load_gradio_client(url: str, encoders: list[str], clients: int, seconds: float, k: int,
                        server_pid: int | None) -> dict[str, Any]:
    from gradio_client import Client

    sessions = [Client(url, verbose=False, httpx_kwargs={"timeout": 120}, download_files=False) for _ in range(clients)]
    for b in encoders:  # first use of each encoder happens before the clock starts
        sessions[0].predict(QUERIES[0], b, k, api_name="/search")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def run(i: int) -> None:
        c, b, n = sessions[i], encoders[i % len(encoders)], 0
        start.wait()
        while time.perf_counter() < stop_at[0]:
            q = QUERIES[(i + n) % len(QUERIES)]
            t0 = time.perf_counter()
            try:
                got = c.predict(q, b, k, api_name="/search")
                ok = len(got) == k
                why = None if ok else f"{len(got)} results for k={k}"
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                ok, why = False, f"{type(exc).__name__}: {exc}"
            with lock:
                (latencies.append(time.perf_counter() - t0) if ok else errors.append(why))
            n += 1

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    c0, s0, t0 = _own_cpu_s(), _cpu_s(server_pid) if server_pid else None, time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    s1 = _cpu_s(server_pid) if server_pid else None
    server_cpu = (s1 - s0) if s0 is not None and s1 is not None else None
    return _load_summary("gradio_client", clients, wall, encoders, latencies, errors, _own_cpu_s() - c0, server_cpu)


def run_app_bench(checkpoints: str | Path = "checkpoints", gallery: str | Path = "gallery", clients: int = 20,
                  seconds: float = 30, encoders: list[str] | None = None, first: bool = True,
                  client: str = "http", baseline: bool = False, stall: bool = False, *,
                  app_file: str | Path) -> dict[str, Any]:
    """Start `app_file` with an empty cache; first searches per bundled encoder; then the load test.
    With `baseline`, the load test again on an app without gradio_tuning (`load_untuned`, `ratios`);
    with `stall`, `stall_test`: 5 clients of the default encoder beside one encoder's first use."""

    backbones = list(bundled_checkpoints(checkpoints))
    if not backbones:
        raise LightCLIPError(f"No checkpoints under {checkpoints}: bench-app measures the app's bundled encoders.")
    encoders = encoders or [b for b in ("mobilenetv3_small_100", "mobilenetv3_large_100", DEFAULT_BACKBONE)
                            if b in backbones] or backbones[:3]
    unknown = [b for b in encoders if b not in backbones]
    if unknown:
        raise LightCLIPError(f"No checkpoint for {', '.join(unknown)} under {checkpoints}; there are: {', '.join(backbones)}.")
    doc: dict[str, Any] = {"machine": machine_info("cpu")}
    default = next((b for b in (DEFAULT_BACKBONE, "mobilenetv3_large_100") if b in backbones), backbones[0])
    with _fresh_app(app_file, checkpoints, gallery, {"LIGHTCLIP_GRADIO_TUNING": "1"} if baseline else None,
                    cold_backbone=default) as (proc, url, startup, warm, cold):
        doc.update(startup_s=round(startup, 2), warm_s=warm, cold_search=cold)
        if first:
            doc["first_search"] = first_searches(url, backbones)
        if clients > 0 and seconds > 0:
            doc["load"] = load(url, encoders, clients, seconds, client=client, server_pid=proc.pid)
    if baseline and clients > 0 and seconds > 0:
        # The same load on an app started with LIGHTCLIP_GRADIO_TUNING=0 (Gradio's per-request costs
        # left as they are; see gradio_tuning.py), right after, so the two differ only in that.
        with _fresh_app(app_file, checkpoints, gallery, {"LIGHTCLIP_GRADIO_TUNING": "0"}) as (proc, url, _, _, _):
            doc["load_untuned"] = load(url, encoders, clients, seconds, client=client, server_pid=proc.pid)
        tuned, untuned = doc["load"]["requests_per_s"], doc["load_untuned"]["requests_per_s"]
        doc["ratios"] = {"tuned_vs_untuned_requests_per_s": round(tuned / untuned, 2) if untuned else None}
    if stall:
        slow = next((b for b in ("efficientnet_b3", "inception_v3", "coatnet_0_rw_224") if b in backbones and b != default),
                    None) or next(b for b in backbones if b != default)
        doc["stall"] = stall_test(app_file, checkpoints, gallery, default, slow, seconds=min(seconds, 20))
        doc.setdefault("ratios", {})["fast_p95_beside_slow_vs_alone"] = doc["stall"]["fast_p95_beside_slow_vs_alone"]
    doc["command"] = ("python -m lightclip_core bench-app" + (" --baseline" if baseline else "")
                      + (" --stall" if stall else ""))
    return doc


def stall_test(app_file: str | Path, checkpoints: str | Path, gallery: str | Path, fast: str, slow: str,
               clients: int = 5, seconds: float = 20) -> dict[str, Any]:
    """Does one slow request stall the others? `clients` clients search the ready encoder `fast` for
    `seconds` alone, then again while one /search for `slow` makes the app load it and encode the whole
    gallery (its shipped embeddings are left out of a copy of `checkpoints`, and nothing is preloaded).
    Reports both loads, the slow call's own outcome, and the fast clients' p95 and worst wait beside it
    over alone."""

    import httpx

    src = Path(checkpoints).resolve()
    with tempfile.TemporaryDirectory(prefix="lightclip-stall-") as tmp:
        ck = Path(tmp) / "checkpoints"
        ck.mkdir()
        for entry in src.iterdir():
            if entry.name == slow:
                (ck / slow).mkdir()
                for name in ("config.json", "model.safetensors"):
                    os.symlink(entry / name, ck / slow / name)
            else:
                os.symlink(entry, ck / entry.name)
        with _fresh_app(app_file, ck, gallery, {"LIGHTCLIP_PRELOAD": "0"}) as (proc, url, _, _, _):
            alone = load(url, [fast], clients, seconds, server_pid=proc.pid)
            outcome: dict[str, Any] = {}

            def slow_call() -> None:
                async def one() -> None:
                    async with httpx.AsyncClient(timeout=600) as http:
                        await _http_search(http, url, QUERIES[1], slow, 10, "lightclip-stall-slow")

                t0 = time.perf_counter()
                try:
                    asyncio.run(one())
                    outcome["answer"] = "results"
                except Exception as exc:  # noqa: BLE001 - "still getting ready" is an expected answer
                    outcome["answer"] = str(exc)[:160]
                outcome["seconds"] = round(time.perf_counter() - t0, 1)

            caller = threading.Thread(target=slow_call, daemon=True)
            caller.start()
            time.sleep(0.5)  # the slow call is in
            beside = load(url, [fast], clients, seconds, server_pid=proc.pid, warm=False)  # the clock runs at once
            caller.join(600)
    def ratio(key: str) -> float | None:
        return round(beside[key] / alone[key], 2) if alone.get(key) and beside.get(key) else None

    # A stall shows in the worst wait: the few calls caught behind the slow one are a small share of a
    # closed loop's requests, so their p95 moves only when the stall is long or frequent.
    return {"fast": fast, "slow": slow, "clients": clients, "alone": alone, "beside_slow": beside, "slow_call": outcome,
            "fast_p95_beside_slow_vs_alone": ratio("p95_s"), "fast_max_beside_slow_vs_alone": ratio("max_s")}


@contextlib.contextmanager
def _fresh_app(app_file: str | Path, checkpoints: str | Path, gallery: str | Path, extra_env: dict[str, str] | None = None,
               cold_backbone: str | None = None):
    """app.py started with an empty cache and waited for until warm: yields (process, url, seconds until
    its port answered, seconds more until its default model was warm, `cold_search` with
    `cold_backbone` the moment the port answered or None); stopped on leaving."""
    with tempfile.TemporaryDirectory(prefix="lightclip-bench-app-") as tmp:
        log_path = Path(tmp) / "app.log"
        proc, url, startup = start_app(app_file, Path(checkpoints).resolve(), Path(gallery).resolve(), Path(tmp) / "cache",
                                       log_path, extra_env=extra_env)
        env = ", ".join(f"{k}={v}" for k, v in (extra_env or {}).items())
        log(f"bench-app: the app{f' ({env})' if env else ''} answered on {url} after {startup:.1f} s")
        try:
            cold = cold_search(url, cold_backbone) if cold_backbone else None
            yield proc, url, startup, _wait_for_warm(log_path, proc), cold
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


__all__ = ["cold_search", "first_searches", "load", "run_app_bench", "stall_test", "start_app"]
