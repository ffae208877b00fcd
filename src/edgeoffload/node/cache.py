"""A node's data-locality cache, as pure logic: a bounded content-addressed store of
task inputs and of cacheable tasks' results, and the rules that turn hash-first submits
into runnable ones.

Two kinds of entries share one byte budget (``cache_bytes``), least recently used out
first (:class:`ContentStore`):

- **inputs**, keyed by the digest of their content
  (:func:`edgeoffload.protocol.content.value_digest`), held as msgpack bytes. A client
  sends an argument of its ``input_ref_bytes`` or more hash-first (``Submit.refs``): the
  bytes once, then only the digest.
  A digest the node lacks (never sent, evicted, the node restarted) is answered
  ``need_input`` and the client sends the bytes again: the cache can save bytes, never
  lose a task.
- **results** of tasks registered ``cacheable=True`` (their value depends only on their
  arguments), keyed by the task's name and the digests of all its arguments, held as
  the msgpack bytes the worker produced: a hit is answered at once, ``cached=True``,
  without running the task.

The node trusts no claimed digest: an argument that comes with its bytes is rehashed
before it is stored, and bytes that do not match the digest they came under are refused
(``bad_args``) and stored nowhere. A result key is built from digests the node computed
or verified itself, so different bytes under one claimed digest can never be answered
with another input's result (tests/unit/node/test_cache.py, the collision attempt).

Memory is bounded by ``cache_bytes`` plus a small per-entry overhead; an entry larger
than the whole budget is not kept. The simulator models the same two caches
(``sim/cache.py``, ``input_cache_*``/``result_cache_*`` counters, in items there).

No I/O and no clock here; the server (:mod:`.server`) calls :meth:`NodeCache.prepare`
for each submit of a frame before admission and :meth:`NodeCache.keep_result` for each
value it answers.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import msgspec

from ..protocol.codes import ErrorCode
from ..protocol.content import DIGEST_BYTES, value_digest
from ..protocol.messages import Error, Result, Submit

#: Bookkeeping charged per entry on top of its bytes (key, dict slot, bytes header),
#: so that many tiny entries cannot exceed the budget either.
ENTRY_OVERHEAD_BYTES = 128

_INPUT = b"i"
_RESULT = b"r"
#: A stored result starts with the run time of the run that produced it.
_RUN_MS = struct.Struct("<d")


class ContentStore:
    """Bytes by key, least recently used evicted first, within ``max_bytes``."""

    __slots__ = ("_items", "evictions", "max_bytes", "size_bytes")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"cache size must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self.evictions = 0
        self._items: OrderedDict[bytes, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: bytes) -> bool:
        return key in self._items

    def get(self, key: bytes) -> bytes | None:
        """The bytes under ``key`` (now the most recently used), or None."""
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: bytes, data: bytes) -> bool:
        """Keep ``data`` under ``key``, evicting the least recently used entries to
        make room; False (nothing kept) if it alone exceeds the budget."""
        cost = len(data) + ENTRY_OVERHEAD_BYTES
        if cost > self.max_bytes:
            return False
        items = self._items
        old = items.pop(key, None)
        if old is not None:
            self.size_bytes -= len(old) + ENTRY_OVERHEAD_BYTES
        while items and self.size_bytes + cost > self.max_bytes:
            _, evicted = items.popitem(last=False)
            self.size_bytes -= len(evicted) + ENTRY_OVERHEAD_BYTES
            self.evictions += 1
        items[key] = data
        self.size_bytes += cost
        return True

    def clear(self) -> None:
        self._items.clear()
        self.size_bytes = 0


class CacheStats(msgspec.Struct, frozen=True):
    """The cache's counters (running totals since the node started)."""

    input_hits: int
    input_misses: int
    result_hits: int
    result_misses: int
    #: Argument bytes the clients did not send because the node had them.
    bytes_saved: int
    #: Task run time the result cache saved (the run time of the run it stored).
    run_ms_saved: float
    evictions: int
    size_bytes: int
    max_bytes: int

    @property
    def hits(self) -> int:
        return self.input_hits + self.result_hits

    @property
    def misses(self) -> int:
        return self.input_misses + self.result_misses

    @property
    def hit_rate(self) -> float:
        """Hits over lookups, inputs and results together (0 before any lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


#: What :meth:`NodeCache.prepare` decides for one submit: the submit to admit (its
#: references replaced by their values) or None, the answer to send now (a cached
#: result, ``need_input``, a refused digest) or None, and the result key under which
#: to keep its value (cacheable tasks) or None.
Prepared = tuple[Submit | None, Result | Error | None, bytes | None]


class NodeCache:
    """The node's inputs and results cache (module docstring).

    Args:
        max_bytes: the byte budget; 0 keeps nothing (every reference is answered
            ``need_input``, no result is kept).
        encode: the codec's ``encode_value`` (digests are of these bytes).
        decode: the codec's ``decode_value`` (a stored input becomes an argument).
    """

    def __init__(
        self,
        max_bytes: int,
        encode: Callable[[Any], bytes],
        decode: Callable[[bytes], Any],
    ) -> None:
        self.store = ContentStore(max_bytes)
        self._encode = encode
        self._decode = decode
        self.input_hits = self.input_misses = 0
        self.result_hits = self.result_misses = 0
        self.bytes_saved = 0
        self.run_ms_saved = 0.0

    @property
    def enabled(self) -> bool:
        return self.store.max_bytes > 0

    def statistics(self) -> CacheStats:
        s = self.store
        return CacheStats(
            self.input_hits,
            self.input_misses,
            self.result_hits,
            self.result_misses,
            self.bytes_saved,
            self.run_ms_saved,
            s.evictions,
            s.size_bytes,
            s.max_bytes,
        )

    def prepare(self, submit: Submit, cacheable: bool) -> Prepared:
        """Resolve a submit's references and look its result up (module docstring).

        Order: every argument sent with its bytes is verified and kept first (so one
        submit may carry an input once and refer to it again); then the references
        are resolved; then, for a cacheable task, its result is looked up.
        """
        refs = submit.refs
        if not refs:
            if not cacheable or not self.enabled:
                return submit, None, None
            return self._lookup(submit, submit.args, {})
        args = list(submit.args)
        n = len(args)
        store = self.store
        digests: dict[int, bytes] = {}
        wanted = []
        for i, claimed in refs.items():
            if i >= n:
                message = f"refs name argument {i}, but the task has {n} arguments"
                return None, Error(submit.id, ErrorCode.BAD_ARGS, message), None
            if args[i] is None:
                wanted.append(i)
                continue
            try:
                found, _ = value_digest(args[i], self._encode)
            except (TypeError, ValueError):  # pragma: no cover - it was just decoded
                found = b""
            if found != claimed:
                message = (
                    f"argument {i}: its bytes do not match the digest they were sent under "
                    "(blake2b-256 of their content); nothing stored, nothing ran"
                )
                return None, Error(submit.id, ErrorCode.BAD_ARGS, message), None
            digests[i] = claimed
            if self.enabled:
                store.put(_INPUT + claimed, self._encode(args[i]))
        missing = []
        for i in wanted:
            claimed = refs[i]
            held = store.get(_INPUT + claimed)
            if held is None:
                missing.append(i)
                continue
            args[i] = self._decode(held)
            digests[i] = claimed
            self.bytes_saved += len(held)
        if missing:
            self.input_misses += len(missing)
            names = ", ".join(map(str, missing))
            message = f"arguments {names} are not in this node's cache: send their bytes"
            return None, Error(submit.id, ErrorCode.NEED_INPUT, message), None
        self.input_hits += len(wanted)
        resolved = msgspec.structs.replace(submit, args=args, refs=None)
        if not cacheable or not self.enabled:
            return resolved, None, None
        return self._lookup(resolved, args, digests)

    def _lookup(self, submit: Submit, args: list[Any], digests: dict[int, bytes]) -> Prepared:
        """A cacheable task: its stored result, or the key to keep it under."""
        key = self.result_key(submit.task, args, digests)
        data = self.store.get(key)
        if data is None:
            self.result_misses += 1
            return submit, None, key
        self.result_hits += 1
        run_ms = _run_ms_of(data)
        self.run_ms_saved += run_ms
        return None, Result(submit.id, msgspec.Raw(data[_RUN_MS.size :]), 0.0, cached=True), None

    def result_key(self, task: str, args: list[Any], digests: dict[int, bytes]) -> bytes:
        """The key of a task's result: its name and the digest of every argument (the
        verified ones given, the others computed here)."""
        h = hashlib.blake2b(digest_size=DIGEST_BYTES)
        h.update(task.encode())
        h.update(len(args).to_bytes(1, "little"))
        for i, value in enumerate(args):
            known = digests.get(i)
            h.update(known if known is not None else value_digest(value, self._encode)[0])
        return _RESULT + h.digest()

    def keep_result(self, key: bytes, value: Any, run_ms: float) -> None:
        """Keep a cacheable task's answer: ``value`` as msgpack bytes (a worker's
        ``msgspec.Raw``) or a value to encode (an inline task's)."""
        if isinstance(value, msgspec.Raw):
            data = bytes(value)
        else:
            try:
                data = self._encode(value)
            except TypeError:
                return
        self.store.put(key, _RUN_MS.pack(run_ms) + data)


def _run_ms_of(data: bytes) -> float:
    return float(_RUN_MS.unpack_from(data)[0])
