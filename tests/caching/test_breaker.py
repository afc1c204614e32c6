"""Circuit breaker: opens after N failures, refuses calls while open, half-opens after the cool-down."""

import pytest

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
