"""Strict input: a request body may only name the fields an input serializer accepts.

DRF ignores what a serializer does not declare (and read-only fields): a client that sends
``{"status": "approved"}`` or ``{"created_by": 7}`` gets a 2xx and believes it set them — the
mass-assignment trap. ``StrictInputMixin`` compares the keys of a JSON object body with the
serializer's writable fields and refuses every other key with a 400 naming it, next to the
ordinary field errors (one response lists every problem):

- a name in ``read_only_fields`` (the server-owned fields of the resource: ids, actors, states,
  timestamps, revisions …) → ``"This field is read-only."``;
- a name in ``refused_fields`` (a mapping name → message, for more specific reasons) → that message;
- any other undeclared name → ``"Unknown field."``.

Every input serializer of the APIs (models, rollbacks, invalidation rules, cache invalidation,
sync) uses it; output serializers do not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import serializers

READ_ONLY_MESSAGE = "This field is read-only."
UNKNOWN_MESSAGE = "Unknown field."


class StrictInputMixin:
    """Mix into a ``serializers.Serializer`` used for input (before ``Serializer`` in the bases)."""

    #: server-owned names of the resource, refused as read-only
    read_only_fields: ClassVar[tuple[str, ...]] = ()
    #: names refused with a specific message
    refused_fields: ClassVar[Mapping[str, str]] = {}

    def undeclared_errors(self, data: Any) -> dict[str, list[str]]:
        """``{name: [message]}`` for each key of ``data`` that is not a writable field."""
        if not isinstance(data, Mapping):
            return {}
        writable = {name for name, field in self.fields.items() if not field.read_only}
        errors: dict[str, list[str]] = {}
        for name in data:
            if name in writable:
                continue
            key = str(name)
            if key in self.refused_fields:
                errors[key] = [self.refused_fields[key]]
            elif key in self.read_only_fields or key in self.fields:
                errors[key] = [READ_ONLY_MESSAGE]
            else:
                errors[key] = [UNKNOWN_MESSAGE]
        return errors

    def to_internal_value(self, data: Any):
        extra = self.undeclared_errors(data)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not extra:
                raise
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            raise serializers.ValidationError({**detail, **extra}) from exc
        if extra:
            raise serializers.ValidationError(extra)
        return value


class StrictSerializer(StrictInputMixin, serializers.Serializer):
    """A plain input serializer that refuses undeclared and server-owned fields."""
