"""``manage.py import_catalog SOURCE --format litellm|openrouter`` — a thin shell over
``models_registry.catalog.catalog_import``.

stderr: a progress bar, then one line per skipped entry, bad entry, duplicate key, conflict and
warning (``kind: id: reason``). stdout, last: ``created=N updated=N unchanged=N deactivated=N
skipped=N``. An unreadable or wrongly formatted file, or one refused by the integrity guard, is a
``CommandError`` (non-zero exit) and nothing is written.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from models_registry.catalog import FORMATS, catalog_import
from models_registry.catalog.mapping import CONFLICT, DUPLICATE, ERROR, SKIPPED, WARNING
from models_registry.exceptions import CatalogError

REPORT_ORDER = (SKIPPED, ERROR, DUPLICATE, CONFLICT, WARNING)


class TqdmProgress:
    """Adapts ``catalog_import``'s ``progress(stage, done, total)`` calls to tqdm bars on stderr."""

    LABELS = {"read": "reading", "map": "mapping", "write": "writing"}

    def __init__(self, stream, enabled: bool):
        self.stream = stream
        self.enabled = enabled
        self.stage = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(
                total=total, desc=self.LABELS.get(stage, stage), unit="model", file=self.stream, leave=False
            )
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Command(BaseCommand):
    help = "Import a model catalogue (LiteLLM or OpenRouter JSON) from a path or an http(s) URL."

    def add_arguments(self, parser):
        parser.add_argument("source", help="Path or http(s) URL of the catalogue JSON.")
        parser.add_argument("--format", dest="fmt", required=True, choices=FORMATS, help="Catalogue format.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Compute and print the summary; write nothing."
        )
        parser.add_argument(
            "--deactivate-missing",
            action="store_true",
            help="Deactivate (soft) active models of this source that are not in the catalogue.",
        )
        parser.add_argument(
            "--force", action="store_true", help="Import even if the integrity guard refuses."
        )
        parser.add_argument(
            "--actor", help="Username the changes are attributed to (default: the system user)."
        )
        parser.add_argument("--reason", default="", help="Reason stored with every history row.")

    def handle(self, *args, **options):
        actor = None
        if options["actor"]:
            user_model = get_user_model()
            actor = user_model.objects.filter(**{user_model.USERNAME_FIELD: options["actor"]}).first()
            if actor is None:
                raise CommandError(f"Unknown user {options['actor']!r} (--actor names an existing user).")
        stream = getattr(self.stderr, "_out", self.stderr)
        progress = TqdmProgress(stream, enabled=options["verbosity"] > 0)
        try:
            report = catalog_import(
                source=options["source"],
                fmt=options["fmt"],
                dry_run=options["dry_run"],
                deactivate_missing=options["deactivate_missing"],
                force=options["force"],
                actor=actor,
                reason=options["reason"],
                progress=progress,
            )
        except CatalogError as exc:
            raise CommandError(exc.message) from exc
        finally:
            progress.close()

        for kind in REPORT_ORDER:
            for problem in report.problems_of(kind):
                self.stderr.write(str(problem))
        if report.dry_run:
            self.stderr.write("dry run: nothing was written")
        self.stdout.write(report.summary())
