"""App configuration for the cache."""

from django.apps import AppConfig


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Model cache"
    default_auto_field = "django.db.models.BigAutoField"
