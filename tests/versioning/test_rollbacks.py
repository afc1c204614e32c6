"""The rollback workflow in the services: request, four eyes, approve / reject / cancel / expire,
exact and atomic execution, settings."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from models_registry import services
from models_registry.exceptions import PreconditionFailed, RegistryValidationError
from models_registry.models import AIModel
from models_registry.signals import ai_model_written
from tests.factories import AIModelFactory, UserFactory
from tests.versioning.conftest import snapshot_state, state_of, versions_of
from versioning import services as rollbacks
from versioning.exceptions import RollbackDisabled, RollbackForbidden, RollbackStateError
from versioning.models import ModelVersion, RollbackRequest

pytestmark = pytest.mark.django_db
Status = RollbackRequest.Status


def request_rollback(model, number, user, reason="upstream mistake"):
    return rollbacks.rollback_request_create(ai_model=model, target_version=number, reason=reason, actor=user)


def test_request_then_approve_restores_exactly_as_a_new_version(gpt, requester, approver):
    target = versions_of(gpt)[0]
    request = request_rollback(gpt, 1, requester)
    assert (request.status, request.requested_by, request.base_revision) == (Status.PENDING, requester, 4)
    assert {c["field"] for c in request.requested_changes} == {
        "input_cost_per_1m",
        "capabilities.reasoning",
        "display_name",
    }
    assert state_of(gpt)["display_name"] == "GPT 4o"  # nothing happens before approval

    done = rollbacks.rollback_request_approve(rollback_request=request, actor=approver, comment="ok")
    assert (done.status, done.decided_by, done.error) == (Status.COMPLETED, approver, "")
    assert state_of(gpt) == snapshot_state(target)
    result = done.result_version
    assert (result.number, result.source, result.restored_from, result.created_by) == (
        5,
        "rollback",
        1,
        approver,
    )
    assert f"request #{request.pk}" in result.reason and "upstream mistake" in result.reason
    assert [v.number for v in versions_of(gpt)] == [1, 2, 3, 4, 5]
    gpt.refresh_from_db()
    assert gpt.version == result.label
    assert gpt.history.first().history_user == approver
    assert list(done.history.order_by("history_id").values_list("status", flat=True)) == [
        "pending",
        "approved",
        "completed",
    ]


def test_approver_sees_the_diff_at_approval_time(gpt, requester, approver):
    request = request_rollback(gpt, 3, requester)
    assert {c["field"] for c in request.requested_changes} == {"display_name"}
    services.ai_model_update(ai_model=gpt, data={"context_window": 64_000}, source="admin")  # meanwhile
    preview = rollbacks.rollback_changes(AIModel.objects.get(pk=gpt.pk), request.target_version)
    assert {c.field for c in preview} == {"display_name", "context_window"}
    with pytest.raises(PreconditionFailed):  # the approver reviewed revision 4; it is 5 now
        rollbacks.rollback_request_approve(rollback_request=request, actor=approver, expected_revision=4)
    request.refresh_from_db()
    assert request.status == Status.PENDING
    done = rollbacks.rollback_request_approve(rollback_request=request, actor=approver, expected_revision=5)
    assert {c["field"] for c in done.approved_changes} == {"display_name", "context_window"}
    assert state_of(gpt) == snapshot_state(versions_of(gpt)[2])


def test_self_approval_is_refused_even_with_the_permission(gpt, approver):
    request = request_rollback(gpt, 1, approver)
    with pytest.raises(RollbackForbidden, match="four-eyes"):
        rollbacks.rollback_request_approve(rollback_request=request, actor=approver)
    with pytest.raises(RollbackForbidden):
        rollbacks.rollback_request_reject(rollback_request=request, actor=approver, comment="no")
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (Status.PENDING, None)


def test_approval_needs_the_permission(gpt, requester, outsider):
    request = request_rollback(gpt, 1, requester)
    with pytest.raises(RollbackForbidden, match="approve_rollbackrequest"):
        rollbacks.rollback_request_approve(rollback_request=request, actor=outsider)
    request.refresh_from_db()
    assert request.status == Status.PENDING
    assert len(versions_of(gpt)) == 4


def test_database_refuses_a_self_decided_request_behind_the_services_back(gpt, requester):
    request = request_rollback(gpt, 1, requester)
    with pytest.raises(IntegrityError), transaction.atomic():
        RollbackRequest.objects.filter(pk=request.pk).update(decided_by=requester, status=Status.APPROVED)
    with pytest.raises(IntegrityError), transaction.atomic():
        RollbackRequest.objects.create(
            ai_model=gpt,
            target_version=request.target_version,
            reason="second",
            requested_by=requester,
            base_revision=1,
        )  # a second open request for the model


def test_one_open_request_per_model(gpt, requester, approver):
    request_rollback(gpt, 1, requester)
    with pytest.raises(RollbackStateError) as exc:
        request_rollback(gpt, 2, approver)
    assert exc.value.status_code == 409
    other = AIModelFactory()
    services.ai_model_update(ai_model=other, data={"description": "x"})
    request_rollback(other, 1, requester)  # another model is fine


def test_request_validation(gpt, requester):
    with pytest.raises(RegistryValidationError) as exc:
        request_rollback(gpt, 99, requester)
    assert "target_version" in exc.value.field_errors
    with pytest.raises(RegistryValidationError) as exc:
        request_rollback(gpt, 1, requester, reason="  ")
    assert "reason" in exc.value.field_errors
    with pytest.raises(RegistryValidationError):  # already in the state of version 4
        request_rollback(gpt, 4, requester)
    with pytest.raises(RollbackForbidden):
        request_rollback(gpt, 1, None)
    assert not RollbackRequest.objects.exists()


def test_reject_needs_a_comment_and_cancel_is_the_requesters(gpt, requester, approver, outsider):
    request = request_rollback(gpt, 1, requester)
    with pytest.raises(RegistryValidationError):
        rollbacks.rollback_request_reject(rollback_request=request, actor=approver, comment="")
    with pytest.raises(RollbackForbidden):
        rollbacks.rollback_request_cancel(rollback_request=request, actor=outsider)
    rejected = rollbacks.rollback_request_reject(
        rollback_request=request, actor=approver, comment="price is right"
    )
    assert (rejected.status, rejected.decided_by, rejected.decision_comment) == (
        Status.REJECTED,
        approver,
        "price is right",
    )
    with pytest.raises(RollbackStateError):
        rollbacks.rollback_request_approve(rollback_request=request, actor=approver)
    second = request_rollback(gpt, 2, requester)  # a decided request is no longer open
    cancelled = rollbacks.rollback_request_cancel(
        rollback_request=second, actor=requester, comment="never mind"
    )
    assert (cancelled.status, cancelled.decided_by) == (Status.CANCELLED, None)
    assert len(versions_of(gpt)) == 4


def test_pending_requests_expire(gpt, requester, approver, settings):
    request = request_rollback(gpt, 1, requester)
    RollbackRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() - dt.timedelta(days=8))
    with pytest.raises(RollbackStateError, match="expired"):
        rollbacks.rollback_request_approve(rollback_request=request, actor=approver)
    request.refresh_from_db()
    assert request.status == Status.EXPIRED
    assert request.history.first().history_user.username == "model-registry-system"
    fresh = request_rollback(gpt, 2, requester)
    old = AIModelFactory()
    services.ai_model_update(ai_model=old, data={"description": "x"})
    stale = request_rollback(old, 1, requester)
    RollbackRequest.objects.filter(pk=stale.pk).update(created_at=timezone.now() - dt.timedelta(days=30))
    assert rollbacks.rollback_requests_expire() == 1
    assert RollbackRequest.objects.get(pk=stale.pk).status == Status.EXPIRED
    assert RollbackRequest.objects.get(pk=fresh.pk).status == Status.PENDING
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "ROLLBACK_REQUEST_EXPIRY_DAYS": 0}
    RollbackRequest.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - dt.timedelta(days=300))
    assert rollbacks.rollback_requests_expire() == 0


def test_without_approval_a_request_executes_at_once_and_is_recorded(gpt, requester, settings):
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "ROLLBACK_REQUIRES_APPROVAL": False}
    request = request_rollback(gpt, 2, requester)
    assert (request.status, request.decided_by) == (Status.COMPLETED, None)
    assert request.result_version.number == 5
    assert state_of(gpt) == snapshot_state(versions_of(gpt)[1])
    assert RollbackRequest.objects.filter(pk=request.pk, status=Status.COMPLETED).exists()


def test_disabled_rollbacks_are_refused(gpt, requester, approver, settings):
    request = request_rollback(gpt, 1, requester)
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "ENABLE_ROLLBACK": False}
    with pytest.raises(RollbackDisabled, match="disabled"):
        request_rollback(AIModelFactory(), 1, requester)
    with pytest.raises(RollbackDisabled):
        rollbacks.rollback_request_approve(rollback_request=request, actor=approver)
    assert RollbackRequest.objects.get(pk=request.pk).status == Status.PENDING


def _fingerprint(model):
    return (
        state_of(model),
        AIModel.objects.filter(pk=model.pk).values("revision", "version").get(),
        list(ModelVersion.objects.filter(ai_model=model).values_list("number", flat=True)),
        ModelVersion.history.count(),
        model.history.count(),
    )


def _raise(*args, **kwargs):
    raise RuntimeError("injected failure")


@pytest.mark.parametrize(
    "step",
    [
        "models_registry.services.models._validate",  # validation of the restored row
        "models_registry.services.models._restore_aliases",  # after the row and its history are saved
        "versioning.services.recording.versions_write",  # recording the version
        "simple_history.manager.HistoryManager.bulk_history_create",  # the version's audit row
        "receiver",  # another receiver of the write hook (e.g. the cache's)
    ],
)
def test_an_injected_failure_changes_nothing_and_marks_the_request_failed(
    gpt, requester, approver, monkeypatch, step
):
    request = request_rollback(gpt, 1, requester)
    before = _fingerprint(gpt)
    if step == "receiver":
        ai_model_written.connect(_raise, weak=False, dispatch_uid="t-failing-receiver")
    else:
        monkeypatch.setattr(step, _raise)
    try:
        done = rollbacks.rollback_request_approve(rollback_request=request, actor=approver)
    finally:
        monkeypatch.undo()
        ai_model_written.disconnect(dispatch_uid="t-failing-receiver")
    assert done.status == Status.FAILED
    assert "RuntimeError: injected failure" in done.error
    assert _fingerprint(gpt) == before
    stored = RollbackRequest.objects.get(pk=request.pk)
    assert (stored.status, stored.result_version, stored.decided_by) == (Status.FAILED, None, approver)
    assert "injected failure" in stored.error


def test_a_failure_completing_the_request_undoes_the_restore(gpt, requester, approver, monkeypatch):
    request = request_rollback(gpt, 1, requester)
    before = _fingerprint(gpt)
    original = RollbackRequest.save

    def save(self, *args, **kwargs):
        if self.status == Status.COMPLETED:
            raise RuntimeError("injected at completion")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RollbackRequest, "save", save)
    done = rollbacks.rollback_request_approve(rollback_request=request, actor=approver)
    assert done.status == Status.FAILED and "completion" in done.error
    assert _fingerprint(gpt) == before


def test_a_restore_refused_by_validation_fails_the_request_cleanly(gpt, requester, approver):
    successor = AIModelFactory()
    services.ai_model_update(ai_model=gpt, data={"successor": successor.key})
    target = versions_of(gpt)[-1]
    services.ai_model_update(ai_model=gpt, data={"successor": None})
    # the successor named by the target snapshot disappears from the catalogue behind the back
    ModelVersion.objects.filter(pk=target.pk).update(snapshot={**target.snapshot, "successor": "gone/x"})
    request = request_rollback(gpt, target.number, requester)
    done = rollbacks.rollback_request_approve(rollback_request=request, actor=approver)
    assert done.status == Status.FAILED and "successor" in done.error


def test_users_without_rights_and_anonymous_cannot_decide(gpt, requester):
    from django.contrib.auth.models import AnonymousUser

    request = request_rollback(gpt, 1, requester)
    for actor in (None, AnonymousUser(), UserFactory()):
        with pytest.raises(RollbackForbidden):
            rollbacks.rollback_request_approve(rollback_request=request, actor=actor)


def test_a_targeted_version_is_not_deleted_alone_but_goes_with_its_model(gpt, requester):
    from django.db.models import RestrictedError

    request = request_rollback(gpt, 1, requester)
    with pytest.raises(RestrictedError), transaction.atomic():
        request.target_version.delete()
    AIModel.objects.filter(pk=gpt.pk).delete()  # e.g. a purge: versions and requests go with it
    assert not ModelVersion.objects.filter(ai_model_id=gpt.pk).exists()
    assert not RollbackRequest.objects.filter(pk=request.pk).exists()
