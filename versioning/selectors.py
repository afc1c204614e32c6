"""The read side of versioning: versions, states, diffs, the model as of a moment, the change
feed, statistics and rollback requests.

- ``version_state(version)`` is the version's full state: its snapshot, or — once pruned —
  rebuilt from the nearest later snapshot by reverting the stored diffs in between.
- ``version_diff(ai_model_id=, number=, against=)``: the changes from ``against`` (a version
  number, ``"current"`` or ``None`` = the previous version) to version ``number``. With
  ``against="current"`` it is what a rollback to ``number`` would change.
- ``ai_model_record_as_of(id=, when=)``: the model as it was at ``when``, as the same immutable
  record the read API serves.
- ``change_feed(since=…)``: every version of every model, in commit-safe order, after an opaque
  cursor or a timestamp. On PostgreSQL rows are ordered by (writing transaction id, id) and only
  transactions older than every one still running are shown (``txid_snapshot_xmin``), so a
  version committed late by a long import is never skipped by a client that already moved past
  its id. SQLite serialises writers, so id order is commit order there.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections import Counter
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from models_registry.exceptions import ModelNotFound, RegistryValidationError
from models_registry.models import AIModel
from models_registry.records import STATE_FIELDS, AIModelRecord, ai_model_state, freeze, record_from_instance

from .diff import KINDS, Change, diff_states, revert_changes
from .exceptions import RollbackRequestNotFound, VersionNotFound
from .impact import LEVELS, Thresholds, assess
from .models import ModelVersion, RollbackRequest
from .snapshots import decode_changes, decode_state, encode_changes

CURRENT = "current"
CURSOR_PREFIX = "mv1"


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------


def _model(ai_model_id: int) -> AIModel:
    try:
        return AIModel.objects.select_related("provider", "successor").get(pk=ai_model_id)
    except (AIModel.DoesNotExist, ValueError, TypeError) as exc:
        raise ModelNotFound(f"Model {ai_model_id!r} does not exist.") from exc


def version_list(*, ai_model_id: int, impact: str | None = None, source: str | None = None) -> QuerySet:
    """The model's versions, newest first (snapshots not loaded)."""
    _model(ai_model_id)
    queryset = (
        ModelVersion.objects.filter(ai_model_id=ai_model_id)
        .select_related("created_by", "ai_model")
        .order_by("-number")
    )
    if impact:
        queryset = queryset.filter(impact=impact)
    if source:
        queryset = queryset.filter(source=source)
    return queryset


def version_get(*, ai_model_id: int, number: int) -> ModelVersion:
    """One version, or ``VersionNotFound`` (``ModelNotFound`` when the model does not exist)."""
    version = (
        ModelVersion.objects.select_related("created_by", "ai_model")
        .filter(ai_model_id=ai_model_id, number=number)
        .first()
    )
    if version is None:
        _model(ai_model_id)
        raise VersionNotFound(f"Model {ai_model_id} has no version {number}.")
    return version


def version_changes(version: ModelVersion) -> list[dict]:
    """The version's changes in stored (JSON) form. Version 1 stores none: its changes are its
    snapshot, every field added — derived here."""
    if version.changes or version.number != 1 or version.snapshot is None:
        return version.changes
    return encode_changes(diff_states(None, version.snapshot))


def version_latest(*, ai_model_id: int) -> ModelVersion | None:
    return ModelVersion.objects.filter(ai_model_id=ai_model_id).order_by("-number").first()


def version_state(version: ModelVersion) -> dict:
    """The full state after ``version`` (decoded: decimals and dates as Python values)."""
    if version.snapshot is not None:
        return decode_state(version.snapshot)
    later = list(
        ModelVersion.objects.filter(ai_model_id=version.ai_model_id, number__gt=version.number).order_by(
            "number"
        )
    )
    base_index = next((i for i, v in enumerate(later) if v.snapshot is not None), None)
    if base_index is None:  # cannot happen: the latest version always keeps its snapshot
        return ai_model_state(_model(version.ai_model_id))
    state = decode_state(later[base_index].snapshot)
    for newer in reversed(later[: base_index + 1]):
        state = revert_changes(state, decode_changes(newer.changes))
    return state


@dataclass(frozen=True)
class VersionDiff:
    """The changes from one side (a version or the current state) to the other."""

    ai_model: AIModel
    from_ref: dict  # {"number", "label"} or {"current": True, "revision"} or {"number": None} (nothing)
    to_ref: dict
    changes: list[Change]

    def impact(self, thresholds: Thresholds | None = None):
        return assess(
            self.changes,
            created=self.from_ref.get("number") is None and not self.from_ref.get("current"),
            thresholds=thresholds,
        )


