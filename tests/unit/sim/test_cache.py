"""sim.cache: least-recently-used eviction counted in items, with hit statistics."""

from __future__ import annotations

import pytest

from edgeoffload.sim.cache import LRUCache


def test_lookup_counts_hits_and_misses() -> None:
    cache = LRUCache(2)
    assert cache.hit_rate == 0.0  # nothing asked yet
    assert not cache.lookup(1)
    cache.insert(1)
    assert cache.lookup(1) and cache.lookup(1)
    assert (cache.hits, cache.misses, cache.hit_rate) == (2, 1, 2 / 3)


def test_the_least_recently_used_key_is_evicted() -> None:
    cache = LRUCache(2)
    cache.insert(1)
    cache.insert(2)
    cache.lookup(1)  # 1 is now the most recent
    cache.insert(3)
    assert 1 in cache and 3 in cache and 2 not in cache
    assert len(cache) == 2


def test_reinserting_refreshes_recency_without_growing() -> None:
    cache = LRUCache(2)
    cache.insert(1)
    cache.insert(2)
    cache.insert(1)
    assert len(cache) == 2
    cache.insert(3)
    assert 2 not in cache and 1 in cache


def test_membership_does_not_count_or_refresh() -> None:
    cache = LRUCache(2)
    cache.insert(1)
    cache.insert(2)
    assert 1 in cache  # a plain question, not a lookup
    assert (cache.hits, cache.misses) == (0, 0)
    cache.insert(3)
    assert 1 not in cache


def test_capacity_one() -> None:
    cache = LRUCache(1)
    cache.insert(1)
    cache.insert(2)
    assert 1 not in cache and 2 in cache and len(cache) == 1


def test_clear_forgets_content_but_keeps_statistics() -> None:
    cache = LRUCache(3)
    cache.insert(5)
    cache.lookup(5)
    cache.clear()
    assert len(cache) == 0 and not cache.lookup(5)
    assert (cache.hits, cache.misses) == (1, 1)


@pytest.mark.parametrize("capacity", [0, -1])
def test_a_cache_holds_at_least_one_item(capacity: int) -> None:
    with pytest.raises(ValueError, match=f"cache capacity must be >= 1, got {capacity}"):
        LRUCache(capacity)
