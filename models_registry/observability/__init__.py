"""Observability: health endpoints, Prometheus metrics, request context and structured logs.

- ``health.py``: the readiness checks (database; Redis and Celery reported, never failing).
- ``metrics.py``: the ``model_registry_*`` metrics of requests and domain events, and the
  ``/metrics`` exposition (prometheus-client's multiprocess mode under gunicorn).
- ``context.py``: the request id and user of the current request, in ``contextvars``.
- ``logging.py``: a JSON formatter, a plain formatter and the filter that adds the context.
- ``middleware.py``: request id, timing, query counting, one log line per write or error.
- ``events.py``: one call per domain outcome (version recorded, rollback decided, sync finished,
  import finished, task finished) → metric + operation log line, after commit.
- ``receivers.py``: receivers of ``ai_model_written`` and the cache signals.
- ``views.py`` / ``urls.py``: ``health/``, ``health/live/``, ``metrics`` (include-able).

This package is imported from ``LOGGING`` (formatters, filter) before the apps are ready: its
``__init__`` and ``logging``/``context`` modules import nothing from Django's ORM.
"""
