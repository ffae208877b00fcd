"""The controller's dashboard in a real headless Chromium (Debian's, driven by
Playwright): a controller and two real nodes, tasks from a real client, a node killed,
the other drained from the page's button, and the screenshot of docs/img/dashboard.png.

Skipped only where the browser cannot run: Playwright not installed (the test extra),
no ``/usr/bin/chromium`` (``make system-deps`` installs it), or Chromium refusing to
start; the reason is printed with the skip. With ``DASHBOARD_REQUIRE_BROWSER=1``
(``make docs``) those fail instead, so that the screenshot is never silently stale.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

from edgeoffload import Client
from edgeoffload.auth import make_token
from edgeoffload.controller.web import format_value
from edgeoffload.metrics import METRIC_NAMES
from tests.conftest import NodeProcess
from tests.integration.test_controller import wait_for, ws_url

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"
CHROMIUM = "/usr/bin/chromium"
#: What works on this kind of machine (root, no GPU, no display): no sandbox, no GPU
#: process, and none of Chromium's own calls home, which would also break the
#: "no request leaves the site" assertion below.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Heartbeats four times a second, so that a killed node is dead within seconds.
BEAT_S = "0.25"
#: A label that would fetch an image from another host if the page failed to escape it.
HOSTILE = "<img src=http://203.0.113.7/x.png>"
SECRET = "dashboard-secret-long-enough-for-hs256-0123456789"


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("DASHBOARD_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        unavailable(f"no {CHROMIUM}: `make system-deps` installs Debian's chromium")
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
            )
        except Error as exc:
            unavailable(f"Chromium cannot start here: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()


class Requests:
    """Every URL the page asks for (documents, scripts, fetches, images)."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))

    def foreign(self, site: str) -> list[str]:
        here = urlsplit(site).netloc
        return [u for u in self.urls if urlsplit(u).scheme != "data" and urlsplit(u).netloc != here]


def node_args(controller: NodeProcess, node_id: str, *extra: str) -> list[str]:
    return ["--workers", "1", "--controller", ws_url(controller), "--node-id", node_id,
            "--heartbeat-interval-s", BEAT_S, *extra]  # fmt: skip


