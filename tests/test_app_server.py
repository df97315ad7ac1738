"""The app on a local port: gradio_client and raw HTTP clients (search, compare, uploads, hostile
requests, load), then (marked `browser`) a real headless Chromium through Playwright, and bench-app."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, people_pictures
from lightclip_core.app import views

ARTIFACTS = REPO / "tests" / "artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(site):
    port = _free_port()
    env = {**os.environ, "LIGHTCLIP_PORT": str(port), "LIGHTCLIP_CHECKPOINTS": str(site["ckpts"]),
           "LIGHTCLIP_GALLERY": str(site["gallery"]), "LIGHTCLIP_CACHE": str(site["cache"]),
           "LIGHTCLIP_UPLOAD_DIR": str(site["base"] / "uploads"), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(site["base"] / "app.log", "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((site["base"] / "app.log").read_text())
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("the app did not start in 120 s:\n" + (site["base"] / "app.log").read_text())
    yield {"url": url, "startup_s": time.perf_counter() - t0}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.mark.slow
def test_client_search_compare_and_bad_inputs(server, site):
    from gradio_client import Client

    client = Client(server["url"], verbose=False)
    query = "a woman in a green coat with a red bag"
    out = client.predict(query, "mobilenetv3_small_100", 4, api_name="/search")
    want, _, _ = views.search_view(site["pool"], query, "mobilenetv3_small_100", 4)
    assert [o["caption"] for o in out] == [c for _, c in want]
    assert all(Path(o["image"]).is_file() for o in out)
    street = client.predict(query, "mobilenetv3_small_100", 4, "street", api_name="/search")
    want, _, _ = views.search_view(site["pool"], query, "mobilenetv3_small_100", 4, gallery="street")
    assert [o["caption"] for o in street] == [c for _, c in want] and all(" · track " in o["caption"] for o in street)
    # what a client is sent names the app's own serving folder, never where the project is installed
    event, data = _raw_search(server["url"], json.dumps({"data": [query, "mobilenetv3_small_100", 3, "street"]}))
    assert event == "complete" and "lightclip-served-" in data and str(REPO) not in data, data[:300]
    with pytest.raises(Exception, match="'attic'.*not in the list of choices"):
        client.predict(query, "mobilenetv3_small_100", 4, "attic", api_name="/search")
    assert client.predict("", "mobilenetv3_small_100", 4, api_name="/search") == []
    assert len(client.predict("blue " * 2000, "mobilenetv3_small_100", 3, api_name="/search")) == 3
    with pytest.raises(Exception, match="No checkpoint for coatnet_0_rw_224"):  # its own sentence, as the UI's
        client.predict("a man", "coatnet_0_rw_224", 4, api_name="/search")
    g1, g2, g3, note = client.predict(query, ["mobilenetv3_small_100", "mobilenetv3_large_100"], 5, api_name="/compare")
    assert len(g1) == len(g2) == 5 and g3 == [] and "overlap" in note
    why = client.predict(query, "mobilenetv3_small_100", 2, False, api_name="/explain")
    assert why == views.explain_view(site["pool"], query, "mobilenetv3_small_100", 2)
    with pytest.raises(Exception, match="does not exist"):
        client.predict(query, "mobilenetv3_small_100", 999, False, api_name="/explain")


@pytest.mark.slow
def test_eight_concurrent_clients_get_their_own_answers(server, site):
    from gradio_client import Client

    queries = [f"a person in a {c} jacket" for c in ("red", "blue", "green", "black", "white", "grey", "yellow", "brown")]
    backbones = ["mobilenetv3_small_100", "mobilenetv3_large_100"] * 4
    want = [[c for _, c in views.search_view(site["pool"], q, b, 6)[0]] for q, b in zip(queries, backbones)]

    def ask(i):
        c = Client(server["url"], verbose=False)
        return [o["caption"] for o in c.predict(queries[i], backbones[i], 6, api_name="/search")]

    with cf.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(ask, range(8)))
    assert got == want


def _raw_search(url: str, body: str) -> tuple[str, str]:
    """POST a hand-written JSON body to /search (a client library cannot send a lone surrogate) and
    read its event stream: ``(event, data)``, event "complete" or "error"."""
    import httpx

    with httpx.Client(timeout=120) as http:
        r = http.post(f"{url}/gradio_api/call/search", content=body.encode(),
                      headers={"content-type": "application/json"})
        r.raise_for_status()
        event = None
        with http.stream("GET", f"{url}/gradio_api/call/search/{r.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    return event, line[5:].strip()
    raise AssertionError("the event stream ended without a result")


# REST calls carry every argument (Gradio's REST route fills in no defaults; gradio_client does)
HOSTILE_BODIES = ['{"data": ["a man \\ud800 in red", "mobilenetv3_small_100", 5, "synthpedes"]}',  # answered, cleaned
                  '{"data": ["a man", null, 5, "synthpedes"]}', '{"data": ["a man", ["x", "y"], 5, "synthpedes"]}',
                  '{"data": ["a man", 7, 5, "synthpedes"]}']


@pytest.mark.slow
def test_a_hostile_client_among_twelve_good_ones_fails_alone(server, site):
    from gradio_client import Client

    queries = [f"a {w} person in a {c} jacket" for w in ("tall", "short") for c in ("red", "blue", "green",
                                                                                  "black", "white", "grey")]
    want = [[c for _, c in views.search_view(site["pool"], q, "mobilenetv3_small_100", 5)[0]] for q in queries]
    clients = [Client(server["url"], verbose=False, httpx_kwargs={"timeout": 120}) for _ in range(12)]

    def ask(i):
        if i == 12:  # the hostile one, sent over and over while the others search
            return [_raw_search(server["url"], body)[0] for _ in range(5) for body in HOSTILE_BODIES]
        return [[o["caption"] for o in clients[i].predict(queries[i], "mobilenetv3_small_100", 5,
                                                          api_name="/search")] for _ in range(3)]

    with cf.ThreadPoolExecutor(13) as ex:
        got = list(ex.map(ask, range(13)))
    assert got[12] == ["complete", "error", "error", "error"] * 5  # each hostile call: its own answer
    assert got[:12] == [[w] * 3 for w in want]  # 12 of 12 good answers, every time
    for body in HOSTILE_BODIES[1:]:  # refused by Gradio's own check of the choice, or by ours: one sentence
        event, data = _raw_search(server["url"], body)
        message = json.loads(data)["error"]
        assert event == "error" and "Traceback" not in message, body
        assert "not in the list of choices" in message or "Name one model as a string" in message, message
    event, data = _raw_search(server["url"], HOSTILE_BODIES[0])
    assert [o["caption"] for o in json.loads(data)[0]] == [
        c for _, c in views.search_view(site["pool"], "a man in red", "mobilenetv3_small_100", 5)[0]]


@pytest.mark.slow
def test_client_upload_search_mine_and_similar(server, site, tmp_path):
    from gradio_client import Client, handle_file

    a, b = Client(server["url"], verbose=False), Client(server["url"], verbose=False)
    with pytest.raises(Exception, match="call /upload first"):
        a.predict("a man", "mobilenetv3_small_100", 3, api_name="/search_mine")
    mine_a = people_pictures(tmp_path / "a", [(200, 30, 30), (30, 30, 200), (30, 160, 30)])
    mine_b = people_pictures(tmp_path / "b", [(240, 240, 240)] * 5)
    status = a.predict([handle_file(p) for p in mine_a], "mobilenetv3_small_100", api_name="/upload")
    assert "Indexed **3** images" in status
    assert "Indexed **5** images" in b.predict([handle_file(p) for p in mine_b], "mobilenetv3_small_100",
                                               api_name="/upload")
    # Each session searches its own uploads only: A's three pictures, B's five.
    got_a = a.predict("a person in red", "mobilenetv3_small_100", 10, api_name="/search_mine")
    got_b = b.predict("a person in red", "mobilenetv3_small_100", 10, api_name="/search_mine")
    assert len(got_a) == 3 and len(got_b) == 5
    assert a.predict("", "mobilenetv3_small_100", 3, api_name="/search_mine") == []
    with pytest.raises(Exception, match="indexed with mobilenetv3_small_100"):
        a.predict("a man", "mobilenetv3_large_100", 3, api_name="/search_mine")
    # /similar: image-to-image from a gallery row, as the UI's "Find people like the selected result".
    want, _, _ = views.similar_view(site["pool"], "mobilenetv3_small_100", 4, 5)
    out = a.predict(4, "mobilenetv3_small_100", 5, False, api_name="/similar")
    assert [o["caption"] for o in out] == [c for _, c in want]
    assert len(a.predict(0, "mobilenetv3_small_100", 5, True, api_name="/similar")) == 2  # A's other two
    with pytest.raises(Exception, match="does not exist"):
        a.predict(999, "mobilenetv3_small_100", 5, False, api_name="/similar")


@pytest.mark.slow
def test_a_sessions_uploads_are_deleted_when_it_ends(server, site, tmp_path):
    """An API client is a session (it keeps a heartbeat); when it closes, its upload folder goes."""
    from gradio_client import Client, handle_file

    root = site["base"] / "uploads"
    before = set(root.iterdir())
    client = Client(server["url"], verbose=False)
    pictures = people_pictures(tmp_path / "mine", [(200, 30, 30), (30, 30, 200)])
    assert "Indexed **2** images" in client.predict([handle_file(p) for p in pictures], "mobilenetv3_small_100",
                                                    api_name="/upload")
    mine = set(root.iterdir()) - before
    assert len(mine) == 1 and len(list(next(iter(mine)).iterdir())) == 2
    cached = lambda: sorted(p for p in (root / "gradio").rglob("*") if p.is_file())  # noqa: E731
    kept = cached()
    assert len(client.predict("a person in red", "mobilenetv3_small_100", 2, api_name="/search_mine")) == 2
    assert cached() == kept  # the session's results are served from its folder, not copied into Gradio's cache
    client.close()
    deadline = time.time() + 90
    while time.time() < deadline and any(p.exists() for p in mine):
        time.sleep(0.5)
    assert not any(p.exists() for p in mine), "the closed session's uploads are still on disk"


@pytest.mark.slow
def test_load_twenty_clients_over_three_encoders_with_private_uploads(server, site, tmp_path):
    """About 10 s of 20 concurrent /search clients over three encoders while three other sessions
    upload and search their own pictures: no errors, every answer the right length and the answer
    to its own query, and no session ever sees another's uploads."""
    from gradio_client import Client, handle_file

    encoders = ["mobilenetv3_small_100", "mobilenetv3_large_100", "mobilenetv2_100"]
    queries = [f"a {w} person in a {c} coat" for w in ("tall", "short") for c in ("red", "blue", "green", "black")]
    want = {(q, b): [c for _, c in views.search_view(site["pool"], q, b, 5)[0]] for q in queries for b in encoders}
    # Clients connect before the clock starts (a generous read timeout: CI machines are shared).
    clients = [Client(server["url"], verbose=False, httpx_kwargs={"timeout": 120}) for _ in range(23)]
    for b in encoders:  # the app indexes its gallery with each encoder once, before the clock starts
        clients[0].predict(queries[0], b, 5, api_name="/search")
    deadline = time.time() + 10

    def searcher(i: int) -> int:
        c = clients[i]
        n = 0
        while time.time() < deadline:
            q, b = queries[(i + n) % len(queries)], encoders[i % len(encoders)]
            got = [o["caption"] for o in c.predict(q, b, 5, api_name="/search")]
            assert got == want[(q, b)], (i, n, q, b)
            n += 1
        return n

    def uploader(j: int) -> int:
        c = clients[20 + j]
        pictures = people_pictures(tmp_path / f"up{j}", [(40 * j, 200 - 40 * j, 90)] * (j + 2))
        c.predict([handle_file(p) for p in pictures], encoders[j], api_name="/upload")
        n = 0
        while time.time() < deadline or n == 0:
            got = c.predict("a person in a green coat", encoders[j], 10, api_name="/search_mine")
            assert len(got) == j + 2, (j, len(got))
            n += 1
        return n

    with cf.ThreadPoolExecutor(23) as ex:
        searches = [ex.submit(searcher, i) for i in range(20)]
        uploads = [ex.submit(uploader, j) for j in range(3)]
        done = [f.result() for f in searches], [f.result() for f in uploads]
    assert all(n >= 1 for n in done[0]) and all(n >= 1 for n in done[1])
    print(f"load: {sum(done[0])} searches, {sum(done[1])} own-gallery searches in ~10 s")


