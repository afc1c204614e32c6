"""L1: byte budget, TTL, LRU, eviction reasons, fill guard, immutability of what it hands out."""

from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caching.local import LocalCache
from caching.signals import cache_evicted
from caching.sizing import deep_sizeof


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def evictions():
    seen = []

    def receiver(key, reason, **kwargs):
        seen.append((key, reason))

    cache_evicted.connect(receiver, weak=False)
    yield seen
    cache_evicted.disconnect(receiver)


def test_deep_sizeof_counts_nested_values():
    small = MappingProxyType({"a": 1})
    big = MappingProxyType({"a": "x" * 10_000})
    assert deep_sizeof(big) > deep_sizeof(small) + 9_000
    assert deep_sizeof(("x" * 5000, ("y" * 5000,))) > 10_000


def test_ttl_expiry_and_reason(evictions):
    clock = Clock()
    cache = LocalCache(max_bytes=100_000, ttl=5, timer=clock)
    cache.set("a", "value")
    assert cache.get("a") == "value"
    clock.now = 5.1
    assert cache.get("a") is None
    assert cache.sweep() == 1
    assert ("a", "expired") in evictions


def test_memory_eviction_is_lru_and_reported(evictions):
    one = "x" * 1000
    size = deep_sizeof(one) + deep_sizeof("k0")
    cache = LocalCache(max_bytes=size * 3 + 10, ttl=60)
    for i in range(3):
        cache.set(f"k{i}", "x" * 1000)
    cache.get("k0")  # k0 recently used, so k1 is the LRU victim
    cache.set("k3", "x" * 1000)
    assert "k1" not in cache and "k0" in cache and "k3" in cache
    assert ("k1", "memory") in evictions
    assert cache.currsize <= cache.max_bytes


def test_value_larger_than_budget_is_refused():
    cache = LocalCache(max_bytes=1000, ttl=60)
    assert cache.set("big", "x" * 5000) is False
    assert "big" not in cache


def test_fill_guard_refuses_values_loaded_before_an_invalidation(evictions):
    cache = LocalCache(max_bytes=100_000, ttl=60)
    cache.set("a", "old")
    token = cache.token()  # a reader starts loading "a"
    cache.invalidate(["a"])  # a writer commits meanwhile
    assert ("a", "invalidated") in evictions
    assert cache.set("a", "old", token=token) is False
    assert cache.get("a") is None
    assert cache.set("b", "unrelated", token=token) is True  # other keys unaffected
    fresh = cache.token()
    assert cache.set("a", "new", token=fresh) is True
    token = cache.token()
    cache.clear()
    assert cache.set("b", "x", token=token) is False


def test_invalidate_where():
    cache = LocalCache(max_bytes=100_000, ttl=60)
    cache.set(("m", "p/a"), "A")
    cache.set(("m", "q/b"), "B")
    assert cache.invalidate_where(lambda key, value: value == "A") == 1
    assert cache.get(("m", "p/a")) is None and cache.get(("m", "q/b")) == "B"


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60)
@given(
    budget=st.integers(min_value=200, max_value=20_000),
    ops=st.lists(
        st.tuples(st.sampled_from(["set", "get", "invalidate"]), st.integers(0, 30), st.integers(0, 3000)),
        max_size=120,
    ),
)
def test_never_exceeds_its_byte_budget(budget, ops):
    cache = LocalCache(max_bytes=budget, ttl=60)
    for op, key, size in ops:
        if op == "set":
            cache.set(key, "v" * size)
        elif op == "get":
            cache.get(key)
        else:
            cache.invalidate([key])
        assert cache.currsize <= budget
        actual = sum(deep_sizeof(cache.get(k)) + deep_sizeof(k) for k in cache.keys())
        assert actual <= budget
