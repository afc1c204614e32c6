"""App configuration for the registry."""

from django.apps import AppConfig


class ModelsRegistryConfig(AppConfig):
    name = "models_registry"
    verbose_name = "Model registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
        from .observability import receivers as observability_receivers

        observability_receivers.connect()  # operation log lines from the write-path and cache signals
