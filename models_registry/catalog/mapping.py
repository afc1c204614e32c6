"""What a catalogue mapper produces, and the value checks the mappers share.

A mapper (``litellm.py``, ``openrouter.py``) turns parsed JSON into a ``MappedCatalog``: one
``BulkItem`` per model plus the problems it met, each with the entry's id. Mappers are pure
(no database); ``importer.py`` merges their output with the stored rows and writes it through
``services.ai_model_bulk_upsert``.

Value rules (shared by both formats):
- token limits are positive ints: an integral float (``10000000.0``) becomes an int, ``0`` (or
  ``0.0``) becomes null with a warning, anything else (strings, fractions, negatives, booleans) is
  an entry error;
- prices go through ``models_registry.decimals`` (``Decimal(str(x))``, 12 significant digits);
  a negative price or a non-number is an entry error;
- dates are ``YYYY-MM-DD``; anything else becomes null with a warning.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..decimals import NotADecimal, per_token_to_per_million, to_decimal
from ..models import MODE_RE
from ..services.bulk import BulkItem

# Problem kinds, in the order the command reports them.
SKIPPED = "skipped"  # an entry that is not a model (documentation record, rules block, …)
ERROR = "error"  # a model entry with a bad value: reported, not imported
DUPLICATE = "duplicate"  # a key that appears twice in one JSON object (the last copy wins)
CONFLICT = "conflict"  # two ids for one model that disagree, or an alias owned by another model
WARNING = "warning"  # imported, but a value was dropped or could not be resolved

SKIP_KINDS = (SKIPPED, ERROR)

PROVIDER_SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_MODE_LENGTH = 32
MAX_NAME_LENGTH = 255
MAX_KEY_LENGTH = 400
MAX_URL_LENGTH = 1000


class EntryError(ValueError):
    """A model entry cannot be imported; the message says which value and why."""


@dataclass(frozen=True)
class Problem:
    """Something the importer reports: ``ref`` is the entry's id in the source (or a key)."""

    kind: str
    ref: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.ref}: {self.message}"


@dataclass
class MappedCatalog:
    """A mapper's output. ``metadata_key`` is the one key of ``AIModel.metadata`` the mapper owns
    (``fields["metadata"]`` holds only that key); ``managed_tags`` are the only tags it adds or
    removes; ``unresolved_successors`` maps an item key to a successor id not found in the file
    (the importer looks it up among stored keys and aliases)."""

    source: str
    metadata_key: str
    managed_tags: frozenset[str]
    items: list[BulkItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unresolved_successors: dict[str, str] = field(default_factory=dict)

    def report(self, kind: str, ref: str, message: str) -> None:
        self.problems.append(Problem(kind, ref, message))


Warn = Callable[[str], None]


def positive_int(value: Any, name: str, warn: Warn) -> int | None:
    """A token limit: positive int or null (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EntryError(f"{name} must be a number of tokens, not {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise EntryError(f"{name} must be a whole number of tokens, not {value!r}")
        value = int(value)
    if value == 0:
        warn(f"{name} is 0; stored as unknown (null)")
        return None
    if value < 0:
        raise EntryError(f"{name} must be positive, not {value!r}")
    return value


def price(value: Any, name: str, *, per_million: bool) -> Decimal | None:
    """A non-negative price (``per_million``: a per-token price converted to per 1M tokens)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise EntryError(f"{name} must be a number, not {value!r}")
    try:
        number = per_token_to_per_million(value) if per_million else to_decimal(value)
    except NotADecimal as exc:
        raise EntryError(f"{name} must be a number, not {value!r}") from exc
    if number < 0:
        raise EntryError(f"{name} is negative ({value!r}); a price cannot be negative")
    # Drop the trailing zeros the ×10⁶ leaves in the exponent (0.0046875000000 has 13 places
    # for DecimalField's decimal_places check but is 0.0046875).
    return number.normalize() if number else Decimal(0)


def is_price_tree(value: Any) -> bool:
    """True when every leaf of ``value`` (maps and lists allowed) is a number or numeric string."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and k and is_price_tree(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_price_tree(v) for v in value)
    if isinstance(value, bool) or value is None:
        return False
    try:
        to_decimal(value)
    except NotADecimal:
        return False
    return True


def negative_leaf(value: Any) -> bool:
    """True when a price tree holds a negative number."""
    if isinstance(value, dict):
        return any(negative_leaf(v) for v in value.values())
    if isinstance(value, list):
        return any(negative_leaf(v) for v in value)
    return to_decimal(value) < 0


def optional_bool(value: Any, name: str) -> bool | None:
    """A ``supports_*`` column: true, false or unknown (absent/null)."""
    if value is None or isinstance(value, bool):
        return value
    raise EntryError(f"{name} must be true or false, not {value!r}")


def mode_value(value: Any, aliases: dict[str, str]) -> str:
    """A mode: lower-case identifier (``moderations`` → ``moderation``); absent → ``""``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EntryError(f"mode must be a string, not {value!r}")
    mode = value.strip().lower()
    mode = aliases.get(mode, mode)
    if len(mode) > MAX_MODE_LENGTH or not MODE_RE.match(mode):
        raise EntryError(f"mode {value[:80]!r} is not a mode identifier")
    return mode


def date_value(value: Any, name: str, warn: Warn) -> dt.date | None:
    """``YYYY-MM-DD`` → date; anything else → null with a warning."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and DATE_RE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    warn(f"{name} {str(value)[:80]!r} is not a YYYY-MM-DD date; stored as null")
    return None


def url_value(value: Any, name: str, warn: Warn) -> str:
    """A documentation URL (plain string, at most 1000 characters); anything else → ``""``."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value.strip()) > MAX_URL_LENGTH:
        warn(f"{name} is not a usable URL ({str(value)[:80]!r}); dropped")
        return ""
    return value.strip()


def check_identity(provider: str, name: str, ref: str) -> None:
    """Name and key within the column limits."""
    if not name:
        raise EntryError("the model name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise EntryError(f"the model name is longer than {MAX_NAME_LENGTH} characters")
    if len(provider) + 1 + len(name) > MAX_KEY_LENGTH or len(ref) > MAX_KEY_LENGTH:
        raise EntryError(f"the id is longer than {MAX_KEY_LENGTH} characters")