def rest(controller: NodeProcess, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(controller.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class Load:
    """A real client submitting tasks through the controller's table, on its own
    thread and event loop (Playwright's sync API holds this thread's)."""

    def __init__(self, controller: NodeProcess) -> None:
        self.url = ws_url(controller)
        self.done = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-load")

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        async def main() -> None:
            async with Client([], controller=self.url) as client:
                await client.wait_for_nodes(2)
                # A burst first: more than the workers take at once, so the nodes queue.
                await client.map("sleep", [0.005] * 400, where="edge")
                while not self._stop.is_set():
                    # Quick tasks for throughput, 10 ms ones for latency and a queue.
                    # All on the edge: the offload share is then exactly 100 %.
                    quick, slow = await asyncio.gather(
                        client.map("echo_pool", range(40), where="edge"),
                        client.map("sleep", [0.01] * 12, where="edge"),
                    )
                    self.done += len(quick) + len(slow)
                    await asyncio.sleep(0.02)
                await asyncio.sleep(1.5)  # one more report of the client's counts

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc


def test_the_dashboard_follows_the_site_live_and_drains_from_its_button(
    browser: Any,
    controller_factory: Callable[..., NodeProcess],
    node_factory: Callable[..., NodeProcess],
    tmp_path: Path,
) -> None:
    controller = controller_factory(
        "--store", f"sqlite:///{tmp_path}/c.db", "--heartbeat-interval-s", BEAT_S
    )
    a = node_factory(*node_args(controller, "edge-a", "--labels", "zone=north", f"note={HOSTILE}"))
    node_factory(*node_args(controller, "edge-b", "--labels", "zone=south", "gpu=false"))

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors include what the Content-Security-Policy refused.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    requests = Requests(page)
    page.goto(controller.url + "/")
    page.wait_for_selector("#live.on")

    # Both nodes, alive, with every metric filled in by a heartbeat, and their labels
    # shown as text (the hostile one escaped, so no image is fetched).
    for node_id in ("edge-a", "edge-b"):
        card = f'article.node[data-node="{node_id}"]'
        page.wait_for_selector(f'{card}[data-state="alive"]')
        page.wait_for_function(
            "sel => document.querySelector(sel).textContent !== '–'",
            arg=f'{card} dd[data-metric="memory_available_bytes"]',
        )
        shown = page.locator(f"{card} dd[data-metric]").evaluate_all(
            "els => els.map(e => e.dataset.metric)"
        )
        assert sorted(shown) == sorted(METRIC_NAMES)
    # The script formats metrics as the server does (two copies of one small function).
    cases = [[None, "ms"], [0.0012, "ms"], [12.345, "ms"], [1234.0, "ms"], [512, "bytes"],
             [1536, "bps"], [300 * 1024**2, "bytes"], [42.4, "pct"], [7, "int"],
             [3.14159, "rate"], [180.0, "rate"], [41.2, "celsius"]]  # fmt: skip
    scripted = page.evaluate("cases => cases.map(([v, k]) => formatValue(v, k))", cases)
    assert scripted == [format_value(v, k) for v, k in cases]
    labels = page.locator('article.node[data-node="edge-a"] .labels li').all_inner_texts()
    assert labels == [f"note={HOSTILE}", "zone=north"]
    assert page.locator('article.node[data-node="edge-a"] img').count() == 0

    # Tasks run: the throughput chart rises from zero, and the client's offload share
    # (every task went to the edge) is charted.
    page.select_option("#window", "60")
    assert float(page.get_attribute("#chart-throughput", "data-max") or 0) == 0
    with Load(controller) as load:
        page.wait_for_function(
            "() => Number(document.querySelector('#chart-throughput').dataset.max) > 5",
            timeout=30_000,
        )
        page.wait_for_function(
            "() => Number(document.querySelector('#chart-share').dataset.points) >= 1",
            timeout=30_000,
        )
        assert float(page.get_attribute("#chart-queue", "data-max") or 0) > 0
        time.sleep(2.0)  # a few seconds of throughput for the screenshot
        peak = float(page.get_attribute("#chart-throughput", "data-max") or 0)
        assert peak > 5
        assert page.locator("#chart-throughput polyline").count() == 3  # two nodes, total
        assert page.inner_text("#now-share") == "100 %"

        # A node killed under load turns dead on the page within the detection timeout
        # (about 2 s at 4 heartbeats a second), and the tasks go on on the other.
        a.kill()
        killed, before = time.monotonic(), load.done
        page.wait_for_selector(
            'article.node[data-node="edge-a"][data-state="dead"]', timeout=15_000
        )
        detected_s = time.monotonic() - killed
        print(f"edge-a shown dead {detected_s:.2f} s after SIGKILL")
        assert detected_s < 6.0, f"dead after {detected_s:.1f} s"
        page.wait_for_selector('#events tr[data-kind="dead"][data-node="edge-a"]')
        wait_for(lambda: load.done > before + 100, what="tasks after the kill")
    assert load.done > 0

    # Drain the other from its button; the controller, the card and the log agree.
    page.click('article.node[data-node="edge-b"] button[data-action="drain"]')
    page.wait_for_selector('article.node[data-node="edge-b"][data-draining="true"]')
    page.wait_for_selector('article.node[data-node="edge-b"] button[data-action="resume"]')
    status, row = rest(controller, "/api/nodes/edge-b")
    assert status == 200 and row["draining"] and row["drain_reason"] == "drained from the dashboard"
    page.wait_for_selector('#events tr[data-kind="drained"][data-node="edge-b"]')
    assert page.locator('article.node[data-node="edge-a"] button').count() == 0  # dead: none

    # The event log's filters: only "dead" events, then only edge-b's.
    kinds = page.locator('#event-filters input[name="kind"]')
    for i in range(kinds.count()):
        if kinds.nth(i).get_attribute("value") != "dead":
            kinds.nth(i).uncheck()
    assert set(page.locator("#events tr").evaluate_all("rs => rs.map(r => r.dataset.kind)")) == {
        "dead"
    }
    for i in range(kinds.count()):
        kinds.nth(i).check()
    page.select_option("#event-node", "edge-b")
    nodes = page.locator("#events tr").evaluate_all("rs => rs.map(r => r.dataset.node)")
    assert set(nodes) == {"edge-b"} and len(nodes) >= 2  # joined, drained
    page.select_option("#event-node", "")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.close()
    assert errors == []
    assert requests.foreign(controller.url) == [], "requests left the site"
    assert any(u.endswith("/api/stream") for u in requests.urls)


def test_with_a_secret_the_page_asks_for_a_token_and_shows_buttons_only_to_admins(
    browser: Any,
    controller_factory: Callable[..., NodeProcess],
    node_factory: Callable[..., NodeProcess],
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    controller = controller_factory(
        "--store", f"sqlite:///{tmp_path}/c.db", "--auth-secret-file", str(secret)
    )
    node_token = tmp_path / "node.token"
    node_token.write_text(make_token(SECRET, "edge-s", "node", 600))
    node_factory(*node_args(controller, "edge-s", "--controller-token-file", str(node_token)))
    wait_for(
        lambda: rest(controller, "/api/nodes", make_token(SECRET, "t", "client", 60))[1],
        what="registration",
    )
    assert rest(controller, "/api/stream")[0] == 401

    page = browser.new_page(viewport={"width": 1100, "height": 700})
    requests = Requests(page)
    page.goto(controller.url + "/")
    # Nothing of the site is in the page before a token is given.
    assert page.locator("article.node").count() == 0
    page.wait_for_selector("#token-form:not([hidden])")
    page.wait_for_selector("#live:text('token needed')")
    assert "needs a token" in page.inner_text("#notice")

    page.fill("#token", make_token(SECRET, "viewer", "client", 600))
    page.click("#token-form button[type=submit]")
    page.wait_for_selector('article.node[data-node="edge-s"][data-state="alive"]')
    assert page.locator("article.node button").count() == 0  # a client may not drain

    page.fill("#token", make_token(SECRET, "ops", "admin", 600))
    page.click("#token-form button[type=submit]")  # kept in sessionStorage; the page reloads
    page.wait_for_selector('article.node[data-node="edge-s"] button[data-action="drain"]')
    page.click('article.node[data-node="edge-s"] button[data-action="drain"]')
    page.wait_for_selector('article.node[data-node="edge-s"][data-draining="true"]')
    page.click('article.node[data-node="edge-s"] button[data-action="resume"]')
    page.wait_for_selector('article.node[data-node="edge-s"][data-draining="false"]')
    assert rest(controller, "/api/nodes/edge-s", make_token(SECRET, "t", "client", 60))[1][
        "draining"
    ] is False
    assert page.evaluate("sessionStorage.getItem('edgeoffload.token')").count(".") == 2
    page.close()
    assert requests.foreign(controller.url) == []


def test_the_page_reconnects_to_a_restarted_controller_and_redraws_from_its_store(
    browser: Any,
    controller_factory: Callable[..., NodeProcess],
    node_factory: Callable[..., NodeProcess],
    tmp_path: Path,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    store = f"sqlite:///{tmp_path}/c.db"
    args = ("--store", store, "--port", port, "--heartbeat-interval-s", BEAT_S)
    first = controller_factory(*args)
    node_factory(*node_args(first, "edge-r"))
    page = browser.new_page(viewport={"width": 1000, "height": 600})
    page.goto(first.url + "/")
    page.wait_for_selector('article.node[data-node="edge-r"][data-state="alive"]')

    assert first.stop() == 0
    page.wait_for_selector("#live.off")
    second = controller_factory(*args)
    assert second.url == first.url
    # The page reconnects by itself (no reload) and the node, which reconnects too,
    # is alive again in the restarted controller's table.
    page.wait_for_selector("#live.on", timeout=20_000)
    page.wait_for_selector('article.node[data-node="edge-r"][data-state="alive"]')
    kinds = page.locator("#events tr").evaluate_all("rs => rs.map(r => r.dataset.kind)")
    assert "joined" in kinds
    page.close()
