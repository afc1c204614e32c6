"""Celery application for the project.

Configuration comes from Django settings (the ``CELERY_`` namespace); with no broker configured
the settings turn on eager mode so tasks run in-process (embedded ``make run``). Tasks are
discovered in each app's ``tasks.py``; the schedules are django-celery-beat rows
(``CELERY_BEAT_SCHEDULER``) declared in ``models_registry/schedules.py`` and created when beat
starts (and by ``manage.py setup_periodic_tasks``). Production: ``celery -A config worker --beat``
(one beat in the whole deployment) or separate ``worker`` and ``beat`` processes.
"""

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("model_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def _ensure_periodic_tasks(sender=None, **kwargs):
    from models_registry.jobs.beat import ensure_on_beat_start

    ensure_on_beat_start()
