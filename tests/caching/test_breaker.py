"""Circuit breaker: opens after N failures, refuses calls while open, half-opens after the cool-down."""

import logging

import pytest
from prometheus_client import REGISTRY

from caching import metrics
from caching.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_opens_after_consecutive_failures_and_recovers():
    clock = Clock()
    recovered = []
    breaker = CircuitBreaker(failures=3, cooldown=5, timer=clock)
    breaker.on_recover.append(lambda: recovered.append(True))
    for _ in range(2):
        breaker.before_call()
        breaker.failure(ConnectionError("down"), "get")
    assert breaker.state == CLOSED
    breaker.before_call()
    breaker.failure(ConnectionError("down"), "get")
    assert breaker.state == OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now += 5
    assert breaker.state == HALF_OPEN
    breaker.before_call()  # the trial call
    with pytest.raises(CircuitOpen):  # only one trial at a time
        breaker.before_call()
    breaker.failure(ConnectionError("still down"), "get")
    assert breaker.state == OPEN
    clock.now += 5
    breaker.before_call()
    breaker.success()
    assert breaker.state == CLOSED
    assert recovered == [True]


def test_success_resets_the_failure_count():
    breaker = CircuitBreaker(failures=2, cooldown=5, timer=Clock())
    breaker.failure(ConnectionError(), "get")
    breaker.success()
    breaker.failure(ConnectionError(), "get")
    assert breaker.state == CLOSED


def test_a_breaker_of_another_redis_user_leaves_the_cache_gauge_and_log_alone(caplog):
    gauge = "model_registry_cache_breaker_open"
    metrics.BREAKER_OPEN.set(0)
    other = CircuitBreaker(
        failures=1, cooldown=5, timer=Clock(), name="remembered-token", fallback="db only", gauge=False
    )
    with caplog.at_level(logging.WARNING, logger="caching.breaker"):
        other.failure(ConnectionError("down"), "auth_cache")
    assert other.state == OPEN
    assert REGISTRY.get_sample_value(gauge) == 0
    assert "remembered-token circuit breaker open, db only" in caplog.text

    cache = CircuitBreaker(failures=1, cooldown=5, timer=Clock())
    cache.failure(ConnectionError("down"), "get")
    assert REGISTRY.get_sample_value(gauge) == 1
    cache.reset()
    assert REGISTRY.get_sample_value(gauge) == 0
