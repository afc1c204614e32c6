"""A second OS process for the cross-process cache tests (started by ``helpers.ChildReader``).

Reads one model through ``selectors.ai_model_get`` in a tight loop — so after the first read it
is served from this process's L1 — and prints one JSON line per new revision it sees:
``{"event": "seen", "revision", "value" (context_window), "t" (time.monotonic(), comparable
across processes on one machine), "message_t" (when the last invalidation message arrived),
"received" (pub/sub messages), "db_loads"}``. The first line,
``{"event": "ready", ...}``, comes once the model is in L1 and the subscriber is listening.

Configuration: environment ``MR_CHILD`` (JSON: key, namespace, l1_ttl, deaf, max_seconds), plus
``DATABASE_URL`` / ``REDIS_URL`` pointing at the parent's test database and Redis. ``deaf``
subscribes the process to a channel nobody publishes on: a subscriber that silently gets no
messages. The process exits when its stdin closes or after ``max_seconds``.
"""

import json
import os
import sys
import threading
import time


def emit(**event) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _exit_when_stdin_closes() -> None:
    sys.stdin.read()
    os._exit(0)


def main() -> None:
    config = json.loads(os.environ["MR_CHILD"])
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()

    import django

    django.setup()
    from django.conf import settings

    settings.MODEL_REGISTRY = {
        "CACHE_ENABLED": True,
        "CACHE_NAMESPACE": config["namespace"],
        "L1_TTL": float(config["l1_ttl"]),
    }
    from caching import keys, metrics
    from caching.service import model_cache
    from models_registry import selectors

    if config.get("deaf"):
        real_channel = keys.channel
        keys.channel = lambda: real_channel() + ":nobody-publishes-here"

    cache = model_cache()
    arrivals = [None]  # when the last invalidation message reached this process
    handle = cache.subscriber.on_message

    def on_message(data):
        arrivals[0] = time.monotonic()
        handle(data)

    cache.subscriber.on_message = on_message
    key = config["key"]
    deadline = time.monotonic() + float(config.get("max_seconds", 60))
    record = selectors.ai_model_get(key=key)
    if not cache.subscriber.wait_ready(5):
        emit(event="error", reason="subscriber not ready")
        os._exit(1)
    record = selectors.ai_model_get(key=key)
    last = record.revision
    emit(event="ready", revision=last, value=record.context_window, pid=os.getpid())
    while time.monotonic() < deadline:
        record = selectors.ai_model_get(key=key)
        if record.revision != last:
            last = record.revision
            emit(
                event="seen",
                t=time.monotonic(),
                message_t=arrivals[0],
                revision=record.revision,
                value=record.context_window,
                received=cache.subscriber.received,
                db_loads=metrics.counter_value(metrics.DB_LOADS),
            )
        time.sleep(0.0002)
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - report, then die
        emit(event="error", reason=f"{type(exc).__name__}: {exc}")
        os._exit(1)
