"""``manage.py setup_periodic_tasks`` — create/update django-celery-beat's periodic tasks from
``models_registry.schedules`` (idempotent; operators' edits in the admin are kept unless
``--reset``). The beat process also does this (without ``--reset``/``--prune``) when it starts."""

from django.core.management.base import BaseCommand

from models_registry.jobs.beat import periodic_tasks_setup


class Command(BaseCommand):
    help = "Create or update the periodic tasks (django-celery-beat) declared in models_registry.schedules."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Put back the declared schedule, kwargs and enabled flag of tasks edited in the admin.",
        )
        parser.add_argument(
            "--prune", action="store_true", help="Delete periodic tasks of the registry no longer declared."
        )

    def handle(self, *args, **options):
        lines = periodic_tasks_setup(reset=options["reset"], prune=options["prune"])
        for line in lines:
            self.stdout.write(str(line))
