"""App configuration for the cache: connects the write-path hook receiver."""

from django.apps import AppConfig


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Model cache"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from models_registry.signals import ai_model_written

        from . import receivers, service

        ai_model_written.connect(receivers.on_model_written, dispatch_uid="caching.invalidate_on_write")

        def _settings_changed(setting, **kwargs):
            if setting in ("MODEL_REGISTRY", "CACHES"):
                service.reset_model_cache()

        setting_changed.connect(_settings_changed, weak=False, dispatch_uid="caching.settings_changed")
