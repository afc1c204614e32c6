"""The versioning admin: versions on the AI model page, the versions and diff pages, requesting,
approving and rejecting through confirmation pages, four eyes, no side door."""

import pytest
from django.urls import reverse

from models_registry import services
from tests.factories import AIModelFactory, UserFactory, grant
from tests.versioning.conftest import snapshot_state, state_of, versions_of
from versioning import services as vservices
from versioning.models import RollbackRequest

pytestmark = pytest.mark.django_db
Status = RollbackRequest.Status


def staff_user(username: str, *perms: str):
    user = UserFactory(username=username, is_staff=True)
    return grant(user, "view_aimodel", "view_modelversion", "view_rollbackrequest", *perms)


@pytest.fixture
def staff_requester(db):
    return staff_user("alice", "add_rollbackrequest")


@pytest.fixture
def staff_approver(db):
    return staff_user("bob", "add_rollbackrequest", "approve_rollbackrequest")


def logged_in(client, user):
    client.force_login(user)
    return client


def test_ai_model_page_lists_versions_with_badges_and_links(client, staff, gpt):
    html = (
        logged_in(client, staff).get(reverse("admin:models_registry_aimodel_change", args=[gpt.pk])).content
    )
    html = html.decode()
    assert 'class="vbadge vbadge-high"' in html  # the price raise
    assert reverse("admin:versioning_modelversion_model", args=[gpt.pk]) in html
    assert reverse("admin:versioning_rollbackrequest_request", args=[gpt.pk, 1]) in html
    assert "All 4 versions" in html
    # the add page has no versions box
    assert logged_in(client, staff).get(reverse("admin:models_registry_aimodel_add")).status_code == 200


def test_ai_model_page_links_only_the_versioning_pages_the_viewer_may_open(client, gpt):
    page = reverse("admin:models_registry_aimodel_change", args=[gpt.pk])
    versions_url = reverse("admin:versioning_modelversion_model", args=[gpt.pk])
    request_url = reverse("admin:versioning_rollbackrequest_request", args=[gpt.pk, 1])

    editor = grant(UserFactory(username="editor-only", is_staff=True), "view_aimodel", "change_aimodel")
    html = logged_in(client, editor).get(page).content.decode()
    assert "4 versions" in html  # the box is there ...
    assert versions_url not in html  # ... without links to pages that would answer 403
    assert request_url not in html
    assert client.get(versions_url).status_code == 403

    reader = staff_user("version-reader")  # view_modelversion, no add_rollbackrequest
    html = logged_in(client, reader).get(page).content.decode()
    assert versions_url in html
    assert request_url not in html


