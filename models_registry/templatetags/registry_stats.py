"""``{% catalogue_stats %}``: the catalogue figures of ``selectors.ai_model_stats`` as admin modules.

Usage: ``{% load registry_stats %}{% catalogue_stats %}`` (``{% catalogue_stats top=5 %}`` shows
five rows per table before "more"). Renders nothing for users who may not view AI models. Every
count links to the AI model changelist filtered to exactly the models it counts.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import NoReverseMatch, reverse

from ..models import Provider
from ..selectors import ai_model_stats

register = template.Library()

CHANGELIST = "admin:models_registry_aimodel_changelist"
ACTIVE = {"is_active__exact": 1}


def _link(base: str, **params) -> str:
    return f"{base}?{urlencode(params)}" if params else base


@register.inclusion_tag("models_registry/admin/catalogue_stats.html", takes_context=True)
def catalogue_stats(context, top: int = 10) -> dict:
    user = context.get("user")
    if user is None or not (
        user.has_perm("models_registry.view_aimodel") or user.has_perm("models_registry.change_aimodel")
    ):
        return {"stats": None}
    try:
        base = reverse(CHANGELIST)
    except NoReverseMatch:  # the AI model admin is not on this site
        base = ""
    stats = ai_model_stats()
    provider_ids = dict(Provider.objects.filter(slug__in=stats["by_provider"]).values_list("slug", "pk"))

    def rows(counts: dict, param: str, value_of=lambda name: name) -> list[tuple[str, int, str]]:
        return [
            (name, count, _link(base, **{param: value_of(name)}, **ACTIVE) if base else "")
            for name, count in counts.items()
        ]

    summary = [
        ("Models", stats["total"], base),
        ("Active", stats["active"], base and _link(base, **ACTIVE)),
        ("Inactive", stats["inactive"], base and _link(base, is_active__exact=0)),
        ("Deprecated (active)", stats["deprecated"], base and _link(base, is_deprecated__exact=1, **ACTIVE)),
        ("Providers with active models", stats["providers"], ""),
        ("Added in the last 7 days", stats["added_last_7_days"], ""),
    ]
    tables = [
        ("Active models by provider", rows(stats["by_provider"], "provider__id__exact", provider_ids.get)),
        (
            "Active models by mode",
            rows(stats["by_mode"], "mode", lambda mode: "" if mode == "unknown" else mode),
        ),
        ("Active models by capability", rows(stats["by_capability"], "capability")),
    ]
    return {
        "stats": stats,
        "summary": summary,
        "tables": [(title, table[:top], table[top:]) for title, table in tables],
    }