def _chromium():
    """``(sync_playwright, chromium path, launch args)``, or skip (fail under LIGHTCLIP_REQUIRE_BROWSER=1)."""
    chromium = Path(os.environ.get("LIGHTCLIP_CHROMIUM", "/usr/bin/chromium"))
    required = os.environ.get("LIGHTCLIP_REQUIRE_BROWSER") == "1"
    if not chromium.exists():
        if required:
            pytest.fail(f"{chromium} is missing but LIGHTCLIP_REQUIRE_BROWSER=1 (CI installs it with apt-get).")
        pytest.skip(f"no {chromium} (apt-get install chromium to run the browser test)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]
    return sync_playwright, chromium, args


@pytest.mark.browser
def test_browser_search_and_tradeoffs(server):
    sync_playwright, chromium, args = _chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=args, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server["url"], wait_until="domcontentloaded", timeout=60_000)
        page.get_by_label("Description").first.wait_for(timeout=60_000)
        page.get_by_label("Description").first.fill("a woman in a red coat with a black backpack")
        page.get_by_role("button", name="Search", exact=True).click()
        images = page.locator("#results img")
        images.nth(9).wait_for(timeout=60_000)
        assert images.count() >= 10  # the default top-K
        page.get_by_text("cos ").first.wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)
        # rank, score and person id readable on every tile: no caption cut with an ellipsis
        cut = "els => els.filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"
        assert page.locator("#results .caption-label").count() >= 10
        assert page.locator("#results .caption-label").evaluate_all(cut) == []
        page.get_by_role("tab", name="Compare").click()
        page.get_by_label("Description").nth(1).fill("a man in a grey jacket")
        page.get_by_role("button", name="Compare", exact=True).click()
        page.get_by_text("Top-K overlap").first.wait_for(timeout=60_000)
        page.locator("#compare-1 img").nth(7).wait_for(timeout=60_000)  # two models chosen: two panels
        assert page.locator("#compare-0").is_visible() and not page.locator("#compare-2").is_visible()
        assert page.get_by_text("Synthetic-trained:").count() == 1  # the caveat once, not per model
        assert page.locator(".lc-results .caption-label").evaluate_all(cut) == []
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
        page.get_by_role("tab", name="Trade-offs").click()
        page.locator("#tradeoff-plot .plot-container, #tradeoff-plot .js-plotly-plot").first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "tradeoffs.png"), full_page=True)
        browser.close()


