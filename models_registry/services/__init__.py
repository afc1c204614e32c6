"""The one write path of the registry.

Every change to an AIModel — admin, API, importer, rollback, task — goes through these
functions. Each runs in a transaction, validates (``full_clean`` and database constraints),
skips writes that change nothing, bumps ``revision``, records the actor and reason in the
history row, and sends ``signals.ai_model_written`` inside the transaction.
"""

from .actors import system_user_get
from .bulk import BulkItem, BulkResult, ai_model_bulk_upsert
from .models import (
    WRITABLE_FIELDS,
    ai_model_create,
    ai_model_deactivate,
    ai_model_restore_snapshot,
    ai_model_update,
)
from .providers import provider_create, provider_get_or_create, provider_update
from .purge import ai_model_purge_deactivated

__all__ = [
    "WRITABLE_FIELDS",
    "BulkItem",
    "BulkResult",
    "ai_model_bulk_upsert",
    "ai_model_create",
    "ai_model_deactivate",
    "ai_model_purge_deactivated",
    "ai_model_restore_snapshot",
    "ai_model_update",
    "provider_create",
    "provider_get_or_create",
    "provider_update",
    "system_user_get",
]
