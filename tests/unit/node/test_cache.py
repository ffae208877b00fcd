"""The node's data-locality cache, pure: hits, misses, eviction, the byte bound, a
disabled cache, and a hash collision attempt (different bytes under a claimed digest
are refused and never answered with another input's result)."""

from __future__ import annotations

import msgspec
import numpy as np

from edgeoffload.node.cache import ENTRY_OVERHEAD_BYTES, ContentStore, NodeCache
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.content import large_inputs, size_hint, value_digest
from edgeoffload.protocol.messages import Error, Result, Submit

CODEC = Codec()
ENC, DEC = CODEC.encode_value, CODEC.decode_value
FRAME = np.arange(50_000, dtype=np.uint8).reshape(250, 200)
D_FRAME = value_digest(FRAME, ENC)[0]


def cache(max_bytes: int = 1 << 20) -> NodeCache:
    return NodeCache(max_bytes, ENC, DEC)


def test_the_store_evicts_the_least_recently_used_within_its_bytes() -> None:
    s = ContentStore(3 * (100 + ENTRY_OVERHEAD_BYTES))
    for key in (b"a", b"b", b"c"):
        assert s.put(key, bytes(100))
    assert s.get(b"a") is not None  # a is now the most recent: b goes first
    s.put(b"d", bytes(100))
    assert (b"a" in s, b"b" in s, b"c" in s, b"d" in s) == (True, False, True, True)
    assert s.evictions == 1 and s.size_bytes <= s.max_bytes
    assert not s.put(b"huge", bytes(s.max_bytes))  # alone over the budget: not kept
    assert len(s) == 3 and s.size_bytes == 3 * (100 + ENTRY_OVERHEAD_BYTES)


def test_an_input_sent_with_its_digest_is_kept_and_a_reference_then_hits() -> None:
    c = cache()
    first = Submit(1, "t", [FRAME, 3], refs={0: D_FRAME})
    ready, answer, key = c.prepare(first, cacheable=False)
    assert answer is None and key is None and ready is not None
    assert ready.refs is None and ready.args == first.args  # the references served
    ref = Submit(2, "t", [None, 4], refs={0: D_FRAME})
    ready, answer, key = c.prepare(ref, cacheable=False)
    assert answer is None and ready is not None and ready.refs is None
    assert np.array_equal(ready.args[0], FRAME) and ready.args[1] == 4
    s = c.statistics()
    assert (s.input_hits, s.input_misses, s.bytes_saved) == (1, 0, len(ENC(FRAME)))


def test_a_reference_the_node_lacks_is_answered_need_input_and_nothing_runs() -> None:
    c = cache()
    ready, answer, _ = c.prepare(Submit(7, "t", [None], refs={0: D_FRAME}), cacheable=True)
    assert ready is None
    assert isinstance(answer, Error) and answer.id == 7 and answer.code is ErrorCode.NEED_INPUT
    assert "arguments 0" in answer.message
    assert c.statistics().input_misses == 1


def test_a_hash_collision_attempt_is_refused_and_never_gets_the_other_inputs_result() -> None:
    # A client sends the real frame, a cacheable task runs on it, its result is kept.
    c = cache()
    ready, _, key = c.prepare(Submit(1, "t", [FRAME], refs={0: D_FRAME}), cacheable=True)
    assert ready is not None and key is not None
    c.keep_result(key, msgspec.Raw(ENC("the frame's result")), 5.0)
    # Another sends other bytes claiming the frame's digest: refused, nothing stored.
    forged = np.zeros_like(FRAME)
    ready, answer, key = c.prepare(Submit(2, "t", [forged], refs={0: D_FRAME}), cacheable=True)
    assert ready is None and key is None
    assert isinstance(answer, Error) and answer.code is ErrorCode.BAD_ARGS
    assert "do not match the digest" in answer.message
    # The forged bytes replaced nothing: a reference still resolves to the real frame.
    ready, answer, _ = c.prepare(Submit(3, "t", [None], refs={0: D_FRAME}), cacheable=False)
    assert ready is not None and np.array_equal(ready.args[0], FRAME)
    # Sent whole without a claim, the forged bytes get their own key: no cached answer.
    ready, answer, key = c.prepare(Submit(4, "t", [forged]), cacheable=True)
    assert answer is None and ready is not None and key is not None
    assert key != c.result_key("t", [FRAME], {})


