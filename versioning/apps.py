"""App configuration for versioning: connects the version recorder to the write-path hook."""

from django.apps import AppConfig


class VersioningConfig(AppConfig):
    name = "versioning"
    verbose_name = "Model versioning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from models_registry.signals import ai_model_written

        from . import receivers

        ai_model_written.connect(receivers.on_model_written, dispatch_uid="versioning.record_version")
