"""The one exception hierarchy of the registry; the API maps it to HTTP in one handler."""

from typing import Any


class ApplicationError(Exception):
    """Base class. ``extra`` carries structured details for the API response."""

    status_code = 400
    default_code = "error"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ModelNotFound(ApplicationError):
    """The requested model does not exist (by id, key or alias)."""

    status_code = 404
    default_code = "not_found"


class RegistryValidationError(ApplicationError):
    """Input failed validation; ``field_errors`` maps field names to messages."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str = "Invalid input.", *, field_errors: dict[str, list[str]] | None = None):
        super().__init__(message, extra={"errors": field_errors or {}})
        self.field_errors = field_errors or {}


class PreconditionFailed(ApplicationError):
    """An ``If-Match`` / expected revision no longer matches the stored row."""

    status_code = 412
    default_code = "precondition_failed"


class ConflictError(ApplicationError):
    """The write conflicts with the current state (e.g. a concurrent create of the same key)."""

    status_code = 409
    default_code = "conflict"


class CatalogError(ApplicationError):
    """A catalogue source could not be read or does not have the expected format; nothing was written."""

    default_code = "catalog_error"


class CatalogIntegrityError(CatalogError):
    """A catalogue failed the integrity guard (too few models, or too large a shrink)."""

    default_code = "catalog_integrity"


class SyncForbidden(ApplicationError):
    """The actor may not decide this sync change: no permission, or they ran the sync that held it (403)."""

    status_code = 403
    default_code = "forbidden"


class SyncStateError(ConflictError):
    """The sync change is not held (already decided or superseded), or the model is gone (409)."""

    default_code = "sync_conflict"


class SyncNotFound(ApplicationError):
    """No such catalogue source, sync run or sync change (404)."""

    status_code = 404
    default_code = "not_found"