def _parse_against(against) -> int | str | None:
    if against is None or against == "":
        return None
    if isinstance(against, int) and not isinstance(against, bool):
        return against
    text = str(against).strip().lower()
    if text == CURRENT:
        return CURRENT
    if text.isascii() and text.isdigit():
        return int(text)
    raise RegistryValidationError(
        "against must be a version number or 'current'.",
        field_errors={"against": ["A version number or 'current' is required."]},
    )


def version_diff(*, ai_model_id: int, number: int, against=None) -> VersionDiff:
    """Changes from ``against`` (number, ``"current"``, or ``None`` = the previous version) to
    version ``number``. An unknown ``against`` version is a ``RegistryValidationError``."""
    against = _parse_against(against)
    version = version_get(ai_model_id=ai_model_id, number=number)
    model = version.ai_model
    to_ref = {"number": version.number, "label": version.label}
    if against is None or against == version.number - 1:
        if version.number == 1:
            return VersionDiff(model, {"number": None}, to_ref, decode_changes(version_changes(version)))
        previous = ModelVersion.objects.filter(ai_model_id=ai_model_id, number=version.number - 1).first()
        from_ref = {"number": version.number - 1, "label": previous.label if previous else None}
        return VersionDiff(model, from_ref, to_ref, decode_changes(version.changes))
    if against == CURRENT:
        current = _model(ai_model_id)
        changes = diff_states(ai_model_state(current), version_state(version))
        return VersionDiff(model, {"current": True, "revision": current.revision}, to_ref, changes)
    base = ModelVersion.objects.filter(ai_model_id=ai_model_id, number=against).first()
    if base is None:
        raise RegistryValidationError(
            f"Model {ai_model_id} has no version {against}.",
            field_errors={"against": [f"The model has no version {against}."]},
        )
    changes = diff_states(version_state(base), version_state(version))
    return VersionDiff(model, {"number": base.number, "label": base.label}, to_ref, changes)


# --------------------------------------------------------------------------------------------
# As of a moment
# --------------------------------------------------------------------------------------------


