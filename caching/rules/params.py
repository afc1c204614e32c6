"""Declared parameters of strategies and actions: type checks, bounds, defaults.

``clean_params(spec, data)`` returns ``(cleaned, errors)``: unknown names, wrong JSON types and
out-of-range values are reported (never coerced), missing optional ones get their default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("int", "number", "str", "str_list", "bool", "choice")


@dataclass(frozen=True)
class Param:
    kind: str
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    max_length: int = 200
    max_items: int = 1000
    help: str = ""

    def check(self, name: str, value: Any) -> str | None:
        """Why ``value`` is not acceptable (``None``: it is)."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"{name} must be true or false"
        if self.kind in ("int", "number"):
            ok = isinstance(value, int) if self.kind == "int" else isinstance(value, int | float)
            if isinstance(value, bool) or not ok:
                return f"{name} must be {'a whole number' if self.kind == 'int' else 'a number'}"
            if self.minimum is not None and value < self.minimum:
                return f"{name} must be at least {self.minimum}"
            if self.maximum is not None and value > self.maximum:
                return f"{name} must be at most {self.maximum}"
            return None
        if self.kind == "choice":
            if value not in self.choices:
                return f"{name} must be one of {', '.join(self.choices)}"
            return None
        if self.kind == "str":
            return _text_error(name, value, self.max_length)
        if self.kind == "str_list":
            if not isinstance(value, list):
                return f"{name} must be a list of texts"
            if len(value) > self.max_items:
                return f"{name} takes at most {self.max_items} items"
            for item in value:
                error = _text_error(f"{name} item", item, self.max_length)
                if error:
                    return error
            return None
        raise ValueError(f"unknown parameter kind {self.kind!r}")


def _text_error(name: str, value: Any, max_length: int) -> str | None:
    if not isinstance(value, str):
        return f"{name} must be a text"
    if len(value) > max_length:
        return f"{name} is at most {max_length} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return f"{name} must not contain control characters"
    return None


def clean_params(spec: Mapping[str, Param], data: Any) -> tuple[dict, list[str]]:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        return {}, ["parameters must be an object"]
    errors = [f"unknown parameter {name!r}" for name in sorted(set(data) - set(spec))]
    cleaned: dict[str, Any] = {}
    for name, param in spec.items():
        if name not in data:
            if param.required:
                errors.append(f"{name} is required")
            value = param.default
            cleaned[name] = list(value) if isinstance(value, list | tuple) else value
            continue
        error = param.check(name, data[name])
        if error:
            errors.append(error)
        else:
            cleaned[name] = data[name]
    return cleaned, errors
