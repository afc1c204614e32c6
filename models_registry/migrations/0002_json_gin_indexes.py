"""GIN indexes on the JSON ``capabilities`` and ``tags`` columns (PostgreSQL only).

They serve the API's ``capability=`` and ``tag=`` filters, which use JSON containment
(``@>``) on PostgreSQL. Other databases skip this migration's SQL.
"""

from django.db import migrations

INDEXES = {
    "aimodel_capabilities_gin": "capabilities",
    "aimodel_tags_gin": "tags",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("models_registry", "AIModel")._meta.db_table
    for name, column in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ("{column}" jsonb_path_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("models_registry", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
