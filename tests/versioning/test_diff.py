"""versioning.diff: field-level changes between states (pure; property-based where it matters)."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from versioning.diff import ADDED, CHANGED, REMOVED, changed_fields, diff_states, values_equal


def test_nested_maps_are_compared_key_by_key():
    old = {"pricing": {"a": Decimal("1"), "b": Decimal("2")}, "capabilities": {"vision": True}}
    new = {"pricing": {"a": Decimal("1.0"), "c": Decimal("3")}, "capabilities": {"vision": False}}
    changes = [(c.field, c.old, c.new, c.kind) for c in diff_states(old, new)]
    assert changes == [
        ("capabilities.vision", True, False, CHANGED),
        ("pricing.b", Decimal("2"), None, REMOVED),
        ("pricing.c", None, Decimal("3"), ADDED),
    ]


def test_decimals_compare_as_decimals_and_bools_never_equal_numbers():
    assert values_equal(Decimal("1.50"), Decimal("1.5"))
    assert values_equal(Decimal("0.3"), 0.3)
    assert not values_equal(True, 1)
    assert not values_equal(0, False)
    assert diff_states({"x": Decimal("2.500")}, {"x": Decimal("2.5")}) == []
    assert [c.kind for c in diff_states({"flag": None}, {"flag": False})] == [ADDED]


def test_none_and_empty_are_absent_and_order_does_not_matter():
    assert diff_states({"tags": [], "metadata": {}}, {"tags": None, "metadata": {}}) == []
    a = {"pricing": {"x": Decimal(1), "y": Decimal(2)}}
    b = {"pricing": {"y": Decimal(2), "x": Decimal(1)}}
    assert diff_states(a, b) == []


def test_create_reports_every_present_field_as_added():
    changes = diff_states(None, {"name": "m", "context_window": 10, "description": ""})
    assert {(c.field, c.kind) for c in changes} == {
        ("name", ADDED),
        ("context_window", ADDED),
        ("description", ADDED),
    }
    assert changed_fields(diff_states({"pricing": {"a": 1}}, {"pricing": {"a": 2}})) == {"pricing"}


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-1000, max_value=1000),
    st.text(max_size=8),
)
# Keys without ".": a change names a nested key by a dotted path, which is for display only.
values = st.recursive(
    scalars,
    lambda inner: st.dictionaries(
        st.text(st.characters(exclude_characters="."), min_size=1, max_size=5), inner, max_size=4
    ),
    max_leaves=10,
)
states = st.dictionaries(st.sampled_from(["a", "b", "c", "pricing", "capabilities"]), values, max_size=5)
# Generation can be slow on a loaded CI machine; the properties, not the timing, are the point.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _apply(state: dict, changes) -> dict:
    """Rebuild the new state from the old one and the change list."""
    import copy

    out = copy.deepcopy(state)
    for change in changes:
        parts = change.field.split(".")
        target = out
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        if change.kind == REMOVED:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = change.new
    return out


def _canonical(value):
    if isinstance(value, dict):
        items = {k: _canonical(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None and v != {}}
    return value


@relaxed
@given(states, states)
def test_diff_then_apply_round_trips(old, new):
    changes = diff_states(old, new)
    rebuilt = _apply(old, changes)
    assert diff_states(rebuilt, new) == []
    assert diff_states(_canonical(rebuilt), _canonical(new)) == []


@relaxed
@given(states)
def test_identical_states_have_no_changes(state):
    assert diff_states(state, state) == []


@relaxed
@given(states, states)
def test_diff_is_symmetric_in_fields(old, new):
    forward = {c.field for c in diff_states(old, new)}
    backward = {c.field for c in diff_states(new, old)}
    assert forward == backward
