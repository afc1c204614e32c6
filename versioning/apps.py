"""App configuration for versioning."""

from django.apps import AppConfig


class VersioningConfig(AppConfig):
    name = "versioning"
    verbose_name = "Model versioning"
    default_auto_field = "django.db.models.BigAutoField"
