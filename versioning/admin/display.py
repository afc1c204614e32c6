"""What the versioning admin pages show: diff rows, badges, the versions box of the AI model page."""

from __future__ import annotations

import json
import threading

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from models_registry.conf import registry_settings

from ..impact import Impact
from ..masking import can_view_sensitive, mask_changes
from ..models import ModelVersion, RollbackRequest
from ..snapshots import encode_changes

_viewer = threading.local()  # the request of the change page being rendered (masking needs the user)


def viewing_user():
    request = getattr(_viewer, "request", None)
    return None if request is None else request.user


def render_for(request, view, *args):
    """Run an admin view and render its response while ``request`` is the viewer: readonly
    fields get only the object, yet what they show depends on who looks (masked secrets)."""
    _viewer.request = request
    try:
        response = view(*args)
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        return response
    finally:
        _viewer.request = None


CATEGORY_LABELS = {"breaking": "breaking", "non_breaking": "non-breaking", "cosmetic": "cosmetic"}


def badge(value: str, text: str | None = None) -> str:
    return format_html('<span class="vbadge vbadge-{}">{}</span>', value, text or value)


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def diff_rows(encoded_changes: list[dict], user) -> list[dict]:
    """Template rows of stored (encoded) changes, sensitive values masked for ``user``."""
    rows = []
    for change in mask_changes(encoded_changes, can_view=can_view_sensitive(user)):
        rows.append(
            {
                **change,
                "category_label": CATEGORY_LABELS.get(change.get("category"), change.get("category")),
                "old_text": _text(change["old"]),
                "new_text": _text(change["new"]),
            }
        )
    return rows


def diff_context(changes, impact: Impact, user) -> dict:
    """``changes`` (``diff.Change``) and their ``impact`` for ``_diff_table.html`` / ``_impact.html``."""
    return {
        "changes": diff_rows(encode_changes(changes, impact.categories), user),
        "impact": {"level": impact.level, "breaking": impact.breaking, "summary": impact.summary},
    }


def recent_versions_html(model, *, limit: int = 10, user=None) -> str:
    """The versions box of an AI model's change page: latest versions with impact badges and
    links to the diff, the full list and "request rollback" — each link only for a ``user``
    (default: the viewer of the page being rendered) allowed to open it."""
    user = user if user is not None else viewing_user()
    versions = list(ModelVersion.objects.filter(ai_model=model).defer("snapshot").order_by("-number")[:limit])
    open_request = RollbackRequest.objects.filter(
        ai_model=model, status__in=RollbackRequest.OPEN_STATUSES
    ).first()
    return render_to_string(
        "versioning/admin/recent_versions.html",
        {
            "versions": versions,
            "count": ModelVersion.objects.filter(ai_model=model).count(),
            "model_id": model.pk,
            "versions_url": reverse("admin:versioning_modelversion_model", args=[model.pk]),
            "diff_url": reverse("admin:versioning_modelversion_diff", args=[model.pk]),
            "open_request": open_request,
            "open_request_url": reverse("admin:versioning_rollbackrequest_change", args=[open_request.pk])
            if open_request
            else "",
            "rollbacks_enabled": registry_settings.ENABLE_ROLLBACK,
            "can_view_versions": user is not None and user.has_perm("versioning.view_modelversion"),
            "can_request": user is not None and user.has_perm("versioning.add_rollbackrequest"),
            "can_view_requests": user is not None and user.has_perm("versioning.view_rollbackrequest"),
        },
    )
