"""Queries over versions (diffs, as-of, change feed, statistics) and retention."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from models_registry import services
from models_registry.exceptions import ModelNotFound, RegistryValidationError
from tests.factories import AIModelFactory
from tests.versioning.conftest import snapshot_state, state_of, versions_of
from versioning import selectors
from versioning import services as vservices
from versioning.diff import apply_changes
from versioning.models import ModelVersion, RollbackRequest
from versioning.snapshots import decode_state

pytestmark = pytest.mark.django_db


def test_diff_between_any_two_versions_and_against_current(gpt):
    v1, v2, v3, v4 = versions_of(gpt)
    own = selectors.version_diff(ai_model_id=gpt.pk, number=2)
    assert [c.field for c in own.changes] == ["input_cost_per_1m"]
    assert own.from_ref == {"number": 1, "label": "1.0.0"} and own.impact().level == "high"
    span = selectors.version_diff(ai_model_id=gpt.pk, number=4, against=1)
    assert {c.field for c in span.changes} == {"input_cost_per_1m", "capabilities.reasoning", "display_name"}
    assert apply_changes(snapshot_state(v1), span.changes) == snapshot_state(v4)
    back = selectors.version_diff(ai_model_id=gpt.pk, number=1, against="current")
    assert back.from_ref == {"current": True, "revision": 4}
    assert {c.field for c in back.changes} == {"input_cost_per_1m", "capabilities.reasoning", "display_name"}
    created = selectors.version_diff(ai_model_id=gpt.pk, number=1)
    assert created.from_ref == {"number": None} and all(c.kind == "added" for c in created.changes)
    with pytest.raises(RegistryValidationError):
        selectors.version_diff(ai_model_id=gpt.pk, number=2, against=9)
    with pytest.raises(RegistryValidationError):
        selectors.version_diff(ai_model_id=gpt.pk, number=2, against="yesterday")


def test_model_as_of_a_moment(gpt):
    v1, v2, v3, v4 = versions_of(gpt)
    between = v2.created_at + (v3.created_at - v2.created_at) / 2
    record = selectors.ai_model_record_as_of(id=gpt.pk, when=between)
    assert (record.version, record.revision, record.input_cost_per_1m) == (v2.label, 2, Decimal("3"))
    assert "reasoning" not in record.capabilities
    assert dict(record.pricing) == {"input_cost_per_image": "0.003613"}
    now = selectors.ai_model_record_as_of(id=gpt.pk, when=timezone.now())
    assert (now.version, now.display_name, now.updated_at) == (v4.label, "GPT 4o", gpt.updated_at)
    with pytest.raises(ModelNotFound):
        selectors.ai_model_record_as_of(id=gpt.pk, when=v1.created_at - dt.timedelta(seconds=1))
    with pytest.raises(RegistryValidationError):
        selectors.ai_model_record_as_of(id=gpt.pk, when="last tuesday")
    assert selectors.parse_moment("2025-01-02").isoformat() == "2025-01-02T00:00:00+00:00"
    # an offset (a "+" arrives as " " in an unencoded query string) is honoured, the result is UTC
    moment = selectors.parse_moment("2025-01-02T03:04:05 01:00")
    assert moment == dt.datetime(2025, 1, 2, 2, 4, 5, tzinfo=dt.UTC)
    assert moment.utcoffset() == dt.timedelta(0)


def test_change_feed_pages_with_a_cursor_and_filters(gpt):
    other = AIModelFactory()
    services.ai_model_update(ai_model=other, data={"context_window": 1000})
    page = selectors.change_feed(limit=3)
    assert page.has_more and len(page.versions) == 3
    seen = [(v.ai_model_id, v.number) for v in page.versions]
    while page.has_more:
        page = selectors.change_feed(since=page.cursor, limit=3)
        seen += [(v.ai_model_id, v.number) for v in page.versions]
    assert seen == [(gpt.pk, n) for n in (1, 2, 3, 4)] + [(other.pk, 1), (other.pk, 2)]
    assert selectors.change_feed(since=page.cursor).versions == []  # nothing new
    services.ai_model_update(ai_model=gpt, data={"description": "later"})
    assert [v.number for v in selectors.change_feed(since=page.cursor).versions] == [5]

    def numbers(**filters):
        return [(v.ai_model_id, v.number) for v in selectors.change_feed(**filters).versions]

    assert numbers(model=gpt.key, field="display_name") == [(gpt.pk, 1), (gpt.pk, 4)]
    assert numbers(field="context_window", kind="changed") == [(other.pk, 2)]
    assert numbers(model=str(other.pk), impact="critical") == [(other.pk, 2)]
    assert numbers(source="admin") == [(gpt.pk, 3), (gpt.pk, 4)]
    v4 = versions_of(gpt)[3]
    assert numbers(model=gpt.pk, since=v4.created_at.isoformat()) == [(gpt.pk, 4), (gpt.pk, 5)]
    assert numbers(model=gpt.pk, until=v4.created_at.isoformat()) == [(gpt.pk, 1), (gpt.pk, 2), (gpt.pk, 3)]
    for bad in ({"field": "nope"}, {"kind": "moved"}, {"impact": "huge"}, {"since": "not a cursor"}):
        with pytest.raises(RegistryValidationError):
            selectors.change_feed(**bad)


def test_statistics(gpt, requester, approver):
    request = vservices.rollback_request_create(ai_model=gpt, target_version=1, reason="r", actor=requester)
    vservices.rollback_request_approve(rollback_request=request, actor=approver)
    stats = selectors.version_stats()
    assert stats["total_versions"] == 5 and stats["models_with_versions"] == 1
    assert stats["most_versioned"][0] == {"model": gpt.pk, "key": gpt.key, "versions": 5, "latest": 5}
    assert stats["rollback_versions"] == 1 and stats["rollback_requests"] == {"completed": 1}
    assert stats["field_change_frequency"]["input_cost_per_1m"] == 2  # the raise and the rollback
    assert (
        stats["by_impact"]["low"] >= 1 and stats["breaking_versions"] == 2
    )  # the raise; the rollback drops a capability
    assert [v.number for v in stats["recent_versions"]][:2] == [5, 4]


def test_retention_prunes_old_snapshots_but_keeps_first_current_and_targets(gpt, requester, settings):
    for i in range(4):
        services.ai_model_update(ai_model=gpt, data={"description": f"edit {i}"})
    states = {v.number: snapshot_state(v) for v in versions_of(gpt)}  # 1..8
    pending = vservices.rollback_request_create(
        ai_model=gpt, target_version=3, reason="keep", actor=requester
    )
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "MAX_VERSIONS_PER_MODEL": 2}
    assert vservices.versions_prune() == 4  # 2, 4, 5, 6: not 1, not 3 (targeted), not 7, 8 (newest two)
    available = {v.number: v.rollback_available for v in versions_of(gpt)}
    assert available == {1: True, 2: False, 3: True, 4: False, 5: False, 6: False, 7: True, 8: True}
    pruned = ModelVersion.objects.get(ai_model=gpt, number=5)
    assert pruned.snapshot is None and pruned.changes and pruned.pruned_at is not None
    assert pruned.history.first().history_change_reason == "Pruned by the retention policy"
    for number, state in states.items():  # every state can still be shown
        assert selectors.version_state(ModelVersion.objects.get(ai_model=gpt, number=number)) == state
    with pytest.raises(RegistryValidationError, match="pruned"):
        vservices.rollback_request_create(ai_model=gpt, target_version=2, reason="x", actor=requester)
    vservices.rollback_request_cancel(rollback_request=pending, actor=requester)
    assert vservices.versions_prune() == 1  # 3 once its request is no longer open
    assert vservices.versions_prune() == 0  # idempotent


def test_retention_by_age(gpt, settings):
    ModelVersion.objects.filter(ai_model=gpt, number__in=[2, 3]).update(
        created_at=timezone.now() - dt.timedelta(days=400)
    )
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "VERSION_RETENTION_DAYS": 365}
    assert sorted(v.number for v in vservices.prunable_versions()) == [2, 3]
    assert vservices.versions_prune(drop_snapshots=False) == 2
    kept = ModelVersion.objects.get(ai_model=gpt, number=2)
    assert kept.snapshot is not None and not kept.rollback_available
    assert decode_state(versions_of(gpt)[-1].snapshot) == state_of(gpt)


def test_rollback_request_list_filters(gpt, requester, approver):
    first = vservices.rollback_request_create(ai_model=gpt, target_version=1, reason="a", actor=requester)
    vservices.rollback_request_reject(rollback_request=first, actor=approver, comment="no")
    second = vservices.rollback_request_create(ai_model=gpt, target_version=2, reason="b", actor=approver)
    assert list(selectors.rollback_request_list(model=gpt.key)) == [second, first]
    assert list(selectors.rollback_request_list(status="rejected")) == [first]
    assert list(selectors.rollback_request_list(requested_by="approver")) == [second]
    assert list(selectors.rollback_request_list(requested_by=str(requester.pk))) == [first]
    later = timezone.now() + dt.timedelta(seconds=1)
    assert list(selectors.rollback_request_list(created_after=later)) == []
    assert RollbackRequest.objects.count() == 2
