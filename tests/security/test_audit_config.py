"""Audit of the configuration objects: invalidation rules, catalogue sources and providers.

Every write — rule create / change / delete over the API and in the admin, source edits in the
admin, provider creation in the admin, by the importer and by a sync — leaves a simple-history row
naming the actor and a non-empty reason (the system user for the importer and the sync). The
history pages of rules and sources are read-only: no revert button, and a POST to a historical
record page is refused before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from caching.models import InvalidationRule
from caching.rules import services as rule_services
from models_registry import services
from models_registry.catalog.importer import catalog_import
from models_registry.models import Provider
from models_registry.sync.models import CatalogSource
from models_registry.sync.services import sync_run
from tests.factories import ProviderFactory

from .conftest import api_client_for, role_user

pytestmark = pytest.mark.django_db

SYSTEM = settings.MODEL_REGISTRY.get("SYSTEM_USERNAME", "model-registry-system")
RULES = "/api/v1/invalidation-rules/"
RULE = {
    "name": "drop-deprecated",
    "events": ["schedule", "manual"],
    "conditions": [{"field": "is_deprecated", "operator": "equals", "value": True}],
    "actions": [{"type": "invalidate"}],
}
ONE_MODEL_IMPORTS = override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "IMPORT_MIN_MODELS": 1})


def latest(history_manager, **filters):
    """The newest history row matching ``filters`` (deleted objects included)."""
    return history_manager.filter(**filters).select_related("history_user").latest("history_id")


def assert_audited(row, *, actor: str, kind: str, reason: str | None = None) -> None:
    """``row`` is a history row of ``kind`` (+ ~ -) naming ``actor`` and a reason (``reason``
    exactly when given)."""
    assert row.history_type == kind, row
    assert row.history_user is not None and row.history_user.get_username() == actor, row
    assert (row.history_change_reason or "").strip(), f"history row {row.history_id} has no reason"
    if reason is not None:
        assert row.history_change_reason == reason


def _rule_form(**overrides) -> dict:
    data = {
        "name": "from-admin",
        "description": "",
        "priority": "3",
        "events": ["schedule"],
        "strategy": "expired",
        "strategy_params": '{"ttl_below": 120}',
        "match": "all",
        "conditions": '[{"field": "provider", "operator": "equals", "value": "openai"}]',
        "actions": '[{"type": "refresh"}]',
        "enabled": "on",
    }
    return {**data, **overrides}


def _source_form(**overrides) -> dict:
    data = {
        "name": "litellm",
        "format": "litellm",
        "location": "/srv/catalogues/litellm.json",
        "enabled": "on",
        "policy": "hold_breaking",
        "schedule": "daily",
        "missing_grace_days": "",
        "change_reason": "",
    }
    return {**data, **overrides}


def _litellm(path: Path, entries: dict) -> str:
    path.write_text(json.dumps(entries), encoding="utf-8")
    return str(path)


# --------------------------------------------------------------------------------------------
# Invalidation rules
# --------------------------------------------------------------------------------------------


def test_rule_writes_over_the_api_are_audited_with_the_user_and_the_reason_header():
    api = api_client_for(role_user("operator"))
    created = api.post(RULES, RULE, format="json", headers={"X-Change-Reason": "Drop stale models"})
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    assert_audited(
        latest(InvalidationRule.history, id=rule_id), actor="operator", kind="+", reason="Drop stale models"
    )

    url = f"{RULES}{rule_id}/"
    assert api.patch(url, {"priority": 5}, format="json").status_code == 200  # no header
    row = latest(InvalidationRule.history, id=rule_id)
    assert_audited(row, actor="operator", kind="~", reason=f"API PATCH {url}")
    assert row.priority == 5

    replaced = api.put(
        url,
        {"name": "renamed", "events": ["manual"], "actions": [{"type": "notify"}]},
        format="json",
        headers={"X-Change-Reason": "Only by hand"},
    )
    assert replaced.status_code == 200
    row = latest(InvalidationRule.history, id=rule_id)
    assert_audited(row, actor="operator", kind="~", reason="Only by hand")
    assert row.name == "renamed"

    assert api.delete(url, headers={"X-Change-Reason": "Not needed"}).status_code == 204
    assert not InvalidationRule.objects.filter(pk=rule_id).exists()
    gone = latest(InvalidationRule.history, id=rule_id)
    assert_audited(gone, actor="operator", kind="-", reason="Not needed")
    assert gone.name == "renamed"  # the deletion row keeps the last state
    assert list(
        InvalidationRule.history.filter(id=rule_id)
        .order_by("history_id")
        .values_list("history_type", flat=True)
    ) == ["+", "~", "~", "-"]


def test_a_refused_rule_write_leaves_no_history_row():
    api = api_client_for(role_user("operator"))
    refused = api.post(RULES, {**RULE, "actions": []}, format="json")
    assert refused.status_code == 400
    assert not InvalidationRule.history.exists()


def test_rule_writes_in_the_admin_are_audited(client):
    client.force_login(role_user("operator"))
    response = client.post(reverse("admin:caching_invalidationrule_add"), _rule_form())
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    rule = InvalidationRule.objects.get(name="from-admin")
    assert rule.created_by.get_username() == "operator"
    assert_audited(latest(InvalidationRule.history, id=rule.pk), actor="operator", kind="+")

    response = client.post(
        reverse("admin:caching_invalidationrule_change", args=[rule.pk]), _rule_form(priority="9")
    )
    assert response.status_code == 302
    row = latest(InvalidationRule.history, id=rule.pk)
    assert_audited(row, actor="operator", kind="~", reason="Changed in the admin.")
    assert row.priority == 9

    response = client.post(reverse("admin:caching_invalidationrule_delete", args=[rule.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not InvalidationRule.objects.filter(pk=rule.pk).exists()
    assert_audited(
        latest(InvalidationRule.history, id=rule.pk),
        actor="operator",
        kind="-",
        reason="Deleted in the admin.",
    )


def test_rule_bulk_delete_action_in_the_admin_is_audited(client):
    first = rule_services.rule_create(data={**RULE, "name": "first"})
    second = rule_services.rule_create(data={**RULE, "name": "second"})
    client.force_login(role_user("operator"))
    response = client.post(
        reverse("admin:caching_invalidationrule_changelist"),
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not InvalidationRule.objects.exists()
    for rule in (first, second):
        assert_audited(
            latest(InvalidationRule.history, id=rule.pk),
            actor="operator",
            kind="-",
            reason="Deleted in the admin.",
        )


def test_rule_services_without_a_reason_still_leave_one():
    operator = role_user("operator")
    rule = rule_services.rule_create(data=RULE, actor=operator)
    assert_audited(
        latest(InvalidationRule.history, id=rule.pk), actor="operator", kind="+", reason="Rule created."
    )
    rule_services.rule_update(rule=rule, data={"priority": 2}, actor=operator, reason="  ")
    assert latest(InvalidationRule.history, id=rule.pk).history_change_reason == "Rule changed."
    rule_id = rule.pk
    rule_services.rule_delete(rule=rule, actor=operator)
    assert_audited(
        latest(InvalidationRule.history, id=rule_id), actor="operator", kind="-", reason="Rule deleted."
    )


def test_rule_history_page_is_read_only(client):
    rule = rule_services.rule_create(data=RULE, actor=role_user("operator"), reason="first")
    rule_services.rule_update(rule=rule, data={"priority": 4}, reason="second")
    client.force_login(role_user("superuser"))
    page = client.get(reverse("admin:caching_invalidationrule_history", args=[rule.pk]))
    assert page.status_code == 200
    assert b"first" in page.content and b"second" in page.content
    oldest = InvalidationRule.history.filter(id=rule.pk).earliest("history_id")
    record_url = reverse("admin:caching_invalidationrule_simple_history", args=[rule.pk, oldest.history_id])
    record = client.get(record_url)
    assert record.status_code == 200
    assert b"Revert" not in record.content
    assert client.post(record_url, {"name": RULE["name"], "priority": "0"}).status_code == 403
    rule.refresh_from_db()
    assert rule.priority == 4 and InvalidationRule.history.filter(id=rule.pk).count() == 2


# --------------------------------------------------------------------------------------------
# Catalogue sources
# --------------------------------------------------------------------------------------------


def test_source_writes_in_the_admin_are_audited(client):
    client.force_login(role_user("operator"))
    response = client.post(reverse("admin:models_registry_catalogsource_add"), _source_form())
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    source = CatalogSource.objects.get(name="litellm")
    assert_audited(
        latest(CatalogSource.history, id=source.pk), actor="operator", kind="+", reason="Added in the admin."
    )

    response = client.post(
        reverse("admin:models_registry_catalogsource_change", args=[source.pk]),
        _source_form(policy="apply_all", change_reason="Upstream is trusted now"),
    )
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.policy == "apply_all"
    row = latest(CatalogSource.history, id=source.pk)
    assert_audited(row, actor="operator", kind="~", reason="Upstream is trusted now")
    assert row.policy == "apply_all"

    response = client.post(
        reverse("admin:models_registry_catalogsource_change", args=[source.pk]), _source_form(enabled="")
    )
    assert response.status_code == 302
    assert_audited(
        latest(CatalogSource.history, id=source.pk),
        actor="operator",
        kind="~",
        reason="Changed in the admin.",
    )

    response = client.post(
        reverse("admin:models_registry_catalogsource_delete", args=[source.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not CatalogSource.objects.filter(pk=source.pk).exists()
    assert_audited(
        latest(CatalogSource.history, id=source.pk),
        actor="operator",
        kind="-",
        reason="Deleted in the admin.",
    )


def test_source_history_page_is_read_only(client):
    client.force_login(role_user("operator"))
    client.post(reverse("admin:models_registry_catalogsource_add"), _source_form(change_reason="New feed"))
    source = CatalogSource.objects.get(name="litellm")
    page = client.get(reverse("admin:models_registry_catalogsource_history", args=[source.pk]))
    assert page.status_code == 200 and b"New feed" in page.content
    row = latest(CatalogSource.history, id=source.pk)
    record_url = reverse(
        "admin:models_registry_catalogsource_simple_history", args=[source.pk, row.history_id]
    )
    assert b"Revert" not in client.get(record_url).content
    assert client.post(record_url, _source_form(name="hijacked")).status_code == 403
    assert CatalogSource.objects.get(pk=source.pk).name == "litellm"
    assert CatalogSource.history.filter(id=source.pk).count() == 1


# --------------------------------------------------------------------------------------------
# Providers
# --------------------------------------------------------------------------------------------


def test_provider_creation_in_the_admin_is_audited(client):
    client.force_login(role_user("editor"))
    add = reverse("admin:models_registry_provider_add")
    assert b"change_reason" in client.get(add).content  # the reason can be typed on create too
    response = client.post(
        add, {"slug": "groq", "name": "Groq", "website": "https://groq.com", "is_active": "on"}
    )
    assert response.status_code == 302
    provider = Provider.objects.get(slug="groq")
    assert_audited(
        latest(Provider.history, id=provider.pk), actor="editor", kind="+", reason="Added in the admin."
    )

    response = client.post(
        add, {"slug": "cerebras", "name": "Cerebras", "is_active": "on", "change_reason": "New partner"}
    )
    assert response.status_code == 302
    provider = Provider.objects.get(slug="cerebras")
    assert_audited(latest(Provider.history, id=provider.pk), actor="editor", kind="+", reason="New partner")


def test_provider_services_name_actor_and_reason():
    editor = role_user("editor")
    provider = services.provider_create(slug="mistral", actor=editor, reason="Onboarding")
    assert_audited(latest(Provider.history, id=provider.pk), actor="editor", kind="+", reason="Onboarding")
    services.provider_update(provider=provider, data={"name": "Mistral AI"}, actor=editor)
    assert_audited(
        latest(Provider.history, id=provider.pk), actor="editor", kind="~", reason="Provider changed."
    )
    created = services.provider_get_or_create(slug="cohere", actor=editor, reason="Needed by a model")
    assert_audited(
        latest(Provider.history, id=created.pk), actor="editor", kind="+", reason="Needed by a model"
    )
    assert services.provider_get_or_create(slug="cohere", actor=editor).pk == created.pk
    assert Provider.history.filter(id=created.pk).count() == 1


@ONE_MODEL_IMPORTS
def test_provider_creation_by_the_importer_is_attributed_to_the_system_user(tmp_path):
    ProviderFactory(slug="openai")  # exists already: no new history row for it
    before = Provider.history.count()
    path = _litellm(
        tmp_path / "catalogue.json",
        {
            "gpt-4o": {"litellm_provider": "openai", "mode": "chat"},
            "groq/llama-3": {"litellm_provider": "groq", "mode": "chat"},
            "cerebras/llama-3": {"litellm_provider": "cerebras", "mode": "chat"},
        },
    )
    call_command("import_catalog", path, "--format", "litellm", verbosity=0)
    rows = list(Provider.history.order_by("history_id")[before:].select_related("history_user"))
    assert sorted(row.slug for row in rows) == ["cerebras", "groq"]
    for row in rows:
        assert_audited(row, actor=SYSTEM, kind="+")
        assert row.history_change_reason.startswith("Created by import litellm from ")
        assert row.history_change_reason.endswith("catalogue.json.")
        assert row.id == Provider.objects.get(slug=row.slug).pk


@ONE_MODEL_IMPORTS
def test_provider_creation_by_an_import_with_an_actor_and_reason(tmp_path):
    editor = role_user("editor")
    path = _litellm(tmp_path / "c.json", {"groq/llama-3": {"litellm_provider": "groq", "mode": "chat"}})
    catalog_import(source=path, fmt="litellm", actor=editor, reason="quarterly refresh")
    row = latest(Provider.history, slug="groq")
    assert_audited(row, actor="editor", kind="+", reason="Created by quarterly refresh.")


@ONE_MODEL_IMPORTS
def test_a_dry_run_import_leaves_no_provider_history(tmp_path):
    path = _litellm(tmp_path / "c.json", {"groq/llama-3": {"litellm_provider": "groq", "mode": "chat"}})
    catalog_import(source=path, fmt="litellm", dry_run=True)
    assert not Provider.objects.filter(slug="groq").exists()
    assert not Provider.history.filter(slug="groq").exists()


@ONE_MODEL_IMPORTS
def test_provider_creation_by_a_sync_is_attributed_to_the_system_user(tmp_path):
    path = _litellm(tmp_path / "c.json", {"groq/llama-3": {"litellm_provider": "groq", "mode": "chat"}})
    source = CatalogSource.objects.create(
        name="upstream", location=path, policy=CatalogSource.Policy.APPLY_ALL
    )
    run = sync_run(source=source)
    assert run.status == "ok", (run.guard, run.error)
    row = latest(Provider.history, slug="groq")
    assert_audited(row, actor=SYSTEM, kind="+", reason=f"Created by sync upstream (run #{run.pk}).")
