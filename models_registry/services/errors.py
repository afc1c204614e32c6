"""Translation of Django validation errors into the registry's exception hierarchy."""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from ..exceptions import RegistryValidationError


def as_registry_error(exc: ValidationError) -> RegistryValidationError:
    """A ``RegistryValidationError`` carrying ``{field: [messages]}`` (``non_field_errors`` for
    errors not tied to one field)."""
    if hasattr(exc, "error_dict"):
        errors = {
            ("non_field_errors" if field == NON_FIELD_ERRORS else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    else:
        errors = {"non_field_errors": [str(m) for m in exc.messages]}
    first = next(iter(errors.items()))
    return RegistryValidationError(f"Invalid {first[0]}: {first[1][0]}", field_errors=errors)
