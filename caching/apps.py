"""App configuration for the cache: connects the write-path hook receivers (invalidation, then rules)."""

from django.apps import AppConfig


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Model cache"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks
        from django.core.signals import setting_changed
        from django.db.models.signals import post_save

        from models_registry.models import Provider
        from models_registry.signals import ai_model_written

        from . import receivers, service
        from .rules import receivers as rule_receivers
        from .rules.strategies import check_custom_strategies

        checks.register(check_custom_strategies)

        ai_model_written.connect(receivers.on_model_written, dispatch_uid="caching.invalidate_on_write")
        # After the invalidation receiver, so its on-commit flush runs first (rules then see the new row).
        ai_model_written.connect(rule_receivers.on_model_written, dispatch_uid="caching.rules_on_write")
        post_save.connect(
            rule_receivers.on_provider_saved, sender=Provider, dispatch_uid="caching.rules_on_provider"
        )

        def _settings_changed(setting, **kwargs):
            if setting in ("MODEL_REGISTRY", "CACHES"):
                service.reset_model_cache()

        setting_changed.connect(_settings_changed, weak=False, dispatch_uid="caching.settings_changed")
