"""controller.dashboard on the wire: the frames the page's script reads, exactly as
encoded (a tag per frame, chart points as arrays in a fixed column order), so that a
renamed or reordered field is caught here rather than in a browser."""

from __future__ import annotations

import msgspec

from edgeoffload.controller.dashboard import (
    Event,
    EventFrame,
    Recent,
    ShareFrame,
    SharePoint,
    point_of,
)
from tests.unit.controller.serving import metrics


def test_a_sample_frame() -> None:
    frame = Recent().add_sample("n1", 100.0, metrics(p95_task_ms=7.5))
    wire = msgspec.json.decode(msgspec.json.encode(frame))
    assert list(wire) == ["type", "node_id", "ts", "metrics", "point"]
    assert wire["type"] == "sample"
    # ts, completed/s, failed/s, p95 ms, queue, running
    assert wire["point"] == [100.0, 41.5, 0.0, 7.5, 3, 2]
    assert wire["metrics"]["queue_length"] == 3


def test_a_point_without_a_p95_yet() -> None:
    wire = msgspec.json.encode(point_of(1.0, metrics()))
    assert wire == b"[1.0,41.5,0.0,null,3,2]"


def test_share_and_event_frames() -> None:
    assert msgspec.json.encode(ShareFrame(point=SharePoint(10.0, 3, 9))) == (
        b'{"type":"share","point":[10.0,3,9]}'
    )
    event = Event(7, 1.5, "drained", "n1", "kernel update")
    assert msgspec.json.encode(EventFrame(event=event)) == (
        b'{"type":"event","event":{"id":7,"ts":1.5,"kind":"drained","node_id":"n1",'
        b'"detail":"kernel update"}}'
    )


def test_the_snapshot_frame_lists_what_the_page_draws() -> None:
    recent = Recent(window_s=60.0, share_bucket_s=5.0)
    recent.add_sample("n1", 100.0, metrics())
    recent.add_counts(1, 0, 0, 100.0)
    recent.add_counts(1, 1, 2, 101.0)
    wire = msgspec.json.decode(msgspec.json.encode(recent.snapshot(102.0, [], [], True)))
    assert wire["type"] == "snapshot"
    assert set(wire) == {
        "type", "now", "window_s", "can_write", "nodes", "latest", "series", "share",
        "share_bucket_s", "events",
    }  # fmt: skip
    assert wire["series"] == {"n1": [[100.0, 41.5, 0.0, None, 3, 2]]}
    assert wire["share"] == [[100.0, 1, 2]]
    assert (wire["window_s"], wire["share_bucket_s"], wire["can_write"]) == (60.0, 5.0, True)
