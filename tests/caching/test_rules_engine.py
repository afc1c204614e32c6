"""The rule engine against real Redis and PostgreSQL: every strategy and action, priorities,
disabled rules, dry runs, firing after commit (not after a rollback), custom strategies."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings

from caching import keys as k
from caching.models import InvalidationEvent
from caching.remote import encode
from caching.rules import services as rules
from caching.rules.strategies import check_custom_strategies, get_strategy
from caching.services import cache_invalidate, cache_set_ttl
from caching.signals import rule_notified
from models_registry import selectors, services
from models_registry.exceptions import ConflictError, RegistryValidationError
from tests.caching.conftest import cache_settings
from tests.caching.rules_support import KEYS, build_catalogue, make_rule, notifications

pytestmark = [pytest.mark.redis]


@pytest.fixture
def catalogue(cache_tx):
    return build_catalogue()


@pytest.fixture
def notified():
    with notifications() as received:
        yield received


@pytest.fixture
def committed(cache_on):
    """The catalogue with real commits (for what happens after a commit, or not after a rollback)."""
    return build_catalogue()


def cached(redis_client, cache, key) -> bool:
    return redis_client.get(k.value_key(cache.gen, key)) is not None


def hit_keys(result) -> set[str]:
    return set(result.keys)


# -- actions -----------------------------------------------------------------------------------


def test_invalidate_action_is_recorded(cache_tx, catalogue, redis_client):
    rule = make_rule(
        "drop-openai",
        conditions=[{"field": "provider", "operator": "equals", "value": "openai"}],
        actions=[{"type": "invalidate"}],
    )
    result = rules.rule_execute(rule=rule, context={"ticket": "OPS-1"})
    assert hit_keys(result) == {"openai/gpt-4o", "openai/gpt-3.5"}
    assert not cached(redis_client, cache_tx, "openai/gpt-4o")
    assert not cached(redis_client, cache_tx, "openai/gpt-3.5")
    assert cached(redis_client, cache_tx, "anthropic/claude")
    assert ("m", "openai/gpt-4o") not in cache_tx.local
    event = InvalidationEvent.objects.get()
    assert (event.scope, event.reason, event.trigger, event.count) == (
        "rule",
        "rule:drop-openai",
        "manual",
        2,
    )
    assert event.rule == rule and event.outcome == "ok" and event.success
    assert event.providers == ["openai"] and sorted(event.targets) == ["openai/gpt-3.5", "openai/gpt-4o"]
    assert event.context["context"] == {"ticket": "OPS-1"}
    assert event.context["actions"] == [{"type": "invalidate", "count": 2}]
    assert event.duration_ms > 0


def test_refresh_action_reloads_into_both_tiers(cache_tx, catalogue, redis_client):
    before = selectors.ai_model_get(key="openai/gpt-4o")
    assert cache_set_ttl(key="openai/gpt-4o", seconds=20)
    rule = make_rule("refresh", actions=[{"type": "refresh"}], strategy_params={"keys": ["openai/gpt-4o"]})
    result = rules.rule_execute(rule=rule)
    assert result.actions[0].count == 1
    assert redis_client.ttl(k.value_key(cache_tx.gen, "openai/gpt-4o")) > 3000  # filled again
    after = selectors.ai_model_get(key="openai/gpt-4o")
    assert after == before and after is not before  # a fresh record from the database


def test_extend_ttl_action_extends_values_and_their_index_sets(cache_tx, catalogue, redis_client):
    gen = cache_tx.gen
    cache_set_ttl(key="anthropic/claude", seconds=100)
    rule = make_rule(
        "extend",
        strategy="provider_update",
        strategy_params={"providers": ["anthropic"]},
        actions=[{"type": "extend_ttl", "seconds": 500}],
    )
    assert rules.rule_execute(rule=rule).actions[0].count == 1
    assert 590 <= redis_client.ttl(k.value_key(gen, "anthropic/claude")) <= 600
    rule = rules.rule_update(
        rule=rule, data={"actions": [{"type": "extend_ttl", "seconds": 9000, "max_ttl": 5000}]}
    )
    rules.rule_execute(rule=rule)
    assert 4990 <= redis_client.ttl(k.value_key(gen, "anthropic/claude")) <= 5000
    # the index sets that list it must outlive it, or a provider/tag invalidation would miss it
    assert redis_client.ttl(k.provider_index_key(gen, "anthropic")) >= 4990
    assert redis_client.ttl(k.tag_index_key(gen, "flagship")) >= 4990
    assert redis_client.ttl(k.value_key(gen, "openai/gpt-4o")) <= 3600  # not touched


def test_tag_action_groups_entries_for_a_later_invalidation(cache_tx, catalogue, redis_client):
    rule = make_rule(
        "tag-large",
        conditions=[{"field": "context_window", "operator": "greater_than", "value": 100_000}],
        actions=[{"type": "tag", "tag": "large-context"}],
    )
    result = rules.rule_execute(rule=rule)
    assert hit_keys(result) == {"openai/gpt-4o", "anthropic/claude"}
    members = redis_client.smembers(k.tag_index_key(cache_tx.gen, "large-context"))
    assert {m.decode() for m in members} == {"openai/gpt-4o", "anthropic/claude"}
    assert 0 < redis_client.ttl(k.tag_index_key(cache_tx.gen, "large-context")) <= 3600
    tags_rule = make_rule("by-tag", strategy="tags", strategy_params={"tags": ["large-context"]})
    assert hit_keys(rules.rule_dry_run(rule=tags_rule)) == {"openai/gpt-4o", "anthropic/claude"}
    event = cache_invalidate(tags=["large-context"], reason="tagged by a rule")
    assert event.count == 2 and event.providers == ["anthropic", "openai"]
    assert not cached(redis_client, cache_tx, "openai/gpt-4o")
    assert cached(redis_client, cache_tx, "openai/gpt-3.5")


def test_notify_action_sends_the_signal_and_logs(cache_tx, catalogue, notified, caplog):
    rule = make_rule(
        "watch-deprecated",
        conditions=[{"field": "is_deprecated", "operator": "equals", "value": True}],
        actions=[{"type": "notify", "message": "deprecated model still cached"}],
    )
    with caplog.at_level(logging.WARNING, logger="caching.rules"):
        rules.rule_execute(rule=rule, context={"why": "test"})
    (call,) = notified
    assert call["rule"] == "watch-deprecated" and call["rule_id"] == rule.pk and call["event"] == "manual"
    assert call["keys"] == ["openai/gpt-3.5"] and call["context"] == {"why": "test"}
    assert call["message"] == "deprecated model still cached"
    assert any(
        r.levelno == logging.WARNING
        and "watch-deprecated" in r.getMessage()
        and "openai/gpt-3.5" in r.getMessage()
        for r in caplog.records
    )


def test_failing_action_is_recorded_and_the_others_still_run(cache_tx, catalogue, notified):
    def explode(**kwargs):
        raise RuntimeError("receiver broke")

    rule = make_rule("robust", actions=[{"type": "notify"}, {"type": "invalidate"}])
    rule_notified.connect(explode, weak=False, dispatch_uid="test-explode")
    try:
        result = rules.rule_execute(rule=rule)
    finally:
        rule_notified.disconnect(dispatch_uid="test-explode")
    assert [a.type for a in result.actions] == ["notify", "invalidate"] and result.actions[1].count == 3
    assert len(notified) == 1 and result.outcome == "ok"  # a receiver's error is logged, not fatal


# -- strategies --------------------------------------------------------------------------------


def test_manual_strategy_uses_keys_or_every_cached_entry(cache_tx, catalogue):
    every = make_rule("every")
    assert hit_keys(rules.rule_dry_run(rule=every)) == set(KEYS)
    cache_invalidate(models=["openai/gpt-3.5"])
    named = make_rule("named", strategy_params={"keys": ["openai/gpt-3.5", "nope/missing"]})
    (entry,) = rules.rule_dry_run(rule=named).entries
    assert entry.key == "openai/gpt-3.5" and not entry.cached  # named keys come from the database
    by_context = rules.rule_dry_run(rule=every, context={"keys": ["anthropic/claude"]})
    assert by_context.keys == ["anthropic/claude"]


def test_expired_strategy(cache_tx, catalogue):
    cache_set_ttl(key="openai/gpt-3.5", seconds=30)
    rule = make_rule("expiring", events=["schedule"], strategy="expired", strategy_params={"ttl_below": 60})
    result = rules.rule_dry_run(rule=rule)
    assert result.keys == ["openai/gpt-3.5"] and result.entries[0].ttl <= 30


def test_memory_pressure_strategy_takes_lowest_priority_and_least_used_first(cache_tx, catalogue):
    params = {"threshold": 0.9, "target": 0.5, "limit_bytes": 10**9, "max_entries": 2}
    rule = make_rule("pressure", events=["schedule"], strategy="memory_pressure", strategy_params=params)
    assert rules.rule_dry_run(rule=rule).entries == []  # far below the limit
    rule = rules.rule_update(rule=rule, data={"strategy_params": {**params, "limit_bytes": 100}})
    result = rules.rule_dry_run(rule=rule)
    assert hit_keys(result) == {"openai/gpt-3.5", "anthropic/claude"}  # priority 0 before priority 5
    assert result.notes["memory"]["tier"] == "l2" and result.notes["memory"]["ratio"] > 1
    rule = rules.rule_update(
        rule=rule, data={"strategy_params": {**params, "limit_bytes": 100, "max_entries": 10}}
    )
    assert rules.rule_dry_run(rule=rule).keys[-1] == "openai/gpt-4o"


def test_provider_update_strategy_fires_after_a_provider_update_commits(
    cache_on, committed, notified, redis_client
):
    rule = make_rule(
        "provider-changed",
        events=["provider_updated"],
        strategy="provider_update",
        actions=[{"type": "invalidate"}, {"type": "notify"}],
    )
    assert hit_keys(rules.rule_dry_run(rule=rule, context={"provider": "anthropic"})) == {"anthropic/claude"}
    with transaction.atomic():
        services.provider_update(provider=committed["claude"].provider, data={"name": "Anthropic PBC"})
        assert notified == []  # not before the commit
    assert [call["keys"] for call in notified] == [["anthropic/claude"]]
    assert notified[0]["context"]["provider"] == "anthropic"
    assert not cached(redis_client, cache_on, "anthropic/claude")
    assert cached(redis_client, cache_on, "openai/gpt-4o")
    assert InvalidationEvent.objects.get().trigger == "provider_updated"


def test_tags_strategy(cache_tx, catalogue):
    rule = make_rule("flagships", strategy="tags", strategy_params={"tags": ["flagship", "legacy"]})
    assert hit_keys(rules.rule_dry_run(rule=rule)) == set(KEYS)
    rule = rules.rule_update(
        rule=rule, data={"strategy_params": {"tags": ["flagship", "legacy"], "match": "all"}}
    )
    assert rules.rule_dry_run(rule=rule).entries == []
    from_context = make_rule("ctx-tags", strategy="tags")
    assert hit_keys(rules.rule_dry_run(rule=from_context, context={"tags": ["legacy"]})) == {"openai/gpt-3.5"}


def _plant_stale(redis_client, cache, key, **changes):
    """Put an older copy of a cached record in Redis (as a lost invalidation would leave it)."""
    record = selectors.ai_model_get(key=key)
    stale = dataclasses.replace(record, **changes)
    redis_client.set(k.value_key(cache.gen, key), encode(stale), ex=3600)
    cache.local.clear()
    return record


def test_version_change_strategy(cache_tx, catalogue, redis_client):
    record = _plant_stale(redis_client, cache_tx, "openai/gpt-4o", revision=0, version="0.9.0")
    rule = make_rule("stale", events=["schedule"], strategy="version_change", actions=[{"type": "refresh"}])
    assert rules.rule_dry_run(rule=rule).keys == ["openai/gpt-4o"]
    by_label = rules.rule_update(rule=rule, data={"strategy_params": {"field": "version"}})
    assert rules.rule_dry_run(rule=by_label).keys == ["openai/gpt-4o"]
    expected = {
        "anthropic/claude": 99,
        "openai/gpt-3.5": selectors.ai_model_get(key="openai/gpt-3.5").revision,
    }
    assert rules.rule_dry_run(rule=rule, context={"expected": expected}).keys == ["anthropic/claude"]
    rules.rules_evaluate_scheduled()
    assert selectors.ai_model_get(key="openai/gpt-4o").revision == record.revision  # refreshed
    assert rules.rule_dry_run(rule=rule).entries == []


def test_capability_and_configuration_change_strategies(cache_tx, catalogue, redis_client):
    capability = make_rule("caps", events=["model_changed", "schedule"], strategy="capability_change")
    configuration = make_rule("config", events=["model_changed", "schedule"], strategy="configuration_change")
    narrow = make_rule(
        "vision-only", strategy="capability_change", strategy_params={"fields": ["supports_vision"]}
    )
    wide = make_rule("caps-provider", strategy="capability_change", strategy_params={"scope": "provider"})
    changed = {"key": "openai/gpt-4o", "keys": ["openai/gpt-4o"], "provider": "openai"}
    caps = {**changed, "changes": [{"field": "capabilities.reasoning", "old": False, "new": True}]}
    window = {**changed, "changes": [{"field": "context_window", "old": 1, "new": 2}]}
    assert rules.rule_dry_run(rule=capability, event="model_changed", context=caps).keys == ["openai/gpt-4o"]
    assert rules.rule_dry_run(rule=configuration, event="model_changed", context=caps).entries == []
    assert rules.rule_dry_run(rule=configuration, event="model_changed", context=window).keys == [
        "openai/gpt-4o"
    ]
    assert rules.rule_dry_run(rule=narrow, context=caps).entries == []
    assert hit_keys(rules.rule_dry_run(rule=wide, context=caps)) == {"openai/gpt-4o", "openai/gpt-3.5"}
    # on schedule (no changes in the context): cached copies that differ from the database
    _plant_stale(redis_client, cache_tx, "anthropic/claude", capabilities={"vision": True})
    assert rules.rule_dry_run(rule=capability, event="schedule").keys == ["anthropic/claude"]
    assert rules.rule_dry_run(rule=configuration, event="schedule").entries == []


def test_custom_strategy_by_import_string(cache_tx, catalogue, namespace):
    path = "tests.caching.rules_support.DeprecatedStrategy"
    with pytest.raises(RegistryValidationError) as refused:
        make_rule("custom", strategy="deprecated")
    assert "strategy" in refused.value.field_errors
    for setting in ([path], {"deprecated": path}):
        with override_settings(
            MODEL_REGISTRY=cache_settings(namespace, CUSTOM_INVALIDATION_STRATEGIES=setting)
        ):
            rule = make_rule(f"custom-{type(setting).__name__}", strategy="deprecated")
            assert rules.rule_dry_run(rule=rule).keys == ["openai/gpt-3.5"]
            with pytest.raises(RegistryValidationError):
                make_rule("bad-param", strategy="deprecated", strategy_params={"provider": 5})
    broken = cache_settings(
        namespace, CUSTOM_INVALIDATION_STRATEGIES=["tests.caching.rules_support.NotAStrategy"]
    )
    with override_settings(MODEL_REGISTRY=broken):
        with pytest.raises(ImproperlyConfigured):
            get_strategy("broken")
        assert [error.id for error in check_custom_strategies()] == ["model_registry.E101"]
    assert check_custom_strategies() == []


# -- the engine ----------------------------------------------------------------------------------


def test_rules_fire_in_priority_order_and_stop_processing(cache_tx, catalogue, notified):
    make_rule("low", priority=1, events=["sync_applied"])
    make_rule("high", priority=10, events=["sync_applied"])
    make_rule("middle", priority=5, events=["sync_applied"])
    make_rule("other-event", priority=99, events=["schedule"])
    make_rule(
        "nothing-matches",
        priority=50,
        events=["sync_applied"],
        strategy="tags",
        strategy_params={"tags": ["x"]},
    )
    results = rules.rules_fire(event="sync_applied", context={"keys": ["anthropic/claude"]})
    assert [r.rule for r in results] == ["nothing-matches", "high", "middle", "low"]
    assert [call["rule"] for call in notified] == ["high", "middle", "low"]
    assert InvalidationEvent.objects.count() == 3  # a rule that hits nothing is not recorded
    rules.rule_update(rule=rules.InvalidationRule.objects.get(name="middle"), data={"stop_processing": True})
    notified.clear()
    rules.rules_fire(event="sync_applied", context={"keys": ["anthropic/claude"]})
    assert [call["rule"] for call in notified] == ["high", "middle"]


def test_disabled_rules_do_not_fire(cache_tx, catalogue, notified, redis_client):
    rule = make_rule("off", enabled=False, events=["manual", "schedule"], actions=[{"type": "invalidate"}])
    assert rules.rules_fire(event="schedule") == []
    with pytest.raises(ConflictError):
        rules.rule_execute(rule=rule)
    assert all(cached(redis_client, cache_tx, key) for key in KEYS)
    assert InvalidationEvent.objects.count() == 0
    assert len(rules.rule_dry_run(rule=rule).entries) == 3  # a dry run still shows what it would do


def test_rules_can_be_switched_off(cache_tx, catalogue, notified, namespace):
    make_rule("on-schedule", events=["schedule"])
    with override_settings(MODEL_REGISTRY=cache_settings(namespace, RULES_ENABLED=False)):
        assert rules.rules_evaluate_scheduled() == []
    assert len(rules.rules_evaluate_scheduled()) == 1 and len(notified) == 1


def test_dry_run_changes_nothing(cache_tx, catalogue, notified, redis_client):
    rule = make_rule(
        "everything",
        actions=[
            {"type": "invalidate"},
            {"type": "refresh"},
            {"type": "extend_ttl", "seconds": 1000},
            {"type": "tag", "tag": "dry"},
            {"type": "notify"},
        ],
    )
    gen = cache_tx.gen
    before = {
        key: (redis_client.get(k.value_key(gen, key)), redis_client.ttl(k.value_key(gen, key)))
        for key in KEYS
    }
    fences = {key: redis_client.get(k.fence_key(key)) for key in KEYS}
    result = rules.rule_dry_run(rule=rule)
    assert hit_keys(result) == set(KEYS) and result.dry_run
    assert [(a.type, a.count) for a in result.actions] == [
        ("invalidate", 3),
        ("refresh", 3),
        ("extend_ttl", 3),
        ("tag", 3),
        ("notify", 3),
    ]
    after = {
        key: (redis_client.get(k.value_key(gen, key)), redis_client.ttl(k.value_key(gen, key)))
        for key in KEYS
    }
    assert {key: value for key, (value, _) in after.items()} == {
        key: value for key, (value, _) in before.items()
    }
    assert all(after[key][1] <= before[key][1] for key in KEYS)  # no TTL was extended
    assert {key: redis_client.get(k.fence_key(key)) for key in KEYS} == fences  # nothing invalidated
    assert not redis_client.exists(k.tag_index_key(gen, "dry"))
    assert notified == [] and InvalidationEvent.objects.count() == 0


def test_rules_fire_on_a_model_write_after_commit_and_not_on_rollback(
    cache_on, committed, notified, redis_client
):
    make_rule(
        "warm-after-config-change",
        events=["model_changed"],
        strategy="configuration_change",
        actions=[{"type": "refresh"}, {"type": "notify"}],
    )
    model = committed["gpt-4o"]
    with transaction.atomic():
        services.ai_model_update(
            ai_model=model, data={"context_window": 64_000}, reason="smaller", source="api"
        )
        services.ai_model_update(ai_model=model, data={"max_output_tokens": 1000}, source="api")
        assert notified == []
    (call,) = notified  # one firing for the two writes of the transaction
    context = call["context"]
    assert call["keys"] == ["openai/gpt-4o"] and call["event"] == "model_changed"
    assert context["changed_fields"] == ["context_window", "max_output_tokens"]
    assert context["action"] == "update" and context["source"] == "api" and context["provider"] == "openai"
    assert {c["field"] for c in context["changes"]} == {"context_window", "max_output_tokens"}
    # the refresh ran after the cache's own invalidation: the new row is cached in both tiers again
    assert cached(redis_client, cache_on, "openai/gpt-4o")
    assert selectors.ai_model_get(key="openai/gpt-4o").context_window == 64_000
    event = InvalidationEvent.objects.get()
    assert (
        event.trigger == "model_changed"
        and event.context["context"]["changed_fields"] == context["changed_fields"]
    )

    notified.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.ai_model_update(ai_model=model, data={"context_window": 1000})
        raise RuntimeError("roll back")
    services.ai_model_update(ai_model=model, data={"description": "cosmetic"})  # not a configuration change
    assert notified == []
    assert InvalidationEvent.objects.count() == 1


def test_broken_rule_is_recorded_and_does_not_stop_the_others(cache_tx, catalogue, notified):
    good = make_rule("good", events=["schedule"])
    bad = make_rule("bad", events=["schedule"], priority=5)
    rules.InvalidationRule.objects.filter(pk=bad.pk).update(strategy="vanished")  # e.g. a custom one removed
    results = rules.rules_evaluate_scheduled()
    assert [(r.rule, r.outcome) for r in results] == [("bad", "failed"), ("good", "ok")]
    assert rules.rule_results_summary(results) == {
        "evaluated": 2,
        "hit": 1,
        "entries": 3,
        "failed": ["bad"],
        "degraded": [],
    }
    assert len(notified) == 1 and notified[0]["rule_id"] == good.pk
    failed = InvalidationEvent.objects.get(outcome="failed")
    assert failed.reason == "rule:bad" and "vanished" in failed.error and not failed.success
