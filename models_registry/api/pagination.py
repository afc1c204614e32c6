"""Limit/offset pagination with a bounded page size (``MODEL_REGISTRY`` DEFAULT/MAX_PAGE_SIZE)."""

from rest_framework.pagination import LimitOffsetPagination

from ..conf import registry_settings


class RegistryPagination(LimitOffsetPagination):
    """``?limit=&offset=``; ``limit`` is capped at ``MAX_PAGE_SIZE``."""

    @property
    def default_limit(self) -> int:  # type: ignore[override]
        return registry_settings.DEFAULT_PAGE_SIZE

    @property
    def max_limit(self) -> int:  # type: ignore[override]
        return registry_settings.MAX_PAGE_SIZE
