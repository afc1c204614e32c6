"""Database expressions of the versioning app."""

from django.db.models import BigIntegerField, Func


class CurrentTransactionId(Func):
    """The writing transaction's id on PostgreSQL (``txid_current()``, 64-bit, the top-level
    transaction even inside a savepoint); ``0`` on other databases.

    Used as the ``db_default`` of ``ModelVersion.txid`` so the change feed can order rows by
    transaction and hold back rows of transactions that may still commit (see
    ``versioning.selectors.change_feed``), at no extra query per insert."""

    template = "0"
    output_field = BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return "txid_current()", []
