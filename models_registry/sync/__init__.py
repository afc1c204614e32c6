"""Upstream catalogue sync: configured sources, runs, and reviewable change-sets.

- ``models``    ``CatalogSource`` (where, which format, which policy), ``SyncRun`` (one run: counts,
                integrity-guard outcome, error), ``SyncChange`` (one model's change-set in a run:
                applied, held for review, approved, rejected, …), ``SyncMissing`` (when a model of
                a source was first missing upstream, for the deprecation grace period)
- ``services``  ``sync_run``, ``sync_change_approve``, ``sync_change_reject``
- ``admin``     sources (Sync now / Dry run), runs (read-only), held changes (approve / reject)
- ``api``       views and serializers mounted under ``/api/v1/sync/``

Kept import-light: ``models_registry.models`` imports ``sync.models`` at app loading.
"""
