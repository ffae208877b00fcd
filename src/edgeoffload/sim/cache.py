"""A node's content cache: least recently used, counted in items, with hit statistics."""

from __future__ import annotations

from collections import OrderedDict


class LRUCache:
    """Keys only (the simulator needs to know *whether* content is cached, not what).

    Call :meth:`lookup` to ask (counted in ``hits``/``misses``, refreshes recency) and
    :meth:`insert` when content arrives; the least recently used key is evicted past
    ``capacity``.
    """

    __slots__ = ("_items", "capacity", "hits", "misses")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"cache capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: int) -> bool:
        return key in self._items

    def lookup(self, key: int) -> bool:
        """Is ``key`` cached? Counts a hit or a miss."""
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return True
        self.misses += 1
        return False

    def insert(self, key: int) -> None:
        """Cache ``key`` as most recently used, evicting the least recent if full."""
        items = self._items
        if key in items:
            items.move_to_end(key)
            return
        items[key] = None
        if len(items) > self.capacity:
            items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (a crashed node restarts cold); statistics are kept."""
        self._items.clear()

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
