"""``manage.py rotate_encryption_keys [--batch-size N] [--dry-run]`` — re-encrypt every stored
sensitive metadata value under the newest key of ``MODEL_REGISTRY_ENCRYPTION_KEYS``.

For every table holding sensitive values (models, their history, versions, rollback requests,
sync change-sets; ``models_registry.reencryption.TARGETS``) a token of an older key is
re-encrypted (``MultiFernet.rotate``) and a plaintext sensitive value left from before encryption
is encrypted. Commits per batch: after a crash, run it again and it continues; values already
under the newest key are skipped, so a second run reports ``changed=0``. A token that no
configured key opens stops the command with an error (nothing is ever written as plaintext).

This is a storage re-encoding, not a change of any model: it writes only the encrypted columns,
records no version, bumps no revision and fires no signal. At the end it drops the whole model
cache (``caching.services.cache_invalidate(everything=True)``), because Redis holds tokens of
the old keys. Output: one line per table, ``<table>: scanned=N changed=N``, then a total line.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from models_registry import crypto
from models_registry.reencryption import reencrypt_all


class Command(BaseCommand):
    help = "Re-encrypt stored sensitive metadata values under the newest MODEL_REGISTRY_ENCRYPTION_KEYS key."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; write nothing, keep the cache."
        )

    def handle(self, *args, batch_size: int, dry_run: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            keys = crypto.configured_keys()
            crypto.encrypt_value("key check")  # fails early on a malformed key
        except crypto.EncryptionError as exc:
            raise CommandError(exc.message) from exc
        if not keys:
            self.stderr.write(
                "warning: MODEL_REGISTRY_ENCRYPTION_KEYS is not set; using the key derived from SECRET_KEY."
            )
        verbosity = options.get("verbosity", 1)

        def progress(result) -> None:
            if verbosity >= 2:
                self.stderr.write(f"{result.label}: {result.scanned} rows scanned, {result.changed} changed")

        try:
            results = reencrypt_all(batch_size=batch_size, dry_run=dry_run, on_batch=progress)
        except crypto.EncryptionError as exc:
            raise CommandError(
                f"{exc.message} Rows of the batches already committed are re-encrypted; "
                "add the missing key and run the command again."
            ) from exc
        for result in results:
            self.stdout.write(f"{result.label}: scanned={result.scanned} changed={result.changed}")
        changed = sum(r.changed for r in results)
        if dry_run:
            self.stdout.write(f"dry run: {changed} row(s) would be re-encrypted; nothing written")
            return
        from caching.services import cache_invalidate

        cache_invalidate(everything=True, reason="encryption keys rotated")
        self.stdout.write(f"total: changed={changed}; model cache invalidated")
