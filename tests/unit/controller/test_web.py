"""The dashboard's page as the server renders it: every metric, every string from a
node escaped, nothing of the site shown to a reader without a token."""

from __future__ import annotations

import html
import re
import string

import pytest

from edgeoffload.controller import web
from edgeoffload.controller.dashboard import Latest
from edgeoffload.metrics import METRIC_NAMES
from edgeoffload.protocol.control import NodeState, NodeView
from tests.unit.controller.test_dashboard import metrics

TEMPLATE = string.Template(web._read("dashboard.html").decode())
HOSTILE = '<img src="http://203.0.113.7/x.png" onerror="alert(1)">'


def render(nodes: list[NodeView] | None, latest: dict[str, Latest] | None = None) -> str:
    return web.render_page(TEMPLATE, nodes, latest or {}, auth=False, reads_open=nodes is not None)


def test_the_page_shows_every_metric_of_every_node() -> None:
    assert sorted(m[0] for m in web.METRICS) == sorted(METRIC_NAMES)
    page = render([NodeView(node_id="a", url="ws://a", state=NodeState.ALIVE)],
                  {"a": Latest(1.0, metrics(completed=12.5, p95=3.25))})  # fmt: skip
    shown = re.findall(r'<dd data-metric="(\w+)">([^<]*)</dd>', page)
    assert sorted(name for name, _ in shown) == sorted(METRIC_NAMES)
    values = dict(shown)
    assert values["completed_per_s"] == "12.5"
    assert values["p95_task_ms"] == "3.2 ms"
    assert values["memory_available_bytes"] == "1.0 GiB"
    assert values["temperature_c"] == "–"  # absent, not zero


def test_every_string_from_a_node_is_escaped() -> None:
    node = NodeView(
        node_id="n<script>1",
        url=f"ws://x/{HOSTILE}",
        state=NodeState.ALIVE,
        draining=True,
        drain_reason=HOSTILE,
        labels={HOSTILE: HOSTILE},
    )
    page = render([node])
    assert "<img" not in page and "<script>1" not in page
    assert html.escape(HOSTILE) in page
    assert 'data-state="alive" data-draining="true"' in page


def test_a_reader_without_a_token_gets_the_page_but_not_the_site() -> None:
    page = web.render_page(TEMPLATE, None, {}, auth=True, reads_open=False)
    assert "A token is needed" in page and "data-node=" not in page
    assert "alive</span>" not in page  # not even how many nodes there are
    assert "&quot;auth&quot;:true" in page


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = render([])
    assert re.findall(r'(?:src|href)="([^"]*)"', page) == [
        "data:,",
        "static/dashboard.css",
        "static/dashboard.js",
    ]
    for name in ("dashboard.js", "dashboard.css"):
        text = web._read(name).decode()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name
    policy = web.PAGE_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (None, "ms", "–"),
        (0.0012, "ms", "0.0012 ms"),
        (12.345, "ms", "12.3 ms"),
        (1234.0, "ms", "1234 ms"),
        (512, "bytes", "512 B"),
        (1536, "bps", "1.5 KiB/s"),
        (300 * 1024**2, "bytes", "300 MiB"),
        (42.4, "pct", "42 %"),
        (7, "int", "7"),
        (3.14159, "rate", "3.1"),
        (41.5, "celsius", "42 °C"),
    ],
)
def test_values_are_formatted_for_people(value: object, kind: str, text: str) -> None:
    assert web.format_value(value, kind) == text
