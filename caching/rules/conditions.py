"""Conditions of invalidation rules: operators, value checks, and linear-time regexes.

A condition is ``{"field", "operator", "value", "source"}``:

- ``source`` ``"entry"`` (default): a field of the cached record (``AIModelRecord``: ``provider``,
  ``mode``, ``context_window``, ``input_cost_per_1m``, ``tags``, …), a key inside one of its maps
  with a dotted path (``capabilities.reasoning``, ``pricing.input_cost_per_image``), or one of the
  cache facts ``ttl`` (seconds left in Redis), ``idle`` (seconds since Redis last served it),
  ``cached_l1`` / ``cached_l2``;
- ``"metadata"``: a key (dotted path) of the record's ``metadata``;
- ``"context"``: a key (dotted path) of the triggering event's context (``changed_fields``,
  ``provider``, ``action``, ``source``, …).

Operators: ``equals``, ``not_equals``, ``contains``, ``not_contains``, ``greater_than``,
``less_than``, ``in``, ``not_in``, ``regex``. Numbers (ints, decimals, decimal strings) compare by
value; dates and date-times compare with ISO 8601 strings or ``now``/``now-7d``/``now+1h``;
``contains`` is a substring of a text, an item of a list, or a key of a map; ``in`` holds when the
value (or, for a list field, any of its items) is one of the listed values; ``regex`` searches
(anchor with ``^…$``) the text, or any text item of a list. The ``not_*`` operators are exact
negations, so a missing value satisfies ``not_equals``/``not_contains``/``not_in``.

Regexes run on RE2 (google-re2): matching time is linear in the input, so a pattern such as
``(a+)+$`` cannot stall a worker; patterns RE2 cannot compile (backreferences, look-around) are
refused when the rule is saved. Evaluation never raises: a value of the wrong type does not match.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import re2

from models_registry.conf import registry_settings
from models_registry.records import RECORD_FIELDS

OPERATORS = (
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "greater_than",
    "less_than",
    "in",
    "not_in",
    "regex",
)
SOURCES = ("entry", "metadata", "context")
CONDITION_KEYS = frozenset({"field", "operator", "value", "source"})
MAX_IN_VALUES = 1000

# Kinds of the record's fields; ``any`` for fields added later and not listed here.
_RECORD_KINDS = {
    "id": "int",
    "key": "str",
    "provider": "str",
    "name": "str",
    "display_name": "str",
    "description": "str",
    "mode": "str",
    "context_window": "int",
    "max_output_tokens": "int",
    "input_cost_per_1m": "number",
    "output_cost_per_1m": "number",
    "pricing": "map",
    "supports_streaming": "bool",
    "supports_function_calling": "bool",
    "supports_vision": "bool",
    "capabilities": "map",
    "tags": "list",
    "metadata": "map",
    "is_active": "bool",
    "is_deprecated": "bool",
    "deprecation_date": "date",
    "successor": "str",
    "alternatives": "list",
    "aliases": "list",
    "source": "str",
    "source_id": "str",
    "documentation_url": "str",
    "version": "str",
    "revision": "int",
    "discovered_at": "datetime",
    "created_at": "datetime",
    "updated_at": "datetime",
}
# Facts about the cache entry rather than the model (computed only when a condition names them).
CACHE_FIELDS = {"ttl": "int", "idle": "int", "cached_l1": "bool", "cached_l2": "bool"}
ENTRY_FIELDS: dict[str, str] = {
    **{name: _RECORD_KINDS.get(name, "any") for name in RECORD_FIELDS},
    **CACHE_FIELDS,
}


class RuleValueError(ValueError):
    """A condition, regex or parameter that cannot be used (the message says why)."""


# -- regexes -----------------------------------------------------------------------------------


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.max_mem = 8 << 20  # bounds the compiled program; huge repetitions are refused
    return options


@functools.lru_cache(maxsize=512)
def _compile(pattern: str):
    return re2.compile(pattern, options=_re2_options())


def compile_regex(pattern: Any):
    """An RE2 program for ``pattern``, or ``RuleValueError`` with a readable reason."""
    if not isinstance(pattern, str):
        raise RuleValueError("A regex must be a string.")
    limit = int(registry_settings.RULE_REGEX_MAX_LENGTH)
    if len(pattern) > limit:
        raise RuleValueError(f"A regex is at most {limit} characters.")
    try:
        return _compile(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        hint = ""
        if re.search(r"\\[1-9]|\(\?(=|!|<=|<!|P=)", pattern):
            hint = " (RE2 runs in linear time and does not support backreferences or look-around)"
        raise RuleValueError(f"Invalid regex {pattern[:80]!r}: {reason}{hint}.") from None


# -- values ------------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^now(?:(?P<sign>[+-])(?P<n>\d{1,6})(?P<unit>[smhd]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _number(value: Any) -> Decimal | None:
    """``value`` as a Decimal if it is a number or a decimal string, else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, str) and value.strip():
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _moment(value: Any) -> dt.datetime | dt.date | None:
    """An ISO 8601 date or date-time (naive = UTC), or ``now[±N(s|m|h|d)]``."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        now = dt.datetime.now(dt.UTC)
        if relative["sign"]:
            delta = dt.timedelta(**{_UNITS[relative["unit"]]: int(relative["n"])})
            now = now + delta if relative["sign"] == "+" else now - delta
        return now
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _comparable(actual: Any, expected: Any) -> tuple[Any, Any] | None:
    """(actual, expected) brought to one ordered type, or ``None`` if they cannot be compared."""
    if actual is None or expected is None or isinstance(actual, bool) or isinstance(expected, bool):
        return None
    if isinstance(actual, dt.date) and isinstance(expected, str):
        moment = _moment(expected)
        if moment is None:
            return None
        if isinstance(actual, dt.datetime):
            if not isinstance(moment, dt.datetime):
                return actual.date(), moment
            if actual.tzinfo is None:
                actual = actual.replace(tzinfo=dt.UTC)
            return actual, moment
        return actual, moment.date() if isinstance(moment, dt.datetime) else moment
    a, b = _number(actual), _number(expected)
    if a is not None and b is not None:
        return a, b
    if isinstance(actual, str) and isinstance(expected, str):
        return actual, expected
    return None


def plain(value: Any) -> Any:
    """Frozen record values as plain JSON-like data (maps → dict, tuples → list)."""
    if isinstance(value, MappingProxyType | dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    return value


def values_equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if actual is None or expected is None:
        return actual is None and expected is None
    if _is_number(actual) or _is_number(expected):
        a, b = _number(actual), _number(expected)
        return a is not None and b is not None and a == b
    if isinstance(actual, dt.date) and isinstance(expected, str):
        pair = _comparable(actual, expected)
        return pair is not None and pair[0] == pair[1]
    return plain(actual) == plain(expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, tuple | list):
        return any(values_equal(item, expected) for item in actual)
    if isinstance(actual, Mapping):
        return isinstance(expected, str) and expected in actual
    return False


def _in(actual: Any, expected: Any) -> bool:
    if not isinstance(expected, list | tuple):
        return False
    items = actual if isinstance(actual, tuple | list) else (actual,)
    return any(values_equal(item, option) for item in items for option in expected)


def _greater(actual: Any, expected: Any) -> bool:
    pair = _comparable(actual, expected)
    try:
        return pair is not None and pair[0] > pair[1]
    except TypeError:
        return False


def _less(actual: Any, expected: Any) -> bool:
    pair = _comparable(actual, expected)
    try:
        return pair is not None and pair[0] < pair[1]
    except TypeError:
        return False


def _regex(program) -> Callable[[Any], bool]:
    def test(actual: Any) -> bool:
        if isinstance(actual, tuple | list):
            return any(isinstance(item, str) and program.search(item) is not None for item in actual)
        if isinstance(actual, str):
            return program.search(actual) is not None
        if _is_number(actual):
            return program.search(str(actual)) is not None
        return False

    return test


# -- compiled conditions -----------------------------------------------------------------------

_MISSING = object()


def _dig(value: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


@dataclass(frozen=True)
class Condition:
    """One validated condition, ready to test entries."""

    source: str
    field: str
    operator: str
    value: Any
    test_value: Callable[[Any], bool]

    @property
    def cache_field(self) -> str | None:
        """``ttl``/``idle``/… when the condition needs a fact about the cache entry."""
        return self.field if self.source == "entry" and self.field in CACHE_FIELDS else None

    def actual(self, entry, context: Mapping) -> Any:
        path = self.field.split(".")
        if self.source == "context":
            return _dig(context, path)
        record = entry.record
        if self.source == "metadata":
            return _dig(record.metadata, path)
        head = path[0]
        if head in CACHE_FIELDS:
            return getattr(entry, head)
        value = getattr(record, head, None)
        return _dig(value, path[1:]) if len(path) > 1 else value

    def holds(self, entry, context: Mapping) -> bool:
        try:
            return self.test_value(self.actual(entry, context))
        except Exception:  # noqa: BLE001 - a condition never breaks an evaluation: no match
            return False


def _tester(operator: str, expected: Any) -> Callable[[Any], bool]:
    if operator == "regex":
        return _regex(compile_regex(expected))
    positive = {
        "equals": values_equal,
        "contains": _contains,
        "greater_than": _greater,
        "less_than": _less,
        "in": _in,
    }
    if operator in positive:
        fn = positive[operator]
        return lambda actual: fn(actual, expected)
    negated = {"not_equals": values_equal, "not_contains": _contains, "not_in": _in}[operator]
    return lambda actual: not negated(actual, expected)


def compile_condition(data: Mapping) -> Condition:
    """A ``Condition`` from its JSON form (assumed valid: see ``condition_errors``)."""
    operator = data["operator"]
    return Condition(
        source=data.get("source") or "entry",
        field=data["field"],
        operator=operator,
        value=data.get("value"),
        test_value=_tester(operator, data.get("value")),
    )


def conditions_hold(conditions: list[Condition], match: str, entry, context: Mapping) -> bool:
    """``match`` ``"all"``: every condition holds (none = everything matches); ``"any"``: one does."""
    if not conditions:
        return True
    if match == "any":
        return any(c.holds(entry, context) for c in conditions)
    return all(c.holds(entry, context) for c in conditions)


# -- validation --------------------------------------------------------------------------------


def _kind_of(source: str, field: str) -> tuple[str | None, str | None]:
    """(kind, error) of an entry field path; other sources are ``any``."""
    if source != "entry":
        return "any", None
    head, _, rest = field.partition(".")
    kind = ENTRY_FIELDS.get(head)
    if kind is None:
        return None, f"unknown entry field {head!r} (see the record fields, or use source metadata/context)"
    if rest:
        if kind != "map":
            return None, f"{head!r} is not a map, so {field!r} does not exist"
        return "any", None
    return kind, None


def _value_error(operator: str, kind: str, value: Any) -> str | None:
    """Why ``value`` cannot be used with ``operator`` on a field of ``kind`` (``None``: it can)."""
    if operator == "regex":
        try:
            compile_regex(value)
        except RuleValueError as exc:
            return str(exc)
        if kind in ("map", "bool"):
            return f"regex cannot be used on a {kind} field"
        return None
    if operator in ("in", "not_in"):
        if not isinstance(value, list):
            return f"{operator} needs a list of values"
        if len(value) > MAX_IN_VALUES:
            return f"{operator} takes at most {MAX_IN_VALUES} values"
        if any(isinstance(item, dict | list) for item in value):
            return f"{operator} takes a list of plain values (text, numbers, booleans, null)"
        return None
    if operator in ("greater_than", "less_than"):
        if kind in ("bool", "map", "list"):
            return f"{operator} cannot be used on a {kind} field"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return f"{operator} needs a number or a text"
        if kind in ("int", "number") and _number(value) is None:
            return f"{operator} needs a number here"
        if kind in ("date", "datetime") and _moment(value) is None:
            return f"{operator} needs an ISO 8601 date/date-time or now[±N(s|m|h|d)] here"
        return None
    if operator in ("contains", "not_contains"):
        if kind in ("int", "number", "bool", "date", "datetime"):
            return f"{operator} needs a text, list or map field, not a {kind}"
        if kind in ("str", "map") and not isinstance(value, str):
            return f"{operator} needs a text value here"
        if isinstance(value, dict | list):
            return f"{operator} needs a plain value (text, number, boolean)"
        return None
    # equals / not_equals
    if value is None or kind == "any":
        return None
    expected = {
        "bool": (bool,),
        "str": (str,),
        "list": (list,),
        "map": (dict,),
    }.get(kind)
    if expected and not isinstance(value, expected):
        return f"{operator} needs a {kind} value (or null) here"
    if kind in ("int", "number") and _number(value) is None:
        return f"{operator} needs a number (or null) here"
    if kind in ("date", "datetime") and _moment(value) is None:
        return f"{operator} needs an ISO 8601 date/date-time (or null) here"
    return None


def condition_errors(data: Any) -> list[str]:
    """Problems with one condition (empty: valid)."""
    if not isinstance(data, Mapping):
        return ['must be an object {"field", "operator", "value", "source"}']
    errors = []
    unknown = sorted(set(data) - CONDITION_KEYS)
    if unknown:
        errors.append(f"unknown key(s) {', '.join(map(repr, unknown))}")
    source = data.get("source", "entry")
    if source not in SOURCES:
        errors.append(f"unknown source {source!r} (expected one of {', '.join(SOURCES)})")
    field = data.get("field")
    if not isinstance(field, str) or not field.strip():
        errors.append("field is required (a non-empty text)")
    elif len(field) > 200 or any(not part for part in field.split(".")):
        errors.append(f"field {field[:80]!r} is not a valid (dotted) name")
    operator = data.get("operator")
    if operator not in OPERATORS:
        errors.append(f"unknown operator {operator!r} (expected one of {', '.join(OPERATORS)})")
    if "value" not in data:
        errors.append("value is required")
    if errors:
        return errors
    kind, error = _kind_of(source, field)
    if error:
        return [error]
    error = _value_error(operator, kind, data["value"])
    return [error] if error else []
