"""Celery application for the project.

Configuration comes from Django settings (the ``CELERY_`` namespace); with no broker configured
the settings turn on eager mode so tasks run in-process (embedded ``make run``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("model_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