@pytest.mark.slow
@pytest.mark.browser
def test_browser_real_people_one_click_from_the_first_screen(server):
    """The first screen to the street video's people: one click on Search (then a result's frame), one
    on Compare; nothing typed."""
    sync_playwright, chromium, args = _chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=args, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server["url"], wait_until="domcontentloaded", timeout=60_000)
        page.locator("#search-gallery").get_by_text("Street — real video").click()
        page.locator("#results").get_by_text(" · track ").first.wait_for(timeout=60_000)
        assert page.get_by_label("Description").first.input_value() == views.STREET_QUERIES[0]
        page.locator("#results img").first.click()
        page.locator("#seen-in img").first.wait_for(timeout=30_000)  # the frame it was seen in
        page.screenshot(path=str(ARTIFACTS / "street.png"), full_page=True)
        page.get_by_role("tab", name="Compare").click()
        page.locator("#compare-gallery").get_by_text("Street — real video").click()
        page.locator("#compare-0").get_by_text(" · track ").first.wait_for(timeout=60_000)
        page.locator("#compare-1").get_by_text(" · track ").first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "compare-street.png"), full_page=True)
        browser.close()


@pytest.mark.browser
def test_browser_street_video_to_tracks_and_the_frame(server, tmp_path):
    """A user uploads a street video in *Your gallery*, searches it, clicks a result and sees the frame
    the person was seen in, with the box drawn."""
    sync_playwright, chromium, args = _chromium()
    pytest.importorskip("cv2")
    from test_footage import vtest_clip

    clip = vtest_clip(tmp_path / "street.mp4", 30)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=args, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server["url"], wait_until="domcontentloaded", timeout=60_000)
        page.get_by_role("tab", name="Your gallery").click()
        page.locator("input[type=file]").first.set_input_files(str(clip))
        page.get_by_role("button", name="Index my gallery").click()
        page.get_by_text("people tracks").first.wait_for(timeout=120_000)
        page.get_by_role("tab", name="Search").first.click()
        page.get_by_label("Search my uploaded gallery").check()
        page.get_by_label("Description").first.fill("a man in a dark jacket")
        # the session's gallery is footage: the camera and time filters are shown; a time span keeps it
        page.get_by_label("From (into the video: 90, 1:30)").fill("0:01")
        page.get_by_label("To", exact=True).fill("2")
        page.get_by_role("button", name="Search", exact=True).click()
        page.get_by_text("· track ").first.wait_for(timeout=60_000)
        page.locator("#results img").first.click()
        page.locator("#seen-in img").first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "footage.png"), full_page=True)
        page.get_by_role("button", name="Search", exact=True).click()  # new results: the old frame goes
        page.locator("#seen-in").wait_for(state="hidden", timeout=30_000)
        browser.close()


