"""The machinery of scheduled maintenance (Celery tasks), shared by every app's ``tasks.py``.

- ``models``  ``TaskRun`` (one row per attempt: outcome, result, error, duration) and ``TaskLock``
              (the database-row lock used when neither PostgreSQL nor Redis is available)
- ``lock``    single flight: ``task_lock(name)`` (PostgreSQL advisory lock, Redis lock with
              expiry, or a database row with expiry)
- ``policy``  what counts as transient (retried) and the retry/time-limit options
- ``runner``  ``run_task``: lock → run the service → record the outcome (and metrics, alerts)
- ``base``    ``MaintenanceTask`` (the Celery base class), ``maintenance_task`` (the decorator
              every task module uses), ``dispatch_on_commit``
- ``beat``    ``periodic_tasks_setup``: django-celery-beat rows from ``models_registry.schedules``
- ``services``  ``task_runs_prune``

Kept import-light: ``models_registry.models`` imports ``jobs.models`` at app loading.
"""
