"""Limit/offset pagination with a bounded page size and offset (``MODEL_REGISTRY`` settings).

Every list endpoint (models, providers, versions, rollbacks, invalidation events and rules, sync
runs and changes) and the changes feed's ``limit`` use it:

- ``limit`` above ``MAX_PAGE_SIZE`` is capped to it (the page says so: ``next`` links onwards);
- ``offset`` above ``MAX_PAGE_OFFSET`` is a 400 (a silently moved offset would be a wrong page;
  deep pages cost the database a scan of every row before them — narrow the filters instead);
- a ``limit`` or ``offset`` that is not a whole number in range (``abc``, ``-1``, ``1e3``,
  ``1_000``, ``limit=0``) is a 400 naming the parameter, where DRF's default would silently
  replace it; an ``offset`` past the end gives an empty page.
"""

import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

from ..conf import registry_settings

_WHOLE_NUMBER = re.compile(r"([+-]?)0*([0-9]+)")  # ASCII digits only; int() would take "1_000" and "١٢"
_HUGE = 10**18  # stands for any longer number (never converted: int() of 5,000 digits is slow or refused)


def _whole_number(request, param: str, *, minimum: int, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(param)
    if raw is None or raw.strip() == "":
        return None
    match = _WHOLE_NUMBER.fullmatch(raw.strip())
    if match is None:
        raise ValidationError({param: ["A whole number is required."]})
    sign, digits = match.groups()
    value = (-1 if sign == "-" else 1) * (int(digits) if len(digits) < 19 else _HUGE)
    if value < minimum:
        raise ValidationError({param: [f"Must be at least {minimum}."]})
    if maximum is not None and value > maximum:
        raise ValidationError({param: [f"Must be at most {maximum}."]})
    return value


class RegistryPagination(LimitOffsetPagination):
    """``?limit=&offset=``: ``limit`` capped at ``MAX_PAGE_SIZE``, ``offset`` at most ``MAX_PAGE_OFFSET``."""

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
        maximum = registry_settings.MAX_PAGE_OFFSET or None
        return _whole_number(request, self.offset_query_param, minimum=0, maximum=maximum) or 0
