"""Strict serializer fields for JSON input.

DRF's stock fields coerce (``"yes"`` → ``True``, ``12`` → ``"12"``, ``"5"`` → ``5``). A JSON API
should say when a client sends the wrong type, so these accept only the JSON type they
document; prices are the exception on purpose: a decimal string or a JSON number, read exactly
(``to_decimal``, never float arithmetic).
"""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..decimals import NotADecimal, to_decimal

MAX_BIGINT = 2**63 - 1


class StrictCharField(serializers.CharField):
    """A JSON string (numbers and booleans are refused)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` / ``false`` only."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (strings, floats and booleans are refused), within the 64-bit range."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "format": "decimal", "pattern": r"^\d+(\.\d+)?$"},
            {"type": "number", "minimum": 0},
        ],
        "description": "USD per 1M tokens: a decimal string (preferred, exact) or a JSON number.",
        "example": "2.5",
    }
)
class PriceField(serializers.Field):
    """A non-negative price given as a decimal string or a JSON number, returned as ``Decimal``."""

    default_error_messages = {
        "invalid": "A decimal number (string or number) is required.",
        "negative": "A price cannot be negative.",
    }

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | float | Decimal):
            self.fail("invalid")
        try:
            value = to_decimal(data)
        except NotADecimal:
            self.fail("invalid")
        if value < 0:
            self.fail("negative")
        return value

    def to_representation(self, value):
        return str(value)
