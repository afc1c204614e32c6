"""The registry's Django admin: providers and AI models, written only through the services.

Modules: ``base`` (history without revert; service errors as form errors), ``ai_models``,
``providers``, ``actions`` (bulk actions), ``filters`` (capability filter), ``sensitive``
(masked metadata). Importing this package registers both admins on ``admin.site``.

The admin index gets the catalogue figures through ``index_template`` rather than an
``admin/index.html`` in this app: ``django.contrib.admin`` comes before this app in
``INSTALLED_APPS``, so the app-directories loader would find the stock ``admin/index.html``
first and never ours. ``models_registry/admin/index.html`` extends ``admin/index.html`` (the
project's own override, if any, or the stock one). A site that already has an index template
keeps it and can add ``{% load registry_stats %}{% catalogue_stats %}`` to it.
"""

from django.contrib import admin

from ..sync import admin as sync_admin  # noqa: F401 - catalogue sources, sync runs, held changes
from .ai_models import AIModelAdmin
from .providers import ProviderAdmin
from .task_runs import TaskRunAdmin  # noqa: F401 - scheduled maintenance runs (read-only)

if admin.site.index_template is None:
    admin.site.index_template = "models_registry/admin/index.html"

__all__ = ["AIModelAdmin", "ProviderAdmin"]