def test_versions_page_diff_view_and_version_pages_render(client, staff_requester, gpt):
    client = logged_in(client, staff_requester)
    page = client.get(reverse("admin:versioning_modelversion_model", args=[gpt.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Request rollback to this version" in html and "price up" in html
    assert 'class="vbadge vbadge-high"' in html and 'class="vbadge vbadge-critical"' not in html
    diff_url = reverse("admin:versioning_modelversion_diff", args=[gpt.pk])
    diff = client.get(diff_url, {"version": 1, "against": "current"})
    assert diff.status_code == 200
    text = diff.content.decode()
    assert "capabilities.reasoning" in text and "input_cost_per_1m" in text and "breaking" in text
    assert "the current state (revision 4)" in text
    assert client.get(diff_url, {"version": 2}).status_code == 200
    assert client.get(diff_url, {"version": 2, "against": "77"}).status_code == 400
    version = versions_of(gpt)[1]
    detail = client.get(reverse("admin:versioning_modelversion_change", args=[version.pk]))
    assert detail.status_code == 200 and "input_cost_per_1m" in detail.content.decode()
    first = client.get(reverse("admin:versioning_modelversion_change", args=[versions_of(gpt)[0].pk]))
    assert "context_window" in first.content.decode()  # version 1's changes: every field added
    assert client.get(reverse("admin:versioning_modelversion_changelist")).status_code == 200
    assert client.get(reverse("admin:versioning_modelversion_history", args=[version.pk])).status_code == 200
    assert client.get(reverse("admin:versioning_modelversion_add")).status_code == 403


def test_request_approve_through_the_admin(client, staff_requester, staff_approver, gpt):
    request_url = reverse("admin:versioning_rollbackrequest_request", args=[gpt.pk, 1])
    alice = logged_in(client, staff_requester)
    form = alice.get(request_url)
    assert form.status_code == 200 and "display_name" in form.content.decode()
    assert alice.post(request_url, {"reason": ""}).status_code == 400  # a reason is required
    response = alice.post(request_url, {"reason": "restore launch pricing"})
    rollback = RollbackRequest.objects.get()
    assert response.status_code == 302 and rollback.status == Status.PENDING
    change_page = alice.get(reverse("admin:versioning_rollbackrequest_change", args=[rollback.pk]))
    assert "Cancel…" in change_page.content.decode() and "Approve…" not in change_page.content.decode()

    # Alice cannot approve (no permission) — not even by posting directly
    approve_url = reverse("admin:versioning_rollbackrequest_approve", args=[rollback.pk])
    assert alice.post(approve_url, {"expected_revision": 4}).status_code == 403

    bob = logged_in(client, staff_approver)
    confirmation = bob.get(approve_url)
    assert confirmation.status_code == 200
    html = confirmation.content.decode()
    assert "Yes, approve" in html and "capabilities.reasoning" in html and 'value="4"' in html
    services.ai_model_update(ai_model=gpt, data={"description": "meanwhile"}, source="admin")
    stale = bob.post(approve_url, {"expected_revision": 4, "comment": "ok"})
    assert stale.status_code == 409 and "description" in stale.content.decode()  # shown again, now
    assert RollbackRequest.objects.get().status == Status.PENDING
    done = bob.post(approve_url, {"expected_revision": 5, "comment": "ok"})
    assert done.status_code == 302
    rollback.refresh_from_db()
    assert (rollback.status, rollback.decided_by) == (Status.COMPLETED, staff_approver)
    assert state_of(gpt) == snapshot_state(versions_of(gpt)[0])
    detail = bob.get(reverse("admin:versioning_rollbackrequest_change", args=[rollback.pk]))
    assert detail.status_code == 200 and "vbadge-completed" in detail.content.decode()


def test_self_approval_is_refused_in_the_admin(client, staff_approver, gpt):
    rollback = vservices.rollback_request_create(
        ai_model=gpt, target_version=1, reason="mine", actor=staff_approver
    )
    bob = logged_in(client, staff_approver)
    response = bob.post(
        reverse("admin:versioning_rollbackrequest_approve", args=[rollback.pk]), {"expected_revision": 4}
    )
    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("four-eyes" in m for m in messages)
    rollback.refresh_from_db()
    assert rollback.status == Status.PENDING and len(versions_of(gpt)) == 4
    page = bob.get(reverse("admin:versioning_rollbackrequest_change", args=[rollback.pk])).content.decode()
    assert "Cancel…" in page and "Approve…" not in page


def test_reject_and_cancel_confirmations(client, staff_requester, staff_approver, gpt):
    rollback = vservices.rollback_request_create(
        ai_model=gpt, target_version=2, reason="r", actor=staff_requester
    )
    bob = logged_in(client, staff_approver)
    reject_url = reverse("admin:versioning_rollbackrequest_reject", args=[rollback.pk])
    assert "Yes, reject" in bob.get(reject_url).content.decode()
    bob.post(reject_url, {"comment": ""})
    assert RollbackRequest.objects.get().status == Status.PENDING  # comment required
    bob.post(reject_url, {"comment": "not needed"})
    assert RollbackRequest.objects.get().status == Status.REJECTED
    second = vservices.rollback_request_create(
        ai_model=gpt, target_version=2, reason="r", actor=staff_requester
    )
    alice = logged_in(client, staff_requester)
    alice.post(reverse("admin:versioning_rollbackrequest_cancel", args=[second.pk]), {"comment": "dup"})
    assert RollbackRequest.objects.get(pk=second.pk).status == Status.CANCELLED


def test_changelist_actions_confirm_with_the_diffs(client, staff_requester, staff_approver, gpt):
    other = AIModelFactory(display_name="Other")
    services.ai_model_update(ai_model=other, data={"display_name": "Renamed"})
    first = vservices.rollback_request_create(
        ai_model=gpt, target_version=1, reason="a", actor=staff_requester
    )
    second = vservices.rollback_request_create(
        ai_model=other, target_version=1, reason="b", actor=staff_requester
    )
    bob = logged_in(client, staff_approver)
    changelist = reverse("admin:versioning_rollbackrequest_changelist")
    listing = bob.get(changelist, {"status__exact": "pending"})
    assert listing.status_code == 200 and "approve_selected" in listing.content.decode()
    ids = [first.pk, second.pk]
    confirmation = bob.post(changelist, {"action": "approve_selected", "_selected_action": ids})
    assert confirmation.status_code == 200
    html = confirmation.content.decode()
    assert "Yes, approve" in html and "Renamed" in html and "capabilities.reasoning" in html
    assert RollbackRequest.objects.filter(status=Status.PENDING).count() == 2
    bob.post(changelist, {"action": "approve_selected", "_selected_action": ids, "post": "yes"})
    assert set(RollbackRequest.objects.values_list("status", flat=True)) == {Status.COMPLETED}
    assert state_of(other)["display_name"] == "Other"
    # Alice has no approval permission: no such actions for her
    alice = logged_in(client, staff_requester)
    assert "approve_selected" not in alice.get(changelist).content.decode()


def test_simple_history_revert_creates_no_version(client, staff, gpt):
    record = gpt.history.earliest()
    url = reverse("admin:models_registry_aimodel_simple_history", args=[gpt.pk, record.history_id])
    response = logged_in(client, staff).post(url, {"display_name": "GPT-4o", "input_cost_per_1m": "2.5"})
    assert response.status_code == 403
    assert len(versions_of(gpt)) == 4 and state_of(gpt)["display_name"] == "GPT 4o"
    rollback = vservices.rollback_request_create(ai_model=gpt, target_version=1, reason="x", actor=staff)
    history_page = reverse(
        "admin:versioning_rollbackrequest_simple_history",
        args=[rollback.pk, rollback.history.first().history_id],
    )
    assert logged_in(client, staff).post(history_page, {"status": "completed"}).status_code == 403
    rollback.refresh_from_db()
    assert rollback.status == Status.PENDING
