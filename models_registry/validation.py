"""Pure validators for the JSON fields of AIModel (pricing, capabilities, metadata, tags).

Each returns a list of human-readable problems (empty when valid) so ``AIModel.clean`` can
attach them to the right field.
"""

from decimal import Decimal, InvalidOperation
from typing import Any

MAX_TAG_LENGTH = 64
MAX_TAGS = 100


def pricing_errors(value: Any, path: str = "pricing") -> list[str]:
    """Pricing is a map of price key → non-negative decimal string (or a nested map/list of them,
    for tiered prices). Numbers are converted to decimal strings by the services before this
    runs; anything else that is not a string (floats included) is refused."""
    if path == "pricing" and not isinstance(value, dict):
        return ["Pricing must be an object mapping price keys to decimal strings."]
    problems: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                problems.append(f"{path}: keys must be non-empty strings.")
                continue
            problems.extend(pricing_errors(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems.extend(pricing_errors(item, f"{path}[{index}]"))
    elif isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return [f"{path}: {value!r} is not a decimal number."]
        if not number.is_finite():
            problems.append(f"{path}: must be a finite number.")
        elif number < 0:
            problems.append(f"{path}: a price cannot be negative.")
    else:
        problems.append(f"{path}: must be a decimal string, not {type(value).__name__}.")
    return problems


def string_map_errors(value: Any, name: str) -> list[str]:
    """Capabilities and metadata are JSON objects with string keys."""
    if not isinstance(value, dict):
        return [f"{name} must be an object."]
    if any(not isinstance(key, str) or not key for key in value):
        return [f"{name}: keys must be non-empty strings."]
    return []


def string_list_errors(value: Any) -> list[str]:
    """Tags are a list of short non-empty strings without duplicates."""
    if not isinstance(value, list):
        return ["Tags must be a list of strings."]
    if len(value) > MAX_TAGS:
        return [f"At most {MAX_TAGS} tags."]
    problems = []
    for tag in value:
        if not isinstance(tag, str) or not tag.strip():
            problems.append("Each tag must be a non-empty string.")
        elif len(tag) > MAX_TAG_LENGTH:
            problems.append(f"Tag {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters.")
    if len(set(t for t in value if isinstance(t, str))) != len(value):
        problems.append("Tags must not repeat.")
    return problems
