"""Provider writes. Each names its actor and reason on the simple-history row it leaves
(``Provider.history``); the bulk import path creates providers in ``bulk.py`` with the same."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..exceptions import ConflictError
from ..models import Provider
from .errors import as_registry_error

PROVIDER_FIELDS = ("name", "website", "is_active")


def _display_name(slug: str) -> str:
    return slug.replace("_", " ").replace("-", " ").title()


def _attribute(provider: Provider, *, actor, reason: str, default: str) -> None:
    """Name the actor and the reason on the history row the next save writes."""
    provider._change_reason = reason.strip() or default
    if getattr(actor, "pk", None):
        provider._history_user = actor


@transaction.atomic
def provider_create(
    *,
    slug: str,
    name: str = "",
    website: str = "",
    is_active: bool = True,
    actor=None,
    reason: str = "",
) -> Provider:
    provider = Provider(slug=slug, name=name or _display_name(slug), website=website, is_active=is_active)
    _attribute(provider, actor=actor, reason=reason, default="Provider created.")
    try:
        provider.full_clean()
    except ValidationError as exc:
        raise as_registry_error(exc) from exc
    try:
        with transaction.atomic():
            provider.save()
    except IntegrityError as exc:
        raise ConflictError(f"Provider {slug!r} already exists.") from exc
    return provider


def provider_get_or_create(*, slug: str, actor=None, reason: str = "") -> Provider:
    """The provider with this slug, created with a derived name when missing."""
    provider = Provider.objects.filter(slug=slug).first()
    if provider is not None:
        return provider
    try:
        return provider_create(slug=slug, actor=actor, reason=reason)
    except ConflictError:
        return Provider.objects.get(slug=slug)


@transaction.atomic
def provider_update(*, provider: Provider, data: dict, reason: str = "", actor=None) -> Provider:
    unknown = set(data) - set(PROVIDER_FIELDS)
    if unknown:
        from ..exceptions import RegistryValidationError

        raise RegistryValidationError(
            field_errors={f: ["This field cannot be changed."] for f in sorted(unknown)}
        )
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    changed = [field for field, value in data.items() if getattr(provider, field) != value]
    if not changed:
        return provider
    for field in changed:
        setattr(provider, field, data[field])
    try:
        provider.full_clean()
    except ValidationError as exc:
        raise as_registry_error(exc) from exc
    _attribute(provider, actor=actor, reason=reason, default="Provider changed.")
    provider.save()
    return provider
