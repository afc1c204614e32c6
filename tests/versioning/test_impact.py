"""Change categories, impact levels, summaries and labels (pure functions), plus snapshot encoding
and applying / reverting diffs."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from versioning.diff import (
    ADDED,
    BREAKING,
    CHANGED,
    COSMETIC,
    NON_BREAKING,
    REMOVED,
    Change,
    apply_changes,
    change_category,
    diff_states,
    revert_changes,
)
from versioning.impact import CRITICAL, HIGH, LOW, MEDIUM, Thresholds, assess, bump_label, next_label
from versioning.snapshots import decode_change, decode_state, encode_change, encode_state


def category(field, old, new, kind=CHANGED):
    return change_category(Change(field, old, new, kind))


@pytest.mark.parametrize(
    ("field", "old", "new", "kind", "expected"),
    [
        ("context_window", 128_000, 64_000, CHANGED, BREAKING),
        ("context_window", 64_000, 128_000, CHANGED, NON_BREAKING),
        ("max_output_tokens", 4096, None, REMOVED, BREAKING),
        ("max_output_tokens", None, 4096, ADDED, NON_BREAKING),
        ("supports_function_calling", True, None, REMOVED, BREAKING),  # true → unknown
        ("supports_vision", True, False, CHANGED, BREAKING),
        ("supports_vision", None, True, ADDED, NON_BREAKING),
        ("supports_vision", False, None, REMOVED, NON_BREAKING),
        ("capabilities.reasoning", True, None, REMOVED, BREAKING),
        ("capabilities.reasoning", True, False, CHANGED, BREAKING),
        ("capabilities.reasoning", None, True, ADDED, NON_BREAKING),
        ("mode", "chat", "embedding", CHANGED, BREAKING),
        ("mode", "", "chat", CHANGED, NON_BREAKING),
        ("input_cost_per_1m", Decimal("2.5"), Decimal("3"), CHANGED, BREAKING),
        ("output_cost_per_1m", Decimal("10"), Decimal("8"), CHANGED, NON_BREAKING),
        ("input_cost_per_1m", None, Decimal("1"), ADDED, NON_BREAKING),
        ("pricing.input_cost_per_image", Decimal("0.003"), Decimal("0.004"), CHANGED, BREAKING),
        ("pricing.input_cost_per_image", Decimal("0.004"), Decimal("0.003"), CHANGED, NON_BREAKING),
        ("deprecation_date", None, dt.date(2026, 1, 1), ADDED, BREAKING),
        ("deprecation_date", dt.date(2026, 1, 1), dt.date(2025, 6, 1), CHANGED, BREAKING),
        ("deprecation_date", dt.date(2025, 6, 1), dt.date(2026, 1, 1), CHANGED, NON_BREAKING),
        ("deprecation_date", dt.date(2025, 6, 1), None, REMOVED, NON_BREAKING),
        ("is_deprecated", False, True, CHANGED, BREAKING),
        ("is_active", True, False, CHANGED, BREAKING),
        ("is_active", False, True, CHANGED, NON_BREAKING),
        ("successor", None, "openai/gpt-5", ADDED, BREAKING),
        ("successor", "openai/gpt-5", "openai/gpt-6", CHANGED, BREAKING),
        ("alternatives", None, ["a/b"], ADDED, NON_BREAKING),
        ("description", "a", "b", CHANGED, COSMETIC),
        ("display_name", "a", "b", CHANGED, COSMETIC),
        ("tags", ["a"], ["b"], CHANGED, COSMETIC),
        ("metadata.litellm.rpm", 10, 20, CHANGED, COSMETIC),
        ("documentation_url", "", "https://x", CHANGED, COSMETIC),
    ],
)
def test_change_categories(field, old, new, kind, expected):
    assert category(field, old, new, kind) == expected


def test_levels_and_summary():
    cosmetic = [Change("description", "a", "b", CHANGED)]
    assert assess(cosmetic).level == LOW
    additive = [Change("capabilities.vision", None, True, ADDED), Change("description", "a", "b", CHANGED)]
    impact = assess(additive)
    assert (impact.level, impact.breaking) == (MEDIUM, False)
    assert impact.summary["non_breaking"] == 1 and impact.summary["cosmetic"] == 1
    assert impact.summary["added"] == ["capabilities.vision"] and impact.summary["modified"] == [
        "description"
    ]
    raise_ = [Change("input_cost_per_1m", Decimal("2"), Decimal("2.5"), CHANGED)]
    assert (assess(raise_).level, assess(raise_).breaking) == (HIGH, True)
    assert assess(raise_).summary["breaking_fields"] == ["input_cost_per_1m"]
    # a doubled price, a halved context window, a deactivation, a mode change: critical
    for change in (
        Change("input_cost_per_1m", Decimal("2"), Decimal("4"), CHANGED),
        Change("pricing.x", Decimal("0"), Decimal("1"), CHANGED),
        Change("context_window", 128_000, 64_000, CHANGED),
        Change("is_active", True, False, CHANGED),
        Change("mode", "chat", "embedding", CHANGED),
    ):
        assert assess([change]).level == CRITICAL, change
    three = [
        Change("context_window", 100, 90, CHANGED),
        Change("supports_vision", True, None, REMOVED),
        Change("successor", None, "a/b", ADDED),
    ]
    assert assess(three).level == CRITICAL
    assert assess(three, thresholds=Thresholds(critical_breaking_count=4)).level == HIGH
    assert "3 breaking" in assess(three).summary["text"]


def test_thresholds_come_from_settings(settings, db):
    from versioning.services.recording import impact_thresholds

    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "IMPACT_CRITICAL_PRICE_INCREASE_PCT": 10}
    change = [Change("input_cost_per_1m", Decimal("2"), Decimal("2.3"), CHANGED)]
    assert assess(change).level == HIGH
    assert assess(change, thresholds=impact_thresholds()).level == CRITICAL


def test_labels_bump_like_semver():
    assert bump_label("1.4.2", [BREAKING, COSMETIC]) == "2.0.0"
    assert bump_label("1.4.2", [NON_BREAKING, COSMETIC]) == "1.5.0"
    assert bump_label("1.4.2", [COSMETIC]) == "1.4.3"
    assert bump_label("garbage", [COSMETIC]) == "1.0.1"
    assert next_label("1.0.0", [Change("supports_function_calling", True, None, REMOVED)]) == "2.0.0"


def test_snapshot_encoding_is_exact_and_field_aware():
    state = {
        "input_cost_per_1m": Decimal("0.0000015"),
        "output_cost_per_1m": None,
        "pricing": {"a": Decimal("2.5"), "tiers": [{"x": Decimal("1")}], "note": "n/a"},
        "metadata": {"price": "1.5", "n": 1.25},
        "deprecation_date": dt.date(2026, 2, 1),
        "tags": ["x"],
    }
    encoded = encode_state(state)
    assert encoded["input_cost_per_1m"] == "0.0000015"
    assert encoded["pricing"] == {"a": "2.5", "tiers": [{"x": "1"}], "note": "n/a"}
    assert encoded["deprecation_date"] == "2026-02-01"
    assert decode_state(encoded) == state
    assert decode_state(decode_state(encoded)) == state  # idempotent
    assert decode_state(encoded)["metadata"]["price"] == "1.5"  # metadata strings stay strings
    change = Change("pricing.a", Decimal("2.5"), Decimal("3"), CHANGED, ("pricing", "a"))
    assert decode_change(encode_change(change)) == change
    assert encode_change(change)["category"] == BREAKING


keys = st.text(st.sampled_from("ab.c"), min_size=1, max_size=3)  # dots inside keys too
leaves = st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=3))
maps = st.recursive(
    st.dictionaries(keys, leaves, max_size=3),
    lambda inner: st.dictionaries(keys, st.one_of(leaves, inner), max_size=3),
    max_leaves=8,
)
states = st.fixed_dictionaries(
    {
        "capabilities": maps,
        "metadata": maps,
        "tags": st.lists(st.text(max_size=3), max_size=3),
        "context_window": st.one_of(st.none(), st.integers(1, 10)),
        "mode": st.sampled_from(["", "chat", "embedding"]),
    }
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(states, states)
def test_apply_and_revert_round_trip_exactly(old, new):
    changes = diff_states(old, new)
    assert apply_changes(old, changes) == new
    assert revert_changes(new, changes) == old
