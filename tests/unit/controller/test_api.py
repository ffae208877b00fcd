"""controller.api in process, against a real Controller and SQLite store: the REST
answers (sorted nodes, 404 bodies naming the node, drain reasons and their limits,
newest events, metric samples), the JSON error shape of validation errors, the probes,
the Prometheus text, the OpenAPI document built from the structs, and tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeoffload.auth import Role, make_token
from edgeoffload.controller.api import MAX_BODY_BYTES
from tests.unit.controller.serving import Served, serving

SECRET = "s" * 40


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as s:
        s.register("node-b", with_sample=True)
        s.register("node-a")
        yield s


def test_nodes_are_listed_sorted_by_id(site: Served) -> None:
    status, body, headers = site.request("GET", "/api/nodes")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert [n["node_id"] for n in body] == ["node-a", "node-b"]
    b = body[1]
    assert (b["state"], b["draining"], b["queue_length"], b["running_tasks"]) == (
        "alive",
        False,
        3,
        2,
    )
    assert b["url"] == "ws://10.0.0.1:1/node-b"


def test_one_node_and_the_404_naming_an_unknown_one(site: Served) -> None:
    status, body, _ = site.request("GET", "/api/nodes/node-a")
    assert (status, body["node_id"], body["cores"]) == (200, "node-a", 2)
    for path in ("/api/nodes/nope", "/api/nodes/nope/metrics"):
        status, body, _ = site.request("GET", path)
        assert (status, body) == (
            404,
            {"error": "not_found", "message": "no node 'nope'", "detail": None},
        )
    for path in ("/api/nodes/nope/drain", "/api/nodes/nope/resume"):
        status, body, _ = site.request("POST", path)
        assert (status, body["message"]) == (404, "no node 'nope'")


def test_metrics_samples_oldest_first_and_none_for_a_silent_node(site: Served) -> None:
    status, body, _ = site.request("GET", "/api/nodes/node-b/metrics?since=0")
    assert status == 200
    assert len(body) == 1
    assert body[0]["metrics"]["completed_per_s"] == 41.5
    assert site.request("GET", "/api/nodes/node-a/metrics?since=0")[1] == []
    # the default window is the last 5 minutes: a sample from now is in it
    assert len(site.request("GET", "/api/nodes/node-b/metrics")[1]) == 1
    status, body, _ = site.request("GET", "/api/nodes/node-b/metrics?limit=0")
    assert (status, body["error"]) == (422, "bad_request")


def test_drain_with_a_reason_then_resume(site: Served) -> None:
    status, body, _ = site.request(
        "POST", "/api/nodes/node-a/drain", b'{"reason": "kernel update"}'
    )
    assert (status, body["draining"]) == (200, True)
    assert site.request("GET", "/api/nodes/node-a")[1]["draining"] is True
    status, body, _ = site.request("POST", "/api/nodes/node-a/resume")
    assert (status, body["draining"]) == (200, False)
    kinds = [(e["kind"], e["detail"]) for e in site.request("GET", "/api/events?node_id=node-a")[1]]
    assert kinds[-2][0] == "drained" and "kernel update" in kinds[-2][1]
    assert kinds[-1][0] == "resumed"


def test_drain_without_a_body_is_allowed(site: Served) -> None:
    status, body, _ = site.request("POST", "/api/nodes/node-a/drain")
    assert (status, body["draining"]) == (200, True)


def test_a_bad_drain_body_is_a_422_and_changes_nothing(site: Served) -> None:
    status, body, _ = site.request("POST", "/api/nodes/node-a/drain", b'{"reason": 5}')
    assert status == 422
    assert body["error"] == "bad_request"
    assert body["message"].startswith("body: Expected `str`, got `int`")
    assert site.request("GET", "/api/nodes/node-a")[1]["draining"] is False


def test_a_drain_body_over_the_cap_is_a_413(site: Served) -> None:
    big = json.dumps({"reason": "x" * MAX_BODY_BYTES}).encode()
    status, body, _ = site.request("POST", "/api/nodes/node-a/drain", big)
    assert (status, body["error"]) == (413, "too_large")
    assert body["message"] == f"body over {MAX_BODY_BYTES} bytes"
    assert site.request("GET", "/api/nodes/node-a")[1]["draining"] is False


def test_events_after_an_id_and_the_newest_n(site: Served) -> None:
    _, every, _ = site.request("GET", "/api/events")
    ids = [e["id"] for e in every]
    assert ids == sorted(ids) and len(ids) >= 2
    assert {(e["kind"], e["node_id"]) for e in every} >= {
        ("joined", "node-a"),
        ("joined", "node-b"),
    }
    _, newest, _ = site.request("GET", "/api/events?last=1")
    assert [e["id"] for e in newest] == ids[-1:]
    _, after, _ = site.request("GET", f"/api/events?since_id={ids[0]}")
    assert [e["id"] for e in after] == ids[1:]
    _, limited, _ = site.request("GET", "/api/events?limit=1")
    assert [e["id"] for e in limited] == ids[:1]
    status, body, _ = site.request("GET", "/api/events?last=0")
    assert (status, body["error"]) == (422, "bad_request")


def test_probes(site: Served) -> None:
    assert site.request("GET", "/healthz")[:2] == (200, "ok\n")
    assert site.request("GET", "/readyz")[:2] == (200, "ready\n")


def test_prometheus_text_counts_states_and_each_node(site: Served) -> None:
    site.request("POST", "/api/nodes/node-b/drain")
    status, text, headers = site.request("GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = set(text.splitlines())
    assert 'edgeoffload_controller_nodes{state="alive"} 2.0' in lines
    assert 'edgeoffload_controller_nodes{state="dead"} 0.0' in lines
    assert "edgeoffload_controller_nodes_draining 1.0" in lines
    assert 'edgeoffload_node_queue_length{node="node-b"} 3.0' in lines
    assert 'edgeoffload_node_running_tasks{node="node-b"} 2.0' in lines
    assert 'edgeoffload_node_cpu_percent{node="node-b"} 12.0' in lines


def test_openapi_lists_the_api_with_schemas_from_the_structs(site: Served) -> None:
    status, doc, _ = site.request("GET", "/openapi.json")
    assert status == 200
    assert {"/api/nodes", "/api/nodes/{node_id}/drain", "/api/events", "/healthz"} <= set(
        doc["paths"]
    )
    assert "/metrics" not in doc["paths"]
    schemas = doc["components"]["schemas"]
    assert {"NodeView", "MetricSample", "ErrorBody", "DrainRequest", "Event"} <= set(schemas)
    assert "node_id" in schemas["NodeView"]["properties"]
    listed = doc["paths"]["/api/nodes"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"] == {"type": "array", "items": {"$ref": "#/components/schemas/NodeView"}}


def test_an_unknown_route_is_a_json_404(site: Served) -> None:
    status, body, _ = site.request("GET", "/api/nothing")
    assert status == 404
    assert body["error"] == "not_found"


def test_with_a_secret_reads_and_writes_need_the_right_token(tmp_path: Path) -> None:
    with serving(tmp_path, auth_secret=SECRET) as s:
        s.register("n1")
        status, body, headers = s.request("GET", "/api/nodes")
        assert (status, body["error"]) == (401, "unauthorized")
        assert headers["www-authenticate"] == "Bearer"
        client = {"Authorization": f"Bearer {make_token(SECRET, 'c', Role.CLIENT, 60)}"}
        admin = {"Authorization": f"Bearer {make_token(SECRET, 'a', Role.ADMIN, 60)}"}
        assert s.request("GET", "/api/nodes", headers=client)[0] == 200
        status, body, _ = s.request("POST", "/api/nodes/n1/drain", headers=client)
        assert (status, body["error"]) == (403, "forbidden")
        assert s.request("POST", "/api/nodes/n1/drain", headers=admin)[1]["draining"] is True
        assert s.request("GET", "/healthz")[0] == 200  # probes never need a token
