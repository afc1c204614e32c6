"""Limit/offset pagination with a bounded page size (``MODEL_REGISTRY`` DEFAULT/MAX_PAGE_SIZE).

Unlike DRF's default, a ``limit`` or ``offset`` that is not a whole number in range (``abc``,
``-1``, ``limit=0``) is a 400 naming the parameter instead of being silently replaced; a
``limit`` above the maximum is capped; an ``offset`` past the end gives an empty page.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

from ..conf import registry_settings


def _whole_number(request, param: str, *, minimum: int) -> int | None:
    raw = request.query_params.get(param)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValidationError({param: ["A whole number is required."]}) from None
    if value < minimum:
        raise ValidationError({param: [f"Must be at least {minimum}."]})
    return value


class RegistryPagination(LimitOffsetPagination):
    """``?limit=&offset=``; ``limit`` is capped at ``MAX_PAGE_SIZE``."""

    @property
    def default_limit(self) -> int:  # type: ignore[override]
        return registry_settings.DEFAULT_PAGE_SIZE

    @property
    def max_limit(self) -> int:  # type: ignore[override]
        return registry_settings.MAX_PAGE_SIZE

    def get_limit(self, request) -> int:
        limit = _whole_number(request, self.limit_query_param, minimum=1)
        if limit is None:
            return self.default_limit
        return min(limit, self.max_limit) if self.max_limit else limit

    def get_offset(self, request) -> int:
        return _whole_number(request, self.offset_query_param, minimum=0) or 0