@pytest.mark.slow
def test_bench_app_times_first_searches_and_concurrent_clients(site):
    """`bench-app` on the tiny site: a fresh app, a first and second /search per encoder, a short load run."""
    from lightclip_core.bench.app import run_app_bench

    doc = run_app_bench(site["ckpts"], site["gallery"], app_file=REPO / "app.py", clients=3, seconds=2,
                        encoders=["mobilenetv3_small_100", "mobilenetv3_large_100"])
    assert doc["startup_s"] > 0
    cold = doc["cold_search"]  # the app's default model, asked the moment the port answered
    assert cold["backbone"] == "mobilenetv3_large_100" and cold["results"] == 10 and cold["search_s"] > 0
    assert [r["backbone"] for r in doc["first_search"]] == sorted(["mobilenetv3_small_100", "mobilenetv3_large_100",
                                                                   "mobilenetv2_100"])
    assert all(r["results"] == 10 and r["first_s"] > 0 and r["second_s"] > 0 for r in doc["first_search"])
    ld = doc["load"]
    assert ld["errors"] == 0 and ld["requests"] >= 3 and ld["p50_s"] <= ld["p95_s"]
    assert ld["client"] == "http" and ld["app_cpu_ms_per_request"] > 0 and ld["client_cpu_ms_per_request"] > 0
    # the same load through gradio_client sessions (what a Python user of the API runs)
    # (and again on an app without gradio_tuning, for the side-by-side ratio)
    doc = run_app_bench(site["ckpts"], site["gallery"], app_file=REPO / "app.py", clients=2, seconds=1, encoders=["mobilenetv3_small_100"],
                        first=False, client="gradio_client", baseline=True)
    for ld in (doc["load"], doc["load_untuned"]):
        assert ld["client"] == "gradio_client" and ld["errors"] == 0 and ld["requests"] >= 2
    assert doc["ratios"]["tuned_vs_untuned_requests_per_s"] > 0 and doc["command"].endswith("--baseline")
    with pytest.raises(Exception, match="No checkpoint for efficientnet_b3"):
        run_app_bench(site["ckpts"], site["gallery"], app_file=REPO / "app.py", encoders=["efficientnet_b3"])
    # one encoder's first use beside clients of another (--stall): both loads answered, the slow call's outcome
    doc = run_app_bench(site["ckpts"], site["gallery"], app_file=REPO / "app.py", clients=1, seconds=2,
                        encoders=["mobilenetv3_small_100"], first=False, stall=True)
    st = doc["stall"]
    assert st["fast"] == "mobilenetv3_large_100" and st["slow"] != st["fast"] and st["slow_call"]["answer"] == "results"
    assert st["alone"]["errors"] == st["beside_slow"]["errors"] == 0 and st["fast_p95_beside_slow_vs_alone"] > 0
    assert doc["command"].endswith("--stall")
