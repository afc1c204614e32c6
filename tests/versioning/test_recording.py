"""Versions recorded by the write path: numbering, labels, snapshots, diffs, audit rows, imports,
exact restores."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from models_registry import services
from models_registry.exceptions import ConflictError, RegistryValidationError
from models_registry.models import AIModel, ModelAlias
from models_registry.signals import ai_model_written
from tests.factories import AIModelFactory, ProviderFactory, UserFactory
from tests.versioning.conftest import snapshot_state, state_of, versions_of
from versioning.models import ModelVersion
from versioning.selectors import version_changes

pytestmark = pytest.mark.django_db


def test_create_is_version_1_and_each_real_change_one_more(requester):
    model = AIModelFactory(capabilities={"vision": True})
    assert [(v.number, v.label, v.impact, v.source) for v in versions_of(model)] == [
        (1, "1.0.0", "low", "manual")
    ]
    first = versions_of(model)[0]
    assert snapshot_state(first) == state_of(model)
    assert {c["field"] for c in version_changes(first)} >= {"name", "context_window", "capabilities.vision"}
    assert {c["kind"] for c in version_changes(first)} == {"added"}

    services.ai_model_update(ai_model=model, data={"context_window": 64_000}, actor=requester, reason="cut")
    services.ai_model_update(ai_model=model, data={"context_window": 64_000}, actor=requester)  # no-op
    services.ai_model_update(ai_model=model, data={"capabilities": {"vision": True, "audio": True}})
    services.ai_model_update(ai_model=model, data={"description": "Fast."})
    model.refresh_from_db()
    versions = versions_of(model)
    assert [(v.number, v.label, v.impact, v.breaking) for v in versions] == [
        (1, "1.0.0", "low", False),
        (2, "2.0.0", "critical", True),  # the context window halved
        (3, "2.1.0", "medium", False),
        (4, "2.1.1", "low", False),
    ]
    assert model.version == "2.1.1" and model.revision == 4 == versions[-1].revision
    second = versions[1]
    assert second.changes == [
        {
            "field": "context_window",
            "path": ["context_window"],
            "old": 128000,
            "new": 64000,
            "kind": "changed",
            "category": "breaking",
        }
    ]
    assert (second.created_by, second.reason, second.source) == (requester, "cut", "api")
    assert snapshot_state(versions[-1]) == state_of(model)
    # the AI model's own history row carries the label too
    assert model.history.first().version == "2.1.1"


def test_audit_rows_name_the_actor_and_reason(requester):
    model = AIModelFactory()
    services.ai_model_update(ai_model=model, data={"mode": "completion"}, actor=requester, reason="fix mode")
    version = versions_of(model)[-1]
    audit = version.history.get()
    assert (audit.history_user, audit.history_change_reason, audit.history_type) == (
        requester,
        "fix mode",
        "+",
    )


def test_a_failing_version_rolls_the_write_back(monkeypatch):
    model = AIModelFactory()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("versioning.services.recording.versions_write", boom)
    with pytest.raises(RuntimeError):
        services.ai_model_update(ai_model=model, data={"description": "x"})
    model.refresh_from_db()
    assert (model.description, model.revision, model.version) == ("", 1, "1.0.0")
    assert len(versions_of(model)) == 1


def test_numbers_are_unique_per_model_in_the_database():
    model = AIModelFactory()
    version = versions_of(model)[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(
            ai_model=model,
            number=1,
            label="x",
            revision=1,
            snapshot=version.snapshot,
            impact="low",
            source="x",
        )


def test_bulk_import_records_one_version_per_changed_model_in_bulk(django_assert_max_num_queries):
    ProviderFactory(slug="acme")
    items = [
        services.BulkItem(provider="acme", name=f"m{i}", fields={"mode": "chat", "context_window": 1000 + i})
        for i in range(30)
    ]
    services.ai_model_bulk_upsert(items=items, reason="first import")
    assert ModelVersion.objects.filter(ai_model__provider__slug="acme", number=1).count() == 30
    changed = [
        services.BulkItem(provider="acme", name=f"m{i}", fields={"mode": "chat", "context_window": 900 + i})
        for i in range(10)
    ] + items[10:]
    with django_assert_max_num_queries(25):  # constant, not per model
        result = services.ai_model_bulk_upsert(items=changed, reason="second import", source="sync")
    assert len(result.updated) == 10 and len(result.unchanged) == 20
    v2 = ModelVersion.objects.filter(ai_model__provider__slug="acme", number=2)
    assert v2.count() == 10
    assert set(v2.values_list("source", "reason", "label", "impact").distinct()) == {
        ("sync", "second import", "2.0.0", "high")
    }
    model = AIModel.objects.get(key="acme/m0")
    assert (model.version, model.revision) == ("2.0.0", 2)
    assert snapshot_state(versions_of(model)[-1]) == state_of(model)


def test_bulk_dry_run_records_nothing():
    ProviderFactory(slug="acme")
    items = [services.BulkItem(provider="acme", name="m", fields={"mode": "chat"})]
    services.ai_model_bulk_upsert(items=items, dry_run=True)
    assert not ModelVersion.objects.exists()


def test_a_model_changed_before_versioning_gets_a_baseline(requester):
    model = AIModelFactory()
    ModelVersion.objects.filter(ai_model=model).delete()  # as if created before the app was installed
    before = state_of(model)
    services.ai_model_update(ai_model=model, data={"max_output_tokens": 8192}, actor=requester)
    baseline, change = versions_of(model)
    assert (baseline.number, baseline.source, baseline.revision) == (1, "system", 1)
    assert snapshot_state(baseline) == before
    assert (change.number, change.revision, change.impact) == (2, 2, "medium")


def test_restore_snapshot_is_exact_relations_and_aliases_included(requester):
    provider = ProviderFactory(slug="acme")
    old, new, alt = (AIModelFactory(provider=provider, name=n) for n in ("old", "new", "alt"))
    services.ai_model_bulk_upsert(
        items=[services.BulkItem(provider="acme", name="m", fields={"mode": "chat"}, aliases=["m-alias"])]
    )
    model = AIModel.objects.get(key="acme/m")
    services.ai_model_update(
        ai_model=model,
        data={
            "successor": old.key,
            "alternatives": [alt.key],
            "pricing": {"input_cost_per_image": "0.01", "tiers": [{"up_to": 1000, "price": "0.5"}]},
            "capabilities": {"vision": True},
            "metadata": {"note": "1.50"},
            "tags": ["b", "a"],
            "deprecation_date": dt.date(2026, 3, 1),
            "input_cost_per_1m": "0.0000015",
        },
        actor=requester,
    )
    target = versions_of(model)[-1]
    target_state = snapshot_state(target)
    services.ai_model_update(
        ai_model=model,
        data={
            "successor": new.key,
            "alternatives": [],
            "pricing": {},
            "capabilities": {"vision": False, "audio": True},
            "metadata": {},
            "tags": ["a"],
            "deprecation_date": None,
            "input_cost_per_1m": None,
            "is_active": False,
        },
    )
    ModelAlias.objects.create(alias="m-new-alias", ai_model=model)  # an import adds an alias
    services.ai_model_update(ai_model=model, data={"description": "later"})
    events = []
    ai_model_written.connect(lambda **kw: events.append(kw), weak=False, dispatch_uid="t-restore")
    try:
        restored = services.ai_model_restore_snapshot(
            ai_model=model, snapshot=target.snapshot, actor=requester, reason="back"
        )
    finally:
        ai_model_written.disconnect(dispatch_uid="t-restore")
    assert state_of(model) == target_state  # every field, exactly
    assert sorted(ModelAlias.objects.filter(ai_model=model).values_list("alias", flat=True)) == ["m-alias"]
    assert [e["action"] for e in events] == ["restore"]
    latest = versions_of(model)[-1]
    assert (latest.number, latest.source, latest.revision) == (5, "rollback", restored.revision)
    assert snapshot_state(latest) == target_state
    assert [v.number for v in versions_of(model)][:3] == [1, 2, 3]  # history is never rewritten
    # restoring the same state again is a no-op: no version
    services.ai_model_restore_snapshot(ai_model=model, snapshot=target.snapshot, actor=requester)
    assert len(versions_of(model)) == 5
    assert AIModel.objects.get(pk=model.pk).input_cost_per_1m == Decimal("0.0000015")


def test_restore_refuses_foreign_or_broken_snapshots(requester):
    a, b = AIModelFactory(), AIModelFactory()
    with pytest.raises(RegistryValidationError):
        services.ai_model_restore_snapshot(ai_model=a, snapshot=versions_of(b)[0].snapshot)
    successor = AIModelFactory()
    services.ai_model_update(ai_model=a, data={"successor": successor.key})
    snapshot = {**versions_of(a)[-1].snapshot, "successor": "gone/model"}
    with pytest.raises(RegistryValidationError):
        services.ai_model_restore_snapshot(ai_model=a, snapshot=snapshot)
    ModelAlias.objects.create(alias="taken", ai_model=b)
    with pytest.raises(ConflictError):
        services.ai_model_restore_snapshot(
            ai_model=a, snapshot={**versions_of(a)[0].snapshot, "aliases": ["taken"]}
        )
    assert len(versions_of(a)) == 2


def test_api_token_writes_are_attributed_in_every_audit_row(editor):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    model = AIModelFactory()
    token = Token.objects.create(user=editor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}", HTTP_X_CHANGE_REASON="token write")
    response = client.patch(f"/api/v1/models/{model.pk}/", {"description": "via token"}, format="json")
    assert response.status_code == 200, response.content
    version = versions_of(model)[-1]
    assert (version.created_by, version.reason, version.source) == (editor, "token write", "api")
    assert version.history.get().history_user == editor
    assert model.history.first().history_user == editor
    assert response.json()["version"] == version.label == "1.0.1"


def test_importer_attributes_to_the_system_user(tmp_path):
    import json

    from models_registry.catalog import catalog_import

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"m1": {"litellm_provider": "acme", "mode": "chat", "max_input_tokens": 10}}))
    catalog_import(source=str(path), fmt="litellm")
    version = ModelVersion.objects.get(ai_model__key="acme/m1")
    assert version.created_by.username == "model-registry-system"
    assert version.history.get().history_user == version.created_by
    assert version.source == "import"


def test_other_users_unrelated_writes_do_not_share_numbers():
    first, second = AIModelFactory(), AIModelFactory()
    for model in (first, second, first):
        services.ai_model_update(ai_model=model, data={"description": UserFactory().username})
    assert [v.number for v in versions_of(first)] == [1, 2, 3]
    assert [v.number for v in versions_of(second)] == [1, 2]
