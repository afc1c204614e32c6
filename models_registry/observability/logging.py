"""Structured logs: one JSON object per line, with the request context on every record.

Used from ``settings.LOGGING`` (see ``config/settings/base.py``)::

    "filters": {"context": {"()": "models_registry.observability.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "models_registry.observability.logging.JsonFormatter"},
        "plain": {"()": "models_registry.observability.logging.PlainFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}},

A JSON line carries ``timestamp`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``,
``message``, ``request_id``, ``user``, ``operation``, ``duration_ms`` (``null`` when not
applicable), then every ``extra={...}`` field of the call, then ``exception`` (the formatted
traceback) when there is one. Extra fields whose name is a sensitive key (``SENSITIVE_METADATA_KEYS``,
``password``, ``secret``, ``token``, ``authorization``, ``cookie``), at any depth, are written as
``"[redacted]"``; callers log field *names*, never values of model data.

This module must stay importable before Django's apps are ready (``LOGGING`` is configured first).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from . import context

REDACTED = "[redacted]"
ALWAYS_SENSITIVE = frozenset({"password", "secret", "token", "authorization", "cookie", "api_key"})
CONTEXT_FIELDS = ("request_id", "user", "operation", "duration_ms")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    *CONTEXT_FIELDS,
}


def _sensitive_names() -> frozenset[str]:
    try:
        from ..conf import registry_settings

        configured = {str(k).lower() for k in registry_settings.SENSITIVE_METADATA_KEYS}
    except Exception:  # noqa: BLE001 - settings not configured yet: the fixed list still applies
        configured = set()
    return ALWAYS_SENSITIVE | configured


def redact(value: Any, names: frozenset[str], depth: int = 0) -> Any:
    """``value`` with the values of sensitive keys (at any depth) replaced by ``[redacted]``."""
    if depth > 8:
        return value
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if str(k).lower() in names else redact(v, names, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, names, depth + 1) for v in value]
    return value


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``user`` of the current request (``None`` outside one), and
    ``operation`` / ``duration_ms`` (``None`` unless the call passed them in ``extra``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = context.current()
        request = getattr(record, "request", None)  # django.request logs after the middleware returned
        if getattr(record, "request_id", None) is None:
            record.request_id = ctx.request_id if ctx is not None else getattr(request, "request_id", None)
        if getattr(record, "user", None) is None:
            if ctx is not None:
                record.user = ctx.user
            else:
                record.user = context.user_label(request) if hasattr(request, "META") else None
        for name in ("operation", "duration_ms"):
            if not hasattr(record, name):
                setattr(record, name, None)
        return True


def _plain_value(value: Any) -> Any:
    """An ``HttpRequest`` (``django.request`` passes one) as method and path only: its ``str()``
    would carry the query string, which may hold credentials."""
    if hasattr(value, "META") and hasattr(value, "path"):
        return {"method": getattr(value, "method", None), "path": value.path}
    return value


def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        names = _sensitive_names()
        ctx = context.current()
        out: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or (ctx.request_id if ctx else None),
            "user": getattr(record, "user", None) or (ctx.user if ctx else None),
            "operation": getattr(record, "operation", None),
            "duration_ms": getattr(record, "duration_ms", None),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            out[key] = REDACTED if key.lower() in names else redact(_plain_value(value), names)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=_default, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """Human-readable lines for development: time, level, logger, ``[request id]``, message, and the
    operation fields (``key=value``) when the record has them."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: str = "%", **kwargs):
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(message)s", datefmt, style, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        names = _sensitive_names()
        fields = {
            key: (REDACTED if key.lower() in names else redact(_plain_value(value), names))
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        }
        for name in ("operation", "duration_ms", "user"):
            if getattr(record, name, None) is not None:
                fields[name] = getattr(record, name)
        request_id = getattr(record, "request_id", None)
        prefix = f"[{request_id}] " if request_id else ""
        suffix = " ".join(f"{k}={v}" for k, v in fields.items())
        first, _, rest = line.partition("\n")
        head = first.replace(record.getMessage(), prefix + record.getMessage(), 1) if prefix else first
        return head + (f" | {suffix}" if suffix else "") + (f"\n{rest}" if rest else "")