def parse_moment(value: str, param: str = "as_of") -> dt.datetime:
    """An ISO 8601 date-time (a naive one is UTC) or date (its start, UTC); 400 otherwise."""
    text = (value or "").strip().replace(" ", "+")  # a "+" in a query string arrives as a space
    moment = None
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            if day is not None:
                moment = dt.datetime.combine(day, dt.time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise RegistryValidationError(
            f"{param} must be an ISO 8601 date-time, e.g. 2025-06-30T12:00:00Z.",
            field_errors={param: ["An ISO 8601 date-time (e.g. 2025-06-30T12:00:00Z) or date is required."]},
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    try:  # as UTC: PostgreSQL refuses the UTC offsets beyond ±15:59 that the ISO syntax allows
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise RegistryValidationError(
            f"{param} is out of range.", field_errors={param: ["The date-time is out of range."]}
        ) from None


def version_as_of(*, ai_model_id: int, when: dt.datetime) -> ModelVersion | None:
    """The version that was current at ``when`` (``None``: the model did not exist yet)."""
    return (
        ModelVersion.objects.filter(ai_model_id=ai_model_id, created_at__lte=when).order_by("-number").first()
    )


def ai_model_record_as_of(*, id: int, when: dt.datetime | str) -> AIModelRecord:  # noqa: A002
    """The model as it was at ``when``, as an ``AIModelRecord`` (``version``/``revision`` of that
    version; ``updated_at`` the time of that version). ``ModelNotFound`` if it did not exist yet."""
    if isinstance(when, str):
        when = parse_moment(when)
    model = (
        AIModel.objects.select_related("provider", "successor")
        .prefetch_related("alternatives", "aliases")
        .filter(pk=id)
        .first()
    )
    if model is None:
        raise ModelNotFound(f"Model {id!r} does not exist.")
    version = version_as_of(ai_model_id=id, when=when)
    if version is None:
        if not ModelVersion.objects.filter(ai_model_id=id).exists() and model.created_at <= when:
            return record_from_instance(model)  # never versioned: it has been as it is
        raise ModelNotFound(f"Model {id} did not exist at {when.isoformat()}.")
    latest = version_latest(ai_model_id=id)
    if latest is not None and latest.pk == version.pk and model.revision == version.revision:
        return record_from_instance(model)  # the current version: exactly what a plain GET serves
    state = version_state(version)
    return AIModelRecord(
        id=model.pk,
        key=model.key,
        provider=state["provider"],
        name=state["name"],
        display_name=state["display_name"],
        description=state["description"],
        mode=state["mode"],
        context_window=state["context_window"],
        max_output_tokens=state["max_output_tokens"],
        input_cost_per_1m=state["input_cost_per_1m"],
        output_cost_per_1m=state["output_cost_per_1m"],
        pricing=freeze(_pricing_strings(state["pricing"])),
        supports_streaming=state["supports_streaming"],
        supports_function_calling=state["supports_function_calling"],
        supports_vision=state["supports_vision"],
        capabilities=freeze(state["capabilities"]),
        tags=freeze(state["tags"]),
        metadata=freeze(state["metadata"]),
        is_active=state["is_active"],
        is_deprecated=state["is_deprecated"],
        deprecation_date=state["deprecation_date"],
        successor=state["successor"],
        alternatives=freeze(state["alternatives"]),
        aliases=freeze(state["aliases"]),
        source=state["source"],
        source_id=state["source_id"],
        documentation_url=state["documentation_url"],
        version=version.label,
        revision=version.revision,
        discovered_at=model.discovered_at,
        created_at=model.created_at,
        updated_at=version.created_at,
    )


def _pricing_strings(value):
    """Pricing as stored (decimal strings), from the state's Decimals."""
    from .snapshots import encode_value

    return encode_value(value)


# --------------------------------------------------------------------------------------------
# Change feed
# --------------------------------------------------------------------------------------------


def encode_cursor(version: ModelVersion) -> str:
    raw = f"{CURSOR_PREFIX}:{version.txid}:{version.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[int, int] | None:
    """``(txid, id)`` of a cursor made by ``encode_cursor``; ``None`` if it is not one."""
    text = (value or "").strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, rest = raw.partition(":")
    txid, _, pk = rest.partition(":")
    if prefix != CURSOR_PREFIX or not txid.isdigit() or not pk.isdigit():
        return None
    return int(txid), int(pk)


def _visible() -> Q:
    """Rows whose writing transaction can no longer be followed by an earlier-ordered commit."""
    if connection.vendor != "postgresql":
        return Q()
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_snapshot_xmin(txid_current_snapshot()), txid_current_if_assigned()")
        horizon, own = cursor.fetchone()
    visible = Q(txid__lt=horizon)
    if own is not None:
        visible |= Q(txid=own)  # this transaction's own writes
    return visible


@dataclass
class FeedPage:
    versions: list[ModelVersion]
    cursor: str | None  # where the next request starts (``since``)
    has_more: bool


def _feed_filters(*, model=None, field=None, kind=None, impact=None, source=None, until=None) -> Q:
    q = Q()
    if model not in (None, ""):
        text = str(model)
        q &= Q(ai_model_id=int(text)) if text.isascii() and text.isdigit() else Q(ai_model__key=text)
    if field:
        if field not in STATE_FIELDS:
            raise RegistryValidationError(
                f"Unknown field {field!r}.", field_errors={"field": [f"One of: {', '.join(STATE_FIELDS)}."]}
            )
        q &= Q(changed_fields__contains=f" {field} ")
    if kind:
        if kind not in KINDS:
            raise RegistryValidationError(field_errors={"kind": [f"One of: {', '.join(KINDS)}."]})
        q &= Q(change_kinds__contains=f" {kind} ")
    if impact:
        if impact not in LEVELS:
            raise RegistryValidationError(field_errors={"impact": [f"One of: {', '.join(LEVELS)}."]})
        q &= Q(impact=impact)
    if source:
        q &= Q(source=source)
    if until is not None:
        q &= Q(created_at__lt=until)
    return q


def change_feed(
    *,
    since: str | None = None,
    until: str | None = None,
    model=None,
    field: str | None = None,
    kind: str | None = None,
    impact: str | None = None,
    source: str | None = None,
    limit: int = 100,
) -> FeedPage:
    """Versions after ``since`` (a cursor from a previous page, or an ISO timestamp: versions
    recorded at or after it; nothing: from the start), oldest first, at most ``limit``."""
    queryset = ModelVersion.objects.select_related("ai_model", "created_by")
    position = None
    if since:
        position = decode_cursor(since)
        if position is not None:
            txid, pk = position
            queryset = queryset.filter(Q(txid__gt=txid) | Q(txid=txid, pk__gt=pk))
        else:
            queryset = queryset.filter(created_at__gte=parse_moment(since, "since"))
    until_moment = parse_moment(until, "until") if until else None
    queryset = queryset.filter(
        _feed_filters(model=model, field=field, kind=kind, impact=impact, source=source, until=until_moment)
    )
    rows = list(queryset.filter(_visible()).order_by("txid", "pk")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1]) if rows else (since or None)
    return FeedPage(rows, cursor, has_more)


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def version_stats(*, days: int = 30, top: int = 10, now: dt.datetime | None = None) -> dict:
    """Versions per model, the most versioned models, impact and source counts, rollbacks, recent
    versions and how often each field changed (changes after creation, within ``days``; 0 = all)."""
    now = now or timezone.now()
    versions = ModelVersion.objects.all()
    per_model = versions.values("ai_model_id").annotate(n=Count("id"))
    total = versions.count()
    models = per_model.count()
    most = list(
        versions.values("ai_model_id", "ai_model__key")
        .annotate(n=Count("id"), latest=Max("number"))
        .order_by("-n", "ai_model__key")[:top]
    )
    window = versions.filter(number__gt=1).exclude(changed_fields="")
    if days > 0:
        window = window.filter(created_at__gte=now - dt.timedelta(days=days))
    frequency: Counter[str] = Counter()
    for names in window.values_list("changed_fields", flat=True).iterator(chunk_size=2000):
        frequency.update(names.split())
    recent = (
        versions.select_related("ai_model", "created_by")
        .defer("snapshot")
        .order_by("-created_at", "-id")[:top]
    )
    requests = RollbackRequest.objects.values("status").annotate(n=Count("id"))
    return {
        "total_versions": total,
        "models_with_versions": models,
        "average_versions_per_model": round(total / models, 2) if models else 0,
        "max_versions_per_model": most[0]["n"] if most else 0,
        "most_versioned": [
            {
                "model": row["ai_model_id"],
                "key": row["ai_model__key"],
                "versions": row["n"],
                "latest": row["latest"],
            }
            for row in most
        ],
        "by_impact": {
            row["impact"]: row["n"]
            for row in versions.values("impact").annotate(n=Count("id")).order_by("impact")
        },
        "by_source": {
            row["source"]: row["n"]
            for row in versions.values("source").annotate(n=Count("id")).order_by("source")
        },
        "breaking_versions": versions.filter(breaking=True).count(),
        "rollback_versions": versions.filter(source="rollback").count(),
        "rollback_requests": {row["status"]: row["n"] for row in requests.order_by("status")},
        "recent_versions": list(recent),
        "field_change_frequency": dict(sorted(frequency.items(), key=lambda kv: (-kv[1], kv[0]))),
        "window_days": days,
    }


# --------------------------------------------------------------------------------------------
# Rollback requests
# --------------------------------------------------------------------------------------------


def rollback_request_list(
    *,
    model=None,
    status: str | None = None,
    requested_by=None,
    created_after: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
) -> QuerySet:
    """Requests, newest first, filtered by model (id or key), status, requester (id or username)
    and creation time."""
    queryset = RollbackRequest.objects.select_related(
        "ai_model", "target_version", "requested_by", "decided_by", "result_version"
    ).defer("target_version__snapshot", "result_version__snapshot")
    if model not in (None, ""):
        text = str(model)
        queryset = (
            queryset.filter(ai_model_id=int(text))
            if text.isascii() and text.isdigit()
            else queryset.filter(ai_model__key=text)
        )
    if status:
        queryset = queryset.filter(status=status)
    if requested_by not in (None, ""):
        text = str(requested_by)
        queryset = (
            queryset.filter(requested_by_id=int(text))
            if text.isascii() and text.isdigit()
            else queryset.filter(requested_by__username=text)
        )
    if created_after is not None:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before is not None:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset.order_by("-created_at", "-id")


def rollback_request_get(*, pk: int) -> RollbackRequest:
    request = rollback_request_list().filter(pk=pk).first()
    if request is None:
        raise RollbackRequestNotFound(f"Rollback request {pk!r} does not exist.")
    return request


def rollback_request_preview(request: RollbackRequest) -> VersionDiff:
    """What executing ``request`` now would change: the model's current state → the target."""
    return version_diff(
        ai_model_id=request.ai_model_id, number=request.target_version.number, against=CURRENT
    )
