"""Cache-only reads, for degraded mode (the database is unreachable).

``CachePeek`` is a part of ``caching.service.ModelCache``: ``peek(key)``, ``peek_by_id(id)`` and
``peek_list(params)`` look in L1 and L2 only — never the database — and return the value with
its *fill time* (epoch seconds when it was read from the database; L2 payloads carry it as
``"t"``, L1 entries keep it), so the API can say how old a value served while the database is
down is, and refuse values older than ``MODEL_REGISTRY["STALE_MAX_AGE"]``.
"""

from __future__ import annotations

import orjson

from models_registry.records import AIModelRecord

from . import keys as k
from .remote import RemoteUnavailable, decode_entry

NEGATIVE = "__model_registry_missing__"  # L1 marker for "no such model" (short-lived, local only)


def model_slot(key: str) -> tuple:
    """The L1 key of a model record."""
    return ("m", key)


class CachePeek:
    """Cache-only lookups of ``ModelCache`` (uses its ``local``, ``lists``, ``remote``, ``gen``)."""

    def peek(self, key: str) -> tuple[AIModelRecord, float | None] | None:
        """``(record, fill time)`` of ``key`` (or alias) from L1 or L2, never the database; None
        when neither holds it. The fill time (epoch seconds the value was read from the
        database) is None for an L2 entry that does not carry one."""
        k.validate_model_key(key)
        if not self.enabled:
            return None
        entry = self.local.get_entry(model_slot(key))
        if entry is None:
            target = self.local.get(("a", key))
            entry = self.local.get_entry(model_slot(target)) if target is not None else None
        if entry is not None:
            return None if entry[0] == NEGATIVE else entry
        if not self._l2_usable():
            return None
        self._ensure_started()
        try:
            token = self.local.token()
            target = key
            current, values, _ = self.remote.get_many([key], self.gen)
            if current != self.gen:
                self._set_gen(current)
                token = self.local.token()
                current, values, _ = self.remote.get_many([key], current)
            record, filled_at = decode_entry(values[0])
            if record is None:  # perhaps an alias
                raw = self.remote.get_refs([k.alias_key(self.gen, key)])[0]
                if not raw:
                    return None
                target = raw.decode()
                current, values, _ = self.remote.get_many([target], self.gen)
                record, filled_at = decode_entry(values[0])
        except RemoteUnavailable:
            return None
        if record is None or record.key != target:
            return None
        self.local.set(model_slot(target), record, token=token, filled_at=filled_at)
        return record, filled_at

    def peek_by_id(self, model_id: int) -> tuple[AIModelRecord, float | None] | None:
        """``peek`` of the model with primary key ``model_id`` (id → key from L1 or L2)."""
        if not self.enabled:
            return None
        key = self.local.get(("i", model_id))
        if key is None and self._l2_usable():
            self._ensure_started()
            try:
                raw = self.remote.get_refs([k.id_key(self.gen, model_id)])[0]
            except RemoteUnavailable:
                raw = None
            key = raw.decode() if raw else None
        return None if key is None else self.peek(key)

    def peek_list(self, params: dict) -> tuple[dict, float | None] | None:
        """``(page, fill time)`` of a cached list page (see ``get_list``) from L1 or L2 only."""
        if not self.enabled:
            return None
        digest = k.list_digest(params)
        entry = self.lists.get_entry(digest)
        if entry is not None:
            return entry
        if not self._l2_usable():
            return None
        self._ensure_started()
        try:
            list_gen, raw = self.remote.list_get(k.list_key(self.gen, digest))
            data = orjson.loads(raw) if raw is not None else None
            if not data or data.get("lg") != list_gen:
                return None
            filled_at = data.get("t") if isinstance(data.get("t"), int | float) else None
            return {"count": data["count"], "keys": data["keys"]}, filled_at
        except (RemoteUnavailable, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None
