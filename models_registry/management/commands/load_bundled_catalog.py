"""``manage.py load_bundled_catalog`` — load the LiteLLM 1.74.0 catalogue shipped in the package.

Used by ``make run``. Idempotent, and safe to run on every start: when the registry already has
models from LiteLLM it does nothing (re-importing the 1.74.0 snapshot would undo staff edits to
imported fields, or downgrade a newer synced catalogue); ``--update`` imports it anyway, which
changes nothing if the stored models already match it.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from models_registry.catalog import catalog_import
from models_registry.catalog.litellm import SOURCE
from models_registry.exceptions import CatalogError
from models_registry.models import AIModel

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "litellm-1.74.0.json"


class Command(BaseCommand):
    help = "Load the bundled LiteLLM 1.74.0 model catalogue (skipped when LiteLLM models already exist)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--update", action="store_true", help="Import even if the registry already has LiteLLM models."
        )

    def handle(self, *args, **options):
        existing = AIModel.objects.filter(source=SOURCE).count()
        if existing and not options["update"]:
            self.stdout.write(
                f"Bundled catalogue not loaded: the registry already has {existing} models from "
                f"{SOURCE} (use --update to import {BUNDLED.name} anyway)."
            )
            return
        try:
            report = catalog_import(
                source=str(BUNDLED), fmt="litellm", reason=f"load bundled catalogue {BUNDLED.name}"
            )
        except CatalogError as exc:
            raise CommandError(exc.message) from exc
        if options["verbosity"] > 1:
            for problem in report.problems:
                self.stderr.write(str(problem))
        elif report.problems:
            self.stderr.write(f"{len(report.problems)} notes (run with -v 2 to list them)")
        self.stdout.write(report.summary())
