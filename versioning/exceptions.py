"""Errors of the versioning app, in the registry's one hierarchy (``models_registry.exceptions``),
so the API's exception handler maps them to HTTP like every other error."""

from models_registry.exceptions import ApplicationError, ConflictError


class VersionNotFound(ApplicationError):
    """No such version of the model (404)."""

    status_code = 404
    default_code = "version_not_found"


class RollbackRequestNotFound(ApplicationError):
    status_code = 404
    default_code = "rollback_request_not_found"


class RollbackForbidden(ApplicationError):
    """The actor may not do this: approve without the permission, decide their own request,
    cancel someone else's (403)."""

    status_code = 403
    default_code = "forbidden"


class RollbackDisabled(ApplicationError):
    """``MODEL_REGISTRY["ENABLE_ROLLBACK"]`` is off (403)."""

    status_code = 403
    default_code = "rollback_disabled"


class RollbackStateError(ConflictError):
    """The request is not in a state that allows this (already decided, expired, …) or the model
    already has an open request (409)."""

    default_code = "rollback_conflict"


class SnapshotUnavailable(ApplicationError):
    """The version's snapshot was pruned: it can be diffed, not restored (400)."""

    default_code = "snapshot_unavailable"
