"""Versioning services: recording versions (from the write path), the rollback workflow, retention.

Everything that writes ``ModelVersion`` or ``RollbackRequest`` rows is here; models are only
ever written through ``models_registry.services``.
"""

from .recording import version_record, versions_write
from .retention import prunable_versions, versions_prune
from .rollbacks import (
    APPROVE_PERMISSION,
    rollback_changes,
    rollback_request_approve,
    rollback_request_cancel,
    rollback_request_create,
    rollback_request_reject,
    rollback_requests_expire,
    rollbacks_enabled,
)

__all__ = [
    "APPROVE_PERMISSION",
    "prunable_versions",
    "rollback_changes",
    "rollback_request_approve",
    "rollback_request_cancel",
    "rollback_request_create",
    "rollback_request_reject",
    "rollback_requests_expire",
    "rollbacks_enabled",
    "version_record",
    "versions_prune",
    "versions_write",
]
