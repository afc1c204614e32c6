"""Rule conditions without a database: every operator (holds / does not hold), value checks,
rule validation messages, and regexes that cannot stall a worker."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest

from caching.rules.conditions import (
    ENTRY_FIELDS,
    OPERATORS,
    RuleValueError,
    compile_condition,
    compile_regex,
    condition_errors,
    conditions_hold,
)
from caching.rules.entries import Entry
from caching.rules.validation import EVENTS, rule_errors
from models_registry.records import RECORD_FIELDS, AIModelRecord, freeze

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


def make_record(**overrides) -> AIModelRecord:
    values = {
        "id": 1,
        "key": "openai/gpt-4o",
        "provider": "openai",
        "name": "gpt-4o",
        "display_name": "GPT-4o",
        "description": "Flagship multimodal model",
        "mode": "chat",
        "context_window": 128_000,
        "max_output_tokens": 16_384,
        "input_cost_per_1m": Decimal("2.5"),
        "output_cost_per_1m": Decimal("10"),
        "pricing": freeze({"input_cost_per_image": "0.001"}),
        "supports_streaming": True,
        "supports_function_calling": True,
        "supports_vision": None,
        "capabilities": freeze({"reasoning": False, "prompt_caching": True}),
        "tags": ("flagship", "multimodal"),
        "metadata": freeze({"tier": "pro", "cache_priority": 5, "region": {"name": "eu-west"}}),
        "is_active": True,
        "is_deprecated": False,
        "deprecation_date": dt.date(2026, 1, 31),
        "successor": None,
        "alternatives": (),
        "aliases": (),
        "source": "litellm",
        "source_id": "gpt-4o",
        "documentation_url": "",
        "version": "1.2.0",
        "revision": 7,
        "discovered_at": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return AIModelRecord(**values)


ENTRY = Entry(key="openai/gpt-4o", record=make_record(), cached_l2=True, ttl=42, idle=300)
CONTEXT = {"changed_fields": ["input_cost_per_1m", "tags"], "action": "update", "source": "api", "n": 3}


def holds(field, operator, value, source="entry", entry=ENTRY, context=CONTEXT) -> bool:
    data = {"field": field, "operator": operator, "value": value, "source": source}
    assert condition_errors(data) == [], condition_errors(data)
    return compile_condition(data).holds(entry, context)


# (field, source, value that holds, value that does not)
CASES = {
    "equals": [
        ("provider", "entry", "openai", "anthropic"),
        ("context_window", "entry", 128_000, 8_000),
        ("input_cost_per_1m", "entry", 2.5, "3"),
        ("supports_streaming", "entry", True, False),
        ("supports_vision", "entry", None, False),
        ("capabilities.prompt_caching", "entry", True, False),
        ("tags", "entry", ["flagship", "multimodal"], ["flagship"]),
        ("deprecation_date", "entry", "2026-01-31", "2026-02-01"),
        ("tier", "metadata", "pro", "free"),
        ("region.name", "metadata", "eu-west", "us-east"),
        ("action", "context", "update", "create"),
        ("ttl", "entry", 42, 43),
        ("cached_l2", "entry", True, False),
    ],
    "not_equals": [
        ("mode", "entry", "embedding", "chat"),
        ("tier", "metadata", "free", "pro"),
        ("missing", "metadata", "x", None),
    ],
    "contains": [
        ("description", "entry", "multimodal", "audio"),
        ("tags", "entry", "flagship", "legacy"),
        ("capabilities", "entry", "reasoning", "vision"),
        ("changed_fields", "context", "tags", "mode"),
    ],
    "not_contains": [
        ("tags", "entry", "legacy", "flagship"),
        ("description", "entry", "audio", "Flagship"),
        ("changed_fields", "context", "mode", "input_cost_per_1m"),
    ],
    "greater_than": [
        ("context_window", "entry", 100_000, 128_000),
        ("output_cost_per_1m", "entry", "9.99", 10),
        ("pricing.input_cost_per_image", "entry", 0.0001, 0.01),
        ("deprecation_date", "entry", "2025-12-31", "now+3650d"),
        ("updated_at", "entry", "2025-05-31T23:59:59", "now"),
        ("cache_priority", "metadata", 1, 5),
        ("idle", "entry", 60, 3600),
        ("n", "context", 2, 3),
    ],
    "less_than": [
        ("context_window", "entry", 200_000, 128_000),
        ("input_cost_per_1m", "entry", 3, "2.5"),
        ("updated_at", "entry", "now", "2025-06-01"),
        ("ttl", "entry", 60, 10),
        ("version", "entry", "2", "1.0"),
    ],
    "in": [
        ("provider", "entry", ["openai", "azure"], ["anthropic"]),
        ("tags", "entry", ["legacy", "multimodal"], ["legacy"]),
        ("revision", "entry", [6, 7], [1, 2]),
        ("tier", "metadata", ["pro", "team"], ["free"]),
        ("source", "context", ["api", "admin"], ["import"]),
    ],
    "not_in": [
        ("provider", "entry", ["anthropic"], ["openai"]),
        ("tags", "entry", ["legacy"], ["flagship"]),
        ("tier", "metadata", ["free"], ["pro"]),
    ],
    "regex": [
        ("key", "entry", r"^openai/gpt-4", r"^anthropic/"),
        ("tags", "entry", r"^multi", r"^legacy$"),
        ("context_window", "entry", r"^128", r"^64"),
        ("region.name", "metadata", r"eu-(west|east)", r"^us"),
        ("source", "context", r"(?i)^API$", r"^import"),
    ],
}


def test_every_operator_has_cases():
    assert set(CASES) == set(OPERATORS)


@pytest.mark.parametrize(
    "operator,field,source,good,bad",
    [(op, *case) for op, cases in CASES.items() for case in cases],
    ids=lambda v: str(v)[:30],
)
def test_operator_holds_and_does_not_hold(operator, field, source, good, bad):
    assert holds(field, operator, good, source) is True
    assert holds(field, operator, bad, source) is False


def test_missing_values_and_odd_types_never_match_positively():
    entry = Entry(key="x/y", record=make_record(context_window=None, metadata=freeze({})))
    assert holds("context_window", "greater_than", 1, entry=entry) is False
    assert holds("context_window", "less_than", 1, entry=entry) is False
    assert holds("ttl", "less_than", 100, entry=entry) is False  # not measured / not in Redis
    assert holds("tier", "equals", None, source="metadata", entry=entry) is True
    assert holds("tier", "not_in", ["a"], source="metadata", entry=entry) is True
    assert holds("nested.deeper", "contains", "x", source="context", entry=entry) is False
    assert holds("changed_fields", "greater_than", 3, source="context") is False  # list vs number


def test_match_all_and_any():
    yes = compile_condition({"field": "provider", "operator": "equals", "value": "openai"})
    no = compile_condition({"field": "mode", "operator": "equals", "value": "embedding"})
    assert conditions_hold([yes, no], "all", ENTRY, {}) is False
    assert conditions_hold([yes, no], "any", ENTRY, {}) is True
    assert conditions_hold([], "all", ENTRY, {}) is True


def test_every_record_field_has_a_kind():
    assert set(RECORD_FIELDS) <= set(ENTRY_FIELDS)
    assert "any" not in {ENTRY_FIELDS[name] for name in RECORD_FIELDS}


@pytest.mark.parametrize(
    "condition,message",
    [
        ({"field": "provider", "operator": "like", "value": "x"}, "unknown operator 'like'"),
        ({"field": "colour", "operator": "equals", "value": "x"}, "unknown entry field 'colour'"),
        ({"field": "mode.x", "operator": "equals", "value": "x"}, "'mode' is not a map"),
        ({"field": "provider", "operator": "equals", "value": "x", "source": "db"}, "unknown source 'db'"),
        ({"field": "provider", "operator": "equals"}, "value is required"),
        ({"operator": "equals", "value": 1}, "field is required"),
        ({"field": "provider", "operator": "equals", "value": 1, "extra": 1}, "unknown key(s) 'extra'"),
        ({"field": "context_window", "operator": "greater_than", "value": "lots"}, "needs a number"),
        ({"field": "context_window", "operator": "equals", "value": "lots"}, "needs a number"),
        ({"field": "supports_vision", "operator": "equals", "value": "yes"}, "needs a bool"),
        ({"field": "tags", "operator": "greater_than", "value": 1}, "cannot be used on a list"),
        ({"field": "provider", "operator": "in", "value": "openai"}, "needs a list"),
        ({"field": "provider", "operator": "in", "value": [["a"]]}, "plain values"),
        ({"field": "context_window", "operator": "contains", "value": 1}, "needs a text, list or map"),
        ({"field": "updated_at", "operator": "less_than", "value": "yesterday"}, "ISO 8601"),
        ({"field": "provider", "operator": "regex", "value": 5}, "must be a string"),
        ({"field": "provider", "operator": "regex", "value": "(a"}, "Invalid regex"),
        ({"field": "provider", "operator": "regex", "value": r"(a)\1"}, "backreferences"),
        ({"field": "provider", "operator": "regex", "value": r"foo(?=bar)"}, "look-around"),
        ({"field": "capabilities", "operator": "regex", "value": "x"}, "cannot be used on a map"),
        ("provider equals openai", "must be an object"),
    ],
)
def test_invalid_conditions_are_explained(condition, message):
    errors = condition_errors(condition)
    assert errors and message in " ".join(errors), errors


def test_rule_errors_name_the_field_and_the_item():
    errors = rule_errors(
        events=["model_changed", "whenever"],
        strategy="nope",
        strategy_params={},
        conditions=[{"field": "provider", "operator": "equals", "value": "x"}, {"field": "provider"}],
        actions=[{"type": "invalidate"}, {"type": "explode"}, {"type": "extend_ttl"}],
    )
    assert set(errors) == {"events", "strategy", "conditions", "actions"}
    assert "Unknown event 'whenever'" in errors["events"][0]
    assert "Unknown strategy 'nope'" in errors["strategy"][0]
    assert any(message.startswith("Condition 2:") for message in errors["conditions"])
    assert any("Action 2: unknown action type 'explode'" in m for m in errors["actions"])
    assert any("Action 3: seconds is required" in m for m in errors["actions"])
    params = rule_errors(
        events=["schedule"],
        strategy="memory_pressure",
        strategy_params={"threshold": 0.5, "target": 0.8, "bogus": 1},
        conditions=[],
        actions=[{"type": "tag", "tag": 5}, {"type": "extend_ttl", "seconds": 0}, {"type": "notify", "x": 1}],
    )
    assert set(params) == {"strategy_params", "actions"}
    assert "unknown parameter 'bogus'" in params["strategy_params"][0]
    assert len(params["actions"]) == 3
    empty = rule_errors(events=[], strategy="manual", strategy_params={}, conditions=[], actions=[])
    assert empty == {
        "events": ["Give a non-empty list of events (" + ", ".join(EVENTS) + ")."],
        "actions": ["Give a non-empty list of actions."],
    }


def _finishes(fn, timeout: float) -> tuple[bool, object]:
    """Run ``fn`` in a daemon thread: (finished within ``timeout``, its result). A backtracking
    engine would never finish; the thread would be abandoned instead of hanging the suite."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", fn()), daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive(), out.get("result")


def test_catastrophic_backtracking_regex_is_bounded():
    condition = compile_condition({"field": "description", "operator": "regex", "value": r"(a+)+$"})
    entry = Entry(key="x/y", record=make_record(description="a" * 5000 + "b"))
    started = time.perf_counter()
    finished, result = _finishes(lambda: condition.holds(entry, {}), timeout=5.0)
    elapsed = time.perf_counter() - started
    assert finished and result is False
    assert elapsed < 1.0  # RE2 is linear: microseconds; Python's re would not finish at all
    long_subject = Entry(key="x/y", record=make_record(description="x" * 200_000))
    finished, result = _finishes(
        lambda: compile_condition({"field": "description", "operator": "regex", "value": r"(x+x+)+y"}).holds(
            long_subject, {}
        ),
        timeout=5.0,
    )
    assert finished and result is False


def test_regex_limits():
    with pytest.raises(RuleValueError, match="at most"):
        compile_regex("a" * 5000)
    with pytest.raises(RuleValueError, match="Invalid regex"):
        compile_regex("((a{100}){100}){100}")
    assert compile_regex(r"^gpt-\d+").search("gpt-4o") is not None
