"""The context of the current request (or task) for log records: request id and user.

One ``contextvars.ContextVar`` holding a small mutable ``RequestContext``; the middleware sets it
at the start of a request and resets it at the end. The user is resolved lazily: the record
names the user only once authentication has run (Django's lazy ``request.user`` is never
evaluated here, so logging never costs a session or token query).
"""

from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import empty

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass
class RequestContext:
    request_id: str
    request: Any = None  # the HttpRequest, to read the user once authentication has run
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> str | None:
        return user_label(self.request) if self.request is not None else None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "model_registry_request_context", default=None
)


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(value: str | None) -> str:
    """The incoming ``X-Request-ID`` if it is a sane token (≤ 64 of ``[A-Za-z0-9._-]``), else a new id."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


def user_label(request) -> str | None:
    """``username`` of an authenticated user, ``"anonymous"``, or ``None`` while not yet known.

    Reads ``request.user`` only when it is already resolved (DRF assigns the real user object after
    authentication; Django's ``SimpleLazyObject`` counts only once evaluated)."""
    user = request.__dict__.get("user") if hasattr(request, "__dict__") else None
    if user is None:
        return None
    wrapped = user.__dict__.get("_wrapped", user) if hasattr(user, "__dict__") else user
    if wrapped is None or wrapped is empty:  # a lazy user not evaluated yet
        return None
    if not getattr(wrapped, "is_authenticated", False):
        return "anonymous"
    getter = getattr(wrapped, "get_username", None)
    return str(getter()) if callable(getter) else str(getattr(wrapped, "pk", ""))


def current() -> RequestContext | None:
    return _current.get()


def activate(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def deactivate(token: contextvars.Token) -> None:
    _current.reset(token)