def test_a_cacheable_task_is_answered_from_the_cache_without_running() -> None:
    c = cache()
    _, answer, key = c.prepare(Submit(1, "t", [FRAME, 2]), cacheable=True)
    assert answer is None and key is not None
    c.keep_result(key, msgspec.Raw(ENC([1, 2])), 12.5)
    ready, answer, key = c.prepare(Submit(2, "t", [FRAME, 2]), cacheable=True)
    assert ready is None and key is None
    assert isinstance(answer, Result) and answer.cached and answer.id == 2
    assert DEC(CODEC.encode(answer))[2] == [1, 2]  # the stored bytes, as the worker made them
    # Other arguments, or another task of the same arguments: a miss.
    assert c.prepare(Submit(3, "t", [FRAME, 3]), cacheable=True)[2] is not None
    assert c.prepare(Submit(4, "u", [FRAME, 2]), cacheable=True)[2] is not None
    # By reference, the same input is the same key.
    c.prepare(Submit(5, "t", [FRAME], refs={0: D_FRAME}), cacheable=False)
    _, answer, _ = c.prepare(Submit(6, "t", [None, 2], refs={0: D_FRAME}), cacheable=True)
    assert isinstance(answer, Result) and answer.cached
    s = c.statistics()
    assert (s.result_hits, s.result_misses, s.run_ms_saved) == (2, 3, 25.0)
    assert 0 < s.hit_rate < 1


def test_an_inline_tasks_value_is_encoded_to_be_kept() -> None:
    c = cache()
    _, _, key = c.prepare(Submit(1, "t", [1]), cacheable=True)
    assert key is not None
    c.keep_result(key, {"a": 1}, 0.1)
    _, answer, _ = c.prepare(Submit(2, "t", [1]), cacheable=True)
    assert isinstance(answer, Result) and DEC(bytes(answer.value)) == {"a": 1}
    c.keep_result(key, object(), 0.1)  # not encodable: not kept, no error


def test_a_disabled_cache_keeps_nothing_and_asks_for_every_reference() -> None:
    c = cache(0)
    ready, answer, key = c.prepare(Submit(1, "t", [FRAME], refs={0: D_FRAME}), cacheable=True)
    assert ready is not None and answer is None and key is None
    _, answer, _ = c.prepare(Submit(2, "t", [None], refs={0: D_FRAME}), cacheable=True)
    assert isinstance(answer, Error) and answer.code is ErrorCode.NEED_INPUT
    assert c.statistics().size_bytes == 0 and not c.enabled


def test_eviction_turns_a_reference_into_need_input() -> None:
    c = cache(len(ENC(FRAME)) + ENTRY_OVERHEAD_BYTES)
    other = FRAME + 1
    c.prepare(Submit(1, "t", [FRAME], refs={0: D_FRAME}), cacheable=False)
    c.prepare(Submit(2, "t", [other], refs={0: value_digest(other, ENC)[0]}), cacheable=False)
    _, answer, _ = c.prepare(Submit(3, "t", [None], refs={0: D_FRAME}), cacheable=False)
    assert isinstance(answer, Error) and answer.code is ErrorCode.NEED_INPUT
    assert c.statistics().evictions == 1


def test_a_reference_past_the_arguments_is_bad_args() -> None:
    _, answer, _ = cache().prepare(Submit(1, "t", [None], refs={3: D_FRAME}), cacheable=False)
    assert isinstance(answer, Error) and answer.code is ErrorCode.BAD_ARGS


