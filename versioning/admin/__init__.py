"""The versioning admin: model versions (list, diff view, per-model pages) and rollback requests
(workflow pages and actions). Importing this package registers both on ``admin.site``; the AI
model page links here through ``display.recent_versions_html``."""

from .rollbacks import RollbackRequestAdmin
from .versions import ModelVersionAdmin

__all__ = ["ModelVersionAdmin", "RollbackRequestAdmin"]
