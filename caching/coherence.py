"""Cross-process L1 coherence over Redis pub/sub.

Every process runs one daemon thread subscribed to ``keys.channel()``. Writers publish the model
keys they invalidated (inside the same Lua call that deletes L2 and bumps the fences) and the
thread drops those keys from its process's L1. Messages can be lost while the subscription is
down, so the L1 is flushed whenever the thread (re)subscribes; the L1 TTL cap (``L1_TTL``)
bounds staleness if the thread dies silently or its connection is blackholed (redis-py's
``health_check_interval`` PING does not notice a connection that silently stops answering, so
``L1_TTL`` is the bound in that case).

The thread also calls ``on_tick()`` about once a second (and before each reconnection attempt):
the cache uses it to pay back, as soon as Redis answers again, an invalidation that could not
reach Redis, instead of waiting for this process's next cache miss.

Message (JSON): ``{"k": [model keys], "all": bool, "gen": namespace generation or null}``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import orjson
import redis
from django.conf import settings

from models_registry.conf import registry_settings

from . import keys as k

logger = logging.getLogger("caching.coherence")


def message(*, keys: list[str] | None = None, flush: bool = False, gen: int | None = None) -> bytes:
    return orjson.dumps({"k": keys or [], "all": flush, "gen": gen, "pid": os.getpid()})


def parse(raw: bytes) -> dict | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("k", []), list):
        return None
    return data


class Subscriber:
    """The per-process listener. ``on_message(data)`` handles a parsed message; ``on_resync()``
    runs on every (re)subscription, before messages are delivered; ``on_tick()`` runs about once
    a second, connected or not."""

    def __init__(
        self,
        *,
        on_message: Callable[[dict], None],
        on_resync: Callable[[], None],
        on_tick: Callable[[], None] | None = None,
    ):
        self.on_message = on_message
        self.on_resync = on_resync
        self.on_tick = on_tick
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.received = 0
        self.resyncs = 0

    def _client(self) -> redis.Redis:
        location = settings.CACHES[registry_settings.CACHE_ALIAS]["LOCATION"]
        url = location[0] if isinstance(location, list | tuple) else location
        return redis.Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=5.0,
            health_check_interval=2,
            socket_keepalive=True,
        )

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="model-registry-cache-subscriber", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float = 2.0) -> bool:
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._ready.is_set()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            client = pubsub = None
            try:
                client = self._client()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(k.channel())
                # wait for the subscription to be confirmed before declaring L1 trustworthy
                pubsub.get_message(timeout=1.0, ignore_subscribe_messages=False)
                self.resyncs += 1
                self.on_resync()
                self._ready.set()
                backoff = 0.1
                while not self._stop.is_set():
                    self._tick()
                    item = pubsub.get_message(timeout=1.0)
                    if item is None or item.get("type") != "message":
                        continue
                    data = parse(item["data"])
                    if data is not None:
                        self.received += 1
                        self.on_message(data)
            except Exception as exc:  # noqa: BLE001 - the listener must survive anything
                self._ready.clear()
                logger.debug("cache subscriber disconnected: %s", exc)
                try:
                    self.on_resync()  # messages may be lost from now on: drop L1
                except Exception:  # noqa: BLE001
                    logger.exception("cache resync failed")
                self._tick()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                for closable in (pubsub, client):
                    try:
                        if closable is not None:
                            closable.close()
                    except Exception:  # noqa: BLE001
                        pass
        self._ready.clear()

    def _tick(self) -> None:
        if self.on_tick is None:
            return
        try:
            self.on_tick()
        except Exception:  # noqa: BLE001 - the listener must survive anything
            logger.exception("cache subscriber tick failed")


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds (used by tests and the benchmark)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
