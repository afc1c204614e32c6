"""Purging models deactivated long ago: what goes, what stays, what is changed first."""

import pytest
from django.test import override_settings

from caching.signals import cache_invalidated
from models_registry import services
from models_registry.models import AIModel, ModelAlias
from models_registry.tasks import purge_deactivated_models
from tests.factories import AIModelFactory, ProviderFactory, UserFactory
from tests.maintenance.conftest import age, registry, runs
from versioning.models import ModelVersion, RollbackRequest


def _deactivated(name: str, *, days: float, provider=None, **fields) -> AIModel:
    model = AIModelFactory(provider=provider or ProviderFactory(slug="acme"), name=name, **fields)
    services.ai_model_deactivate(ai_model=model, reason="retired")
    return age(model, days)


def test_purges_models_inactive_longer_than_the_period_and_keeps_the_rest(db):
    acme = ProviderFactory(slug="acme")
    old = _deactivated("old", days=120, provider=acme)
    recent = _deactivated("recent", days=10, provider=acme)
    active = age(AIModelFactory(provider=acme, name="active"), 400)

    result = services.ai_model_purge_deactivated(older_than_days=90)

    assert result["purged"] == 1 and result["keys"] == ["acme/old"] and result["errors"] == []
    assert not AIModel.objects.filter(pk=old.pk).exists()
    assert set(AIModel.objects.values_list("key", flat=True)) == {recent.key, active.key}


def test_history_rows_are_kept_and_the_deletion_is_attributed(db):
    model = _deactivated("gone", days=200)
    before = model.history.count()
    services.ai_model_purge_deactivated(older_than_days=90)

    history = AIModel.history.filter(id=model.pk).order_by("history_date", "history_id")
    assert history.count() == before + 1
    last = history.last()
    assert last.history_type == "-"
    assert last.history_user.username == "model-registry-system"
    assert "deactivated and unchanged for more than 90 day(s)" in last.history_change_reason
    assert [h.history_type for h in history][:1] == ["+"]  # the creation is still there


def test_versions_and_aliases_go_with_the_model_but_their_audit_rows_stay(db):
    model = _deactivated("versioned", days=200)
    ModelAlias.objects.create(alias="versioned-alias", ai_model=model)
    assert ModelVersion.objects.filter(ai_model=model).count() == 2  # created, deactivated
    services.ai_model_purge_deactivated(older_than_days=90)
    assert not ModelVersion.objects.filter(ai_model_id=model.pk).exists()
    assert not ModelAlias.objects.filter(alias="versioned-alias").exists()
    assert ModelVersion.history.filter(ai_model_id=model.pk, history_type="-").count() == 2


def test_a_model_with_an_open_rollback_request_is_not_purged(db):
    requester = UserFactory(username="rb-requester")
    model = AIModelFactory(provider=ProviderFactory(slug="acme"), name="held")
    services.ai_model_update(ai_model=model, data={"display_name": "Held"}, reason="rename")
    from versioning.services import rollback_request_create

    rollback_request_create(ai_model=model, target_version=1, reason="undo rename", actor=requester)
    services.ai_model_deactivate(ai_model=model, reason="retired")
    age(model, 200)

    result = services.ai_model_purge_deactivated(older_than_days=90)
    assert result["purged"] == 0 and result["held_open_rollback"] == 1
    assert AIModel.objects.filter(pk=model.pk).exists()

    RollbackRequest.objects.filter(ai_model=model).update(status="rejected")
    assert services.ai_model_purge_deactivated(older_than_days=90)["purged"] == 1
    assert not RollbackRequest.objects.filter(ai_model_id=model.pk).exists()


def test_models_pointing_at_a_purged_one_are_changed_through_the_write_path(db):
    acme = ProviderFactory(slug="acme")
    gone = _deactivated("gone", days=200, provider=acme)
    also_gone = _deactivated("also-gone", days=200, provider=acme)
    predecessor = AIModelFactory(provider=acme, name="predecessor", successor=gone.key)
    sibling = AIModelFactory(provider=acme, name="sibling", alternatives=[gone.key, also_gone.key])
    keeper = AIModelFactory(provider=acme, name="keeper")
    services.ai_model_update(ai_model=sibling, data={"alternatives": [gone.key, keeper.key]})
    services.ai_model_update(ai_model=also_gone, data={"successor": gone.key}, reason="x")
    age(also_gone, 200)
    versions = {m.pk: ModelVersion.objects.filter(ai_model=m).count() for m in (predecessor, sibling)}

    result = services.ai_model_purge_deactivated(older_than_days=90)

    assert sorted(result["keys"]) == ["acme/also-gone", "acme/gone"]
    assert result["detached"] == 2  # predecessor and sibling; also-gone is purged itself
    predecessor.refresh_from_db()
    sibling.refresh_from_db()
    assert predecessor.successor is None
    assert list(sibling.alternatives.values_list("key", flat=True)) == [keeper.key]
    for model in (predecessor, sibling):
        latest = ModelVersion.objects.filter(ai_model=model).order_by("-number").first()
        assert ModelVersion.objects.filter(ai_model=model).count() == versions[model.pk] + 1
        assert latest.source == "system" and "acme/gone purged" in latest.reason


def test_the_purge_is_idempotent_bounded_and_can_be_disabled(db):
    acme = ProviderFactory(slug="acme")
    for i in range(3):
        _deactivated(f"m{i}", days=100 + i, provider=acme)
    assert services.ai_model_purge_deactivated(older_than_days=0)["purged"] == 0
    with override_settings(MODEL_REGISTRY=registry(PURGE_DEACTIVATED_AFTER_DAYS=0)):
        assert services.ai_model_purge_deactivated()["purged"] == 0
    first = services.ai_model_purge_deactivated(older_than_days=90, limit=2)
    assert first["keys"] == ["acme/m2", "acme/m1"]  # the longest-unchanged first
    assert services.ai_model_purge_deactivated(older_than_days=90)["keys"] == ["acme/m0"]
    assert services.ai_model_purge_deactivated(older_than_days=90)["purged"] == 0


def test_the_purged_keys_are_invalidated_in_the_cache_after_the_commit(
    db, django_capture_on_commit_callbacks
):
    model = _deactivated("cached", days=200)
    ModelAlias.objects.create(alias="cached-alias", ai_model=model)
    seen = []

    def receiver(keys, scope, reason, **kwargs):
        seen.append((list(keys), reason))

    cache_invalidated.connect(receiver, dispatch_uid="t-purge-invalidate")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.ai_model_purge_deactivated(older_than_days=90)
            assert seen == []  # nothing before the commit
    finally:
        cache_invalidated.disconnect(dispatch_uid="t-purge-invalidate")
    assert (["acme/cached", "cached-alias"], "purged") in seen


@pytest.mark.parametrize("days", [None, 30])
def test_the_task_purges_and_records_the_outcome(db, days):
    _deactivated("task-old", days=100)
    kwargs = {} if days is None else {"older_than_days": days}
    result = purge_deactivated_models.apply(kwargs=kwargs)
    assert result.result["purged"] == 1
    (run,) = runs(purge_deactivated_models.name)
    assert run.outcome == "ok" and run.result["keys"] == ["acme/task-old"]
    assert run.result["days"] == (90 if days is None else 30)
