"""Invalidation rules and events over the API and in the admin: CRUD, validation (400 naming the
field; admin form errors), dry run, run, event filters, stats and pruning."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from caching import keys as k
from caching.events import invalidation_event_stats, invalidation_events_prune
from caching.models import InvalidationEvent, InvalidationRule
from tests.caching.rules_support import KEYS, build_catalogue, make_rule
from tests.factories import UserFactory, grant

pytestmark = [pytest.mark.redis]

RULES = "/api/v1/invalidation-rules/"
EVENTS = "/api/v1/invalidation-events/"
VALID = {
    "name": "drop-deprecated",
    "events": ["schedule", "manual"],
    "conditions": [{"field": "is_deprecated", "operator": "equals", "value": True}],
    "actions": [{"type": "invalidate"}],
}


@pytest.fixture
def catalogue(cache_tx):
    return build_catalogue()


@pytest.fixture
def operator(cache_tx):
    user = UserFactory(username="rule-operator", is_staff=True)
    grant(
        user, "add_invalidationrule", "change_invalidationrule", "delete_invalidationrule", "invalidate_cache"
    )
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_rule_crud(operator):
    api = client_for(operator)
    created = api.post(RULES, VALID, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["created_by"] == "rule-operator" and body["strategy"] == "manual" and body["match"] == "all"
    url = f"{RULES}{body['id']}/"
    assert api.get(RULES).json()["results"][0]["name"] == "drop-deprecated"
    patched = api.patch(url, {"priority": 7, "enabled": False}, format="json").json()
    assert patched["priority"] == 7 and patched["enabled"] is False and patched["events"] == VALID["events"]
    replaced = api.put(
        url, {"name": "renamed", "events": ["schedule"], "actions": [{"type": "notify"}]}, format="json"
    )
    assert replaced.status_code == 200
    assert (
        replaced.json()["conditions"] == [] and replaced.json()["priority"] == 0
    )  # PUT resets what it omits
    assert api.get(url).json()["name"] == "renamed"
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_rule_permissions(cache_tx):
    rule = make_rule("existing")
    url = f"{RULES}{rule.pk}/"
    staff = client_for(UserFactory(username="viewer", is_staff=True))
    assert APIClient().get(RULES).status_code in (401, 403)
    assert client_for(UserFactory(username="not-staff")).get(RULES).status_code == 403
    assert staff.get(url).status_code == 200
    assert staff.post(f"{url}dry-run/", {}, format="json").status_code == 200
    assert staff.post(RULES, VALID, format="json").status_code == 403
    assert staff.patch(url, {"priority": 1}, format="json").status_code == 403
    assert staff.delete(url).status_code == 403
    assert staff.post(f"{url}run/", {}, format="json").status_code == 403
    assert InvalidationRule.objects.count() == 1


@pytest.mark.parametrize(
    "change,field,message",
    [
        ({"conditions": [{"field": "provider", "operator": "like", "value": "x"}]}, "conditions", "operator"),
        ({"conditions": [{"field": "colour", "operator": "equals", "value": "x"}]}, "conditions", "colour"),
        (
            {"conditions": [{"field": "key", "operator": "regex", "value": r"(a)\1"}]},
            "conditions",
            "backreference",
        ),
        (
            {"conditions": [{"field": "key", "operator": "regex", "value": "(a"}]},
            "conditions",
            "Invalid regex",
        ),
        (
            {"conditions": [{"field": "context_window", "operator": "greater_than", "value": "big"}]},
            "conditions",
            "number",
        ),
        ({"conditions": [{"field": "provider", "operator": "in", "value": "openai"}]}, "conditions", "list"),
        ({"conditions": "provider=openai"}, "conditions", ""),
        ({"actions": [{"type": "explode"}]}, "actions", "explode"),
        ({"actions": [{"type": "extend_ttl", "seconds": "10"}]}, "actions", "whole number"),
        ({"actions": []}, "actions", ""),
        ({"events": ["whenever"]}, "events", "whenever"),
        ({"events": "schedule"}, "events", ""),
        ({"strategy": "psychic"}, "strategy", "psychic"),
        ({"strategy": "expired", "strategy_params": {"ttl_below": -1}}, "strategy_params", "at least 0"),
        ({"priority": "high"}, "priority", ""),
        ({"match": "most"}, "match", ""),
        ({"colour": "blue"}, "colour", "Unknown field"),
    ],
)
def test_invalid_rules_are_400_naming_the_field(operator, change, field, message):
    response = client_for(operator).post(RULES, {**VALID, **change}, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in errors, errors
    assert message in str(errors[field])
    assert InvalidationRule.objects.count() == 0


def test_duplicate_name_is_400(operator):
    api = client_for(operator)
    assert api.post(RULES, VALID, format="json").status_code == 201
    response = api.post(RULES, VALID, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]


def test_dry_run_and_run_endpoints(catalogue, operator, redis_client, cache_tx):
    rule = make_rule(
        "openai-only",
        strategy="provider_update",
        actions=[{"type": "invalidate"}],
        conditions=[{"field": "mode", "operator": "equals", "value": "chat"}],
    )
    api = client_for(operator)
    dry = api.post(f"{RULES}{rule.pk}/dry-run/", {"context": {"provider": "openai"}}, format="json")
    assert dry.status_code == 200, dry.content
    body = dry.json()
    assert body["dry_run"] is True and body["matched"] == 2 and body["event"] == "manual"
    assert {e["key"] for e in body["entries"]} == {"openai/gpt-4o", "openai/gpt-3.5"}
    assert all(e["cached_l2"] for e in body["entries"])
    assert body["actions"] == [{"type": "invalidate", "count": 2, "detail": {"dry_run": True}}]
    assert all(redis_client.get(k.value_key(cache_tx.gen, key)) for key in KEYS)
    assert InvalidationEvent.objects.count() == 0
    bad = api.post(f"{RULES}{rule.pk}/dry-run/", {"event": "someday"}, format="json")
    assert bad.status_code == 400 and "event" in bad.json()["errors"]
    assert api.post(f"{RULES}999999/dry-run/", {}, format="json").status_code == 404

    ran = api.post(f"{RULES}{rule.pk}/run/", {"context": {"provider": "openai"}}, format="json")
    assert ran.status_code == 200 and ran.json()["outcome"] == "ok" and ran.json()["matched"] == 2
    assert redis_client.get(k.value_key(cache_tx.gen, "openai/gpt-4o")) is None
    event = InvalidationEvent.objects.get()
    assert event.actor == operator and event.rule == rule
    InvalidationRule.objects.filter(pk=rule.pk).update(enabled=False)
    assert api.post(f"{RULES}{rule.pk}/run/", {}, format="json").status_code == 409


def _event(ago: dt.timedelta, **fields) -> InvalidationEvent:
    defaults = {"scope": "model", "targets": [], "count": 1, "duration_ms": 1.0}
    event = InvalidationEvent.objects.create(**{**defaults, **fields})
    InvalidationEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - ago)
    return event


@pytest.fixture
def history(cache_tx):
    rule = make_rule("nightly")
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    return {
        "a": _event(
            hour, reason="rule:nightly", scope="rule", providers=["openai"], rule=rule, duration_ms=2.0
        ),
        "b": _event(
            2 * hour, reason="rule:nightly", scope="rule", providers=["openai", "anthropic"], rule=rule
        ),
        "c": _event(
            3 * day, reason="price update", scope="provider", providers=["anthropic"], outcome="failed"
        ),
        "d": _event(5 * day, reason="", providers=["openai"], outcome="degraded", duration_ms=4.0),
        "old": _event(40 * day, reason="ancient", providers=["mistral"]),
    }


def test_event_filters(history, operator):
    api = client_for(operator)

    def ids(**params):
        response = api.get(EVENTS, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    h = {name: event.pk for name, event in history.items()}
    assert ids(reason="rule:nightly") == {h["a"], h["b"]}
    assert ids(reason_contains="PRICE") == {h["c"]}
    assert ids(provider="anthropic") == {h["b"], h["c"]}
    assert ids(provider="openai", scope="rule") == {h["a"], h["b"]}
    assert ids(outcome="failed") == {h["c"]}
    assert ids(rule=history["a"].rule_id) == {h["a"], h["b"]}
    since = (timezone.now() - dt.timedelta(days=4)).isoformat()
    until = (timezone.now() - dt.timedelta(hours=1, minutes=30)).isoformat()
    assert ids(since=since) == {h["a"], h["b"], h["c"]}
    assert ids(since=since, until=until) == {h["b"], h["c"]}
    row = api.get(EVENTS, {"reason": "rule:nightly"}).json()["results"][0]
    assert row["rule_name"] == "nightly" and row["success"] is True and row["providers"] == ["openai"]
    for bad in ({"since": "yesterday"}, {"outcome": "meh"}, {"scope": "galaxy"}, {"rule": "x"}):
        response = api.get(EVENTS, bad)
        assert response.status_code == 400 and set(bad) <= set(response.json()["errors"]), bad


def test_event_stats(history, operator):
    stats = client_for(operator).get(f"{EVENTS}stats/").json()
    assert stats == invalidation_event_stats() | {"average_duration_ms": stats["average_duration_ms"]}
    assert stats["last_24h"] == 2 and stats["last_7d"] == 4
    assert stats["average_duration_ms"] == pytest.approx((2 + 1 + 1 + 4) / 4)
    assert stats["success_rate"] == 0.75  # ok, ok, degraded succeed; failed does not
    assert stats["by_reason"] == {"rule:nightly": 2, "(none)": 1, "price update": 1}
    assert stats["by_provider"] == {"openai": 3, "anthropic": 2}
    assert stats["by_outcome"] == {"degraded": 1, "failed": 1, "ok": 2}
    assert stats["most_common_reason"] == "rule:nightly" and stats["most_active_provider"] == "openai"
    InvalidationEvent.objects.all().delete()
    empty = invalidation_event_stats()
    assert empty["last_7d"] == 0 and empty["success_rate"] is None and empty["most_common_reason"] is None


def test_prune_by_age_and_count(history):
    assert invalidation_events_prune(older_than_days=30, max_rows=0) == 1  # "old"
    assert invalidation_events_prune(older_than_days=0, max_rows=2) == 2
    assert set(InvalidationEvent.objects.values_list("pk", flat=True)) == {history["a"].pk, history["b"].pk}
    assert invalidation_events_prune() == 0  # defaults: 30 days, 100,000 rows


def test_cache_invalidate_records_providers(catalogue, operator):
    api = client_for(operator)
    api.post("/api/v1/cache/invalidate/", {"models": ["openai/gpt-4o", "anthropic/claude"]}, format="json")
    api.post("/api/v1/cache/invalidate/", {"tags": ["legacy"]}, format="json")
    api.post("/api/v1/cache/invalidate/", {"providers": ["openai"]}, format="json")
    assert [e.providers for e in InvalidationEvent.objects.order_by("pk")] == [
        ["anthropic", "openai"],
        ["openai"],
        ["openai"],
    ]


# -- admin ---------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, cache_tx):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _form(**overrides) -> dict:
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


def test_admin_form_validates_and_saves(admin_client):
    add = "/admin/caching/invalidationrule/add/"
    assert admin_client.get(add).status_code == 200
    refused = admin_client.post(
        add, _form(conditions='[{"field": "key", "operator": "regex", "value": "(x+)\\\\1"}]', actions="[]")
    )
    assert refused.status_code == 200
    form = refused.context["adminform"].form
    assert "conditions" in form.errors and "backreferences" in str(form.errors["conditions"])
    assert "actions" in form.errors
    bad_param = admin_client.post(add, _form(strategy_params='{"ttl_below": "soon"}'))
    assert "strategy_params" in bad_param.context["adminform"].form.errors
    assert InvalidationRule.objects.count() == 0
    saved = admin_client.post(add, _form())
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    rule = InvalidationRule.objects.get()
    assert rule.strategy_params == {"ttl_below": 120} and rule.created_by.username == "root"


def test_admin_dry_run_page_and_action(admin_client, catalogue, redis_client, cache_tx):
    rule = make_rule(
        "admin-dry", actions=[{"type": "invalidate"}], strategy="tags", strategy_params={"tags": ["flagship"]}
    )
    change = admin_client.get(f"/admin/caching/invalidationrule/{rule.pk}/change/")
    assert change.status_code == 200 and b"dry-run/" in change.content
    page = admin_client.get(f"/admin/caching/invalidationrule/{rule.pk}/dry-run/")
    assert page.status_code == 200
    assert b"openai/gpt-4o" in page.content and b"anthropic/claude" in page.content
    assert b"openai/gpt-3.5" not in page.content
    again = admin_client.post(
        f"/admin/caching/invalidationrule/{rule.pk}/dry-run/",
        {"event": "manual", "context": '{"tags": ["legacy"]}'},
    )
    assert b"openai/gpt-3.5" in again.content
    action = admin_client.post(
        "/admin/caching/invalidationrule/",
        {"action": "dry_run_selected", "_selected_action": [rule.pk]},
    )
    assert action.status_code == 200 and b"admin-dry" in action.content and b"openai/gpt-4o" in action.content
    assert all(redis_client.get(k.value_key(cache_tx.gen, key)) for key in KEYS)  # nothing changed
    assert InvalidationEvent.objects.count() == 0


def test_admin_dashboard_shows_invalidation_stats(admin_client, history):
    page = admin_client.get("/admin/caching/invalidationevent/dashboard/")
    assert page.status_code == 200
    assert b"invalidation-stats" in page.content
    assert b"Most active provider" in page.content and b"rule:nightly" in page.content