def test_the_client_side_digest_is_the_nodes() -> None:
    # The client hashes the codec's bytes of the argument; the node rehashes the value
    # it decoded: the same digest, including for a non-contiguous array.
    view = np.arange(100_000, dtype=np.float32).reshape(200, 500)[:, ::2]
    refs = large_inputs([view, 1, b"s"], 1000, ENC)
    assert refs is not None and list(refs) == [0]
    decoded = DEC(CODEC.encode(Submit(1, "t", [view])))[3][0]
    assert refs[0] == value_digest(decoded, ENC) == (value_digest(view.copy(), ENC)[0], 200_000)
    # Kinds are tagged: the same bytes as bytes, as an array, or as a string differ.
    raw = bytes(range(200))
    kinds = {value_digest(v, ENC)[0] for v in (raw, np.frombuffer(raw, np.uint8), raw.hex())}
    assert len(kinds) == 3
    assert value_digest(np.zeros(4, "<f4"), ENC) != value_digest(np.zeros(2, "<f8"), ENC)
    assert size_hint([1] * 10_000) == 0 and size_hint("abc") == 3
    assert large_inputs([object()], 0, ENC) is None


def test_the_cache_settings_come_from_flags_and_the_environment() -> None:
    import argparse

    import pytest

    from edgeoffload.cli.options import add_config_options, overrides
    from edgeoffload.config import ClientConfig, NodeConfig, load
    from edgeoffload.errors import ConfigError

    assert load(NodeConfig, env={}).cache_bytes == 256 << 20
    assert load(NodeConfig, env={"EDGEOFFLOAD_NODE__CACHE_BYTES": "0"}).cache_bytes == 0
    env = {"EDGEOFFLOAD_CLIENT__INPUT_REF_BYTES": "1000"}
    assert load(ClientConfig, env=env).input_ref_bytes == 1000
    parser = argparse.ArgumentParser()
    add_config_options(parser, NodeConfig)
    args = parser.parse_args(["--cache-bytes", "1048576"])
    assert load(NodeConfig, env={}, overrides=overrides(args, NodeConfig)).cache_bytes == 1 << 20
    with pytest.raises(ConfigError, match="cache_bytes: Expected `int` >= 0"):
        load(NodeConfig, env={"EDGEOFFLOAD_NODE__CACHE_BYTES": "-1"})


def test_the_sampler_reports_the_cache_counters() -> None:
    from edgeoffload.node.sampler import MetricsSampler, prometheus_text

    c = cache()
    c.prepare(Submit(1, "t", [FRAME], refs={0: D_FRAME}), cacheable=False)
    c.prepare(Submit(2, "t", [None], refs={0: D_FRAME}), cacheable=False)
    c.prepare(Submit(3, "t", [None], refs={0: value_digest(b"other", ENC)[0]}), cacheable=False)
    kw = dict(queued=0, running=0, completed=0, failed=0, p95_ms=None, connections=0)
    m = MetricsSampler().sample(**kw, cache=c.statistics())  # type: ignore[arg-type]
    assert (m.cache_hits, m.cache_misses, m.cache_hit_percent) == (1, 1, 50.0)
    assert m.cache_bytes_saved == len(ENC(FRAME)) and m.cache_used_bytes > FRAME.nbytes
    text = prometheus_text("n1", m).decode()
    assert 'edgeoffload_node_cache_hit_percent{node="n1"} 50.0' in text


def test_an_argument_of_exactly_the_threshold_goes_hash_first() -> None:
    # Found by bench e2e: an ultrasound tile (128 x 128 float32) is 64 KiB, the default
    # input_ref_bytes, and was always sent whole, so the cache saved no uplink there.
    from examples.ultrasound.tasks import TILE_PX

    from edgeoffload.config import ClientConfig

    threshold = ClientConfig().input_ref_bytes
    tile = np.zeros((TILE_PX, TILE_PX), np.float32)
    assert tile.nbytes == threshold
    refs = large_inputs([tile, np.zeros(threshold - 1, np.uint8)], threshold, ENC)
    assert refs is not None and list(refs) == [0]
