"""The rollback workflow: request → (approve | reject | cancel | expire) → execute.

- ``rollback_request_create``: target version and a reason are required; the target must still
  have its snapshot and differ from the current state; one open (pending/approved) request per
  model (``RollbackStateError``, 409; a partial unique constraint backs it). With
  ``ROLLBACK_REQUIRES_APPROVAL`` off the request is executed at once (and still recorded); with
  ``ENABLE_ROLLBACK`` off every request is refused (``RollbackDisabled``).
- ``rollback_request_approve``: needs ``versioning.approve_rollbackrequest`` and an approver who
  is not the requester (``RollbackForbidden``, 403; a check constraint backs it). The approver
  approves the diff between the model's state *now* and the target — it is stored on the
  request (``approved_changes``) — and may pin the model revision they reviewed
  (``expected_revision``: ``PreconditionFailed`` if it moved since). Then the request executes.
- ``rollback_request_reject`` (same rules, a comment is required), ``rollback_request_cancel``
  (the requester only), ``rollback_requests_expire`` (pending requests older than
  ``ROLLBACK_REQUEST_EXPIRY_DAYS``).

Execution restores the target's snapshot through ``ai_model_restore_snapshot`` (source
``rollback``, the reason naming the request) inside a savepoint: if any step fails — the
restore, recording the version, the audit rows, completing the request — the savepoint is
rolled back, so model, versions, history and cache invalidation are exactly as before, and the
request is marked ``failed`` with the error in the outer transaction.

Locks are always taken model row first, then request row.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from models_registry import services
from models_registry.conf import registry_settings
from models_registry.exceptions import ModelNotFound, PreconditionFailed, RegistryValidationError
from models_registry.models import AIModel
from models_registry.observability import events as observability
from models_registry.records import ai_model_state

from ..diff import diff_states
from ..exceptions import (
    RollbackDisabled,
    RollbackForbidden,
    RollbackRequestNotFound,
    RollbackStateError,
)
from ..models import ModelVersion, RollbackRequest
from ..snapshots import decode_state, encode_changes
from .recording import restoring_version

logger = logging.getLogger(__name__)

APPROVE_PERMISSION = "versioning.approve_rollbackrequest"
ROLLBACK_SOURCE = "rollback"
Status = RollbackRequest.Status


def rollbacks_enabled() -> bool:
    return bool(registry_settings.ENABLE_ROLLBACK)


def _require_enabled() -> None:
    if not rollbacks_enabled():
        raise RollbackDisabled(
            "Rollbacks are disabled on this registry (MODEL_REGISTRY['ENABLE_ROLLBACK'] is False)."
        )


def _user(actor):
    if actor is None or getattr(actor, "pk", None) is None or not getattr(actor, "is_authenticated", False):
        return None
    return actor


def _lock_model(ai_model: AIModel | int) -> AIModel:
    pk = ai_model.pk if isinstance(ai_model, AIModel) else ai_model
    try:
        return (
            AIModel.objects.select_for_update(of=("self",)).select_related("provider", "successor").get(pk=pk)
        )
    except (AIModel.DoesNotExist, ValueError, TypeError) as exc:
        raise ModelNotFound(f"Model {pk!r} does not exist.") from exc


def _lock_request(rollback_request: RollbackRequest | int) -> tuple[AIModel, RollbackRequest]:
    """The request and its model, both locked (model first)."""
    pk = rollback_request.pk if isinstance(rollback_request, RollbackRequest) else rollback_request
    model_id = RollbackRequest.objects.filter(pk=pk).values_list("ai_model_id", flat=True).first()
    if model_id is None:
        raise RollbackRequestNotFound(f"Rollback request {pk!r} does not exist.")
    model = _lock_model(model_id)
    request = (
        RollbackRequest.objects.select_for_update(of=("self",))
        .select_related("target_version", "requested_by")
        .get(pk=pk)
    )
    return model, request


def _target(model: AIModel, target_version: ModelVersion | int) -> ModelVersion:
    number = target_version.number if isinstance(target_version, ModelVersion) else target_version
    if isinstance(target_version, ModelVersion) and target_version.ai_model_id != model.pk:
        raise RegistryValidationError(
            "The target version is of another model.",
            field_errors={"target_version": ["This version belongs to another model."]},
        )
    if isinstance(number, bool) or not isinstance(number, int):
        raise RegistryValidationError(field_errors={"target_version": ["A version number is required."]})
    version = ModelVersion.objects.filter(ai_model=model, number=number).first()
    if version is None:
        raise RegistryValidationError(
            f"{model.key} has no version {number}.",
            field_errors={"target_version": [f"{model.key} has no version {number}."]},
        )
    return version


def _restorable(version: ModelVersion, field: str = "target_version") -> None:
    if not version.rollback_available or version.snapshot is None:
        raise RegistryValidationError(
            f"Version {version.number} can no longer be restored: its snapshot was pruned.",
            field_errors={field: [f"Version {version.number} can no longer be restored (pruned)."]},
        )


def rollback_changes(model: AIModel, target: ModelVersion) -> list:
    """The changes a rollback of ``model`` (its state now) to ``target`` makes."""
    return diff_states(ai_model_state(model), decode_state(target.snapshot))


def _expiry_days() -> int:
    return int(registry_settings.ROLLBACK_REQUEST_EXPIRY_DAYS or 0)


def _is_stale(request: RollbackRequest, now: dt.datetime) -> bool:
    days = _expiry_days()
    return (
        request.status == Status.PENDING and days > 0 and request.created_at < now - dt.timedelta(days=days)
    )


def _mark_expired(request: RollbackRequest, now: dt.datetime) -> None:
    request.status = Status.EXPIRED
    request.decided_at = now
    request.decision_comment = f"Expired: pending for more than {_expiry_days()} day(s)."
    request._history_user = services.system_user_get()
    request._change_reason = request.decision_comment
    request.save()
    observability.rollback_recorded(rollback_request=request)


def _save(request: RollbackRequest, actor, reason: str) -> None:
    request._history_user = _user(actor)
    request._change_reason = reason
    request.save()
    observability.rollback_recorded(rollback_request=request, actor=actor)


# --------------------------------------------------------------------------------------------
# Request
# --------------------------------------------------------------------------------------------


@transaction.atomic
def rollback_request_create(
    *, ai_model: AIModel | int, target_version: ModelVersion | int, reason: str, actor
) -> RollbackRequest:
    """Ask for ``ai_model`` to be restored to ``target_version`` (a number or a version)."""
    _require_enabled()
    user = _user(actor)
    if user is None:
        raise RollbackForbidden("A rollback request needs an authenticated requester.")
    reason = (reason or "").strip()
    if not reason:
        raise RegistryValidationError(
            "A reason is required.", field_errors={"reason": ["Say why the model should be rolled back."]}
        )
    _refuse_nul(reason, "reason")
    model = _lock_model(ai_model)
    target = _target(model, target_version)
    _restorable(target)
    changes = rollback_changes(model, target)
    if not changes:
        raise RegistryValidationError(
            f"{model.key} is already in the state of version {target.number}; there is nothing to roll back.",
            field_errors={
                "target_version": [f"The model is already in the state of version {target.number}."]
            },
        )
    now = timezone.now()
    for stale in RollbackRequest.objects.select_for_update().filter(ai_model=model, status=Status.PENDING):
        if _is_stale(stale, now):
            _mark_expired(stale, now)
    open_request = RollbackRequest.objects.filter(
        ai_model=model, status__in=RollbackRequest.OPEN_STATUSES
    ).first()
    if open_request is not None:
        raise RollbackStateError(
            f"{model.key} already has an open rollback request (#{open_request.pk}, {open_request.status}); "
            "decide or cancel it first.",
            extra={"open_request": open_request.pk},
        )
    request = RollbackRequest(
        ai_model=model,
        target_version=target,
        reason=reason,
        requested_by=user,
        base_revision=model.revision,
        requested_changes=encode_changes(changes),
        created_at=now,
    )
    try:
        with transaction.atomic():
            _save(request, user, reason)
    except IntegrityError as exc:  # a concurrent request won the partial unique index
        raise RollbackStateError(f"{model.key} already has an open rollback request.") from exc
    if not registry_settings.ROLLBACK_REQUIRES_APPROVAL:
        request.approved_changes = request.requested_changes
        request.decision_comment = "Executed without approval (ROLLBACK_REQUIRES_APPROVAL is off)."
        _execute(request, actor=user, model=model)
    return request


# --------------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------------


def _refuse_nul(text: str, field: str) -> None:
    """PostgreSQL text cannot hold NUL: a clear validation error, not a database error."""
    if "\x00" in text:
        raise RegistryValidationError(
            f"The {field} contains a NUL character.",
            field_errors={field: ["NUL characters are not allowed."]},
        )


def _check_decider(request: RollbackRequest, actor, verb: str) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise RollbackForbidden(
            f"Only an authenticated user with the approval permission can {verb} a rollback."
        )
    if not actor.has_perm(APPROVE_PERMISSION):
        raise RollbackForbidden(f"You need the permission {APPROVE_PERMISSION} to {verb} rollback requests.")
    if request.requested_by_id is not None and actor.pk == request.requested_by_id:
        raise RollbackForbidden(
            f"You requested this rollback, so you cannot {verb} it: someone else must (four-eyes rule)."
            + (" Cancel it instead." if verb == "reject" else "")
        )


def _check_pending(request: RollbackRequest, verb: str) -> None:
    if request.status != Status.PENDING:
        raise RollbackStateError(
            f"Rollback request #{request.pk} is {request.status}; only a pending request can be {verb}.",
            extra={"status": request.status},
        )


def rollback_request_approve(
    *,
    rollback_request: RollbackRequest | int,
    actor,
    comment: str = "",
    expected_revision: int | None = None,
) -> RollbackRequest:
    """Approve a pending request and execute it. Returns the request, ``completed`` or
    ``failed`` (with ``error``); raises if it cannot be approved (and then changes nothing, except
    that a request found past its expiry is marked ``expired``)."""
    _require_enabled()
    _refuse_nul(comment or "", "comment")
    expired = None
    with transaction.atomic():
        model, request = _lock_request(rollback_request)
        _check_decider(request, actor, "approve")
        now = timezone.now()
        if _is_stale(request, now):
            _mark_expired(request, now)
            expired = request
        else:
            _check_pending(request, "approved")
            if expected_revision is not None and model.revision != expected_revision:
                raise PreconditionFailed(
                    f"{model.key} changed since you reviewed it (revision {model.revision}, not "
                    f"{expected_revision}); review the difference again.",
                    extra={"current_revision": model.revision},
                )
            _restorable(request.target_version)
            request.status = Status.APPROVED
            request.decided_by = actor
            request.decided_at = now
            request.decision_comment = (comment or "").strip()
            request.approved_changes = encode_changes(rollback_changes(model, request.target_version))
            _save(request, actor, request.decision_comment or "approved")
            _execute(request, actor=actor, model=model)
    if expired is not None:
        raise RollbackStateError(
            f"Rollback request #{expired.pk} expired (pending for more than {_expiry_days()} day(s)).",
            extra={"status": expired.status},
        )
    return request


@transaction.atomic
def rollback_request_reject(
    *, rollback_request: RollbackRequest | int, actor, comment: str
) -> RollbackRequest:
    """Reject a pending request; the comment (why) is required."""
    comment = (comment or "").strip()
    if not comment:
        raise RegistryValidationError(
            "A comment is required.", field_errors={"comment": ["Say why the rollback is rejected."]}
        )
    _refuse_nul(comment, "comment")
    _, request = _lock_request(rollback_request)
    _check_decider(request, actor, "reject")
    _check_pending(request, "rejected")
    request.status = Status.REJECTED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_comment = comment
    _save(request, actor, comment)
    return request


@transaction.atomic
def rollback_request_cancel(
    *, rollback_request: RollbackRequest | int, actor, comment: str = ""
) -> RollbackRequest:
    """The requester withdraws a pending request."""
    _, request = _lock_request(rollback_request)
    if _user(actor) is None or actor.pk != request.requested_by_id:
        raise RollbackForbidden("Only the user who requested a rollback can cancel it.")
    _check_pending(request, "cancelled")
    request.status = Status.CANCELLED
    request.decided_at = timezone.now()
    request.decision_comment = (comment or "").strip()
    _save(request, actor, request.decision_comment or "cancelled")
    return request


@transaction.atomic
def rollback_requests_expire(*, now: dt.datetime | None = None) -> int:
    """Mark pending requests older than ``ROLLBACK_REQUEST_EXPIRY_DAYS`` as expired (attributed
    to the system user). Returns how many expired. Idempotent; for the scheduler."""
    days = _expiry_days()
    if days <= 0:
        return 0
    now = now or timezone.now()
    stale = RollbackRequest.objects.select_for_update().filter(
        status=Status.PENDING, created_at__lt=now - dt.timedelta(days=days)
    )
    count = 0
    for request in stale.order_by("pk"):
        _mark_expired(request, now)
        count += 1
    return count


# --------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------


def _error_text(exc: Exception) -> str:
    if isinstance(exc, RegistryValidationError) and exc.field_errors:
        details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.field_errors.items())
        return f"{type(exc).__name__}: {details}"
    return f"{type(exc).__name__}: {exc}"


def _execute(request: RollbackRequest, *, actor, model: AIModel) -> None:
    """Restore the target inside a savepoint; on any failure undo it and mark the request failed.
    ``model`` is the model row the caller has locked."""
    target = request.target_version
    requester = request.requested_by.get_username() if request.requested_by_id else "unknown"
    approver = f", approved by {actor.get_username()}" if request.decided_by_id else ""
    reason = (
        f"Rollback to version {target.number} ({target.label}), request #{request.pk} by {requester}"
        f"{approver}: {request.reason}"
    )
    try:
        with transaction.atomic():
            token = restoring_version.set(target.number)
            try:
                restored = services.ai_model_restore_snapshot(
                    ai_model=model.pk,
                    snapshot=target.snapshot,
                    actor=actor,
                    reason=reason,
                    source=ROLLBACK_SOURCE,
                )
            finally:
                restoring_version.reset(token)
            result = None
            if restored.revision != model.revision:  # a new version; none if nothing differed any more
                result = ModelVersion.objects.filter(ai_model_id=model.pk).order_by("-number").first()
            request.status = Status.COMPLETED
            request.result_version = result
            request.executed_at = timezone.now()
            request.error = ""
            _save(request, actor, reason)
    except Exception as exc:
        # The savepoint is rolled back: the model, its versions, every audit row and the cache
        # invalidation of the execution are gone; only the failure is recorded.
        logger.warning("Rollback request #%s failed: %s", request.pk, exc, exc_info=True)
        request.status = Status.FAILED
        request.result_version = None
        request.executed_at = timezone.now()
        request.error = _error_text(exc)[:4000]
        _save(request, actor, f"failed: {request.error}")
