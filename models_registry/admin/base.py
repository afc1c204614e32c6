"""The base class of the registry's admins: history without a side door, writes that can fail.

``RegistryHistoryAdmin`` is django-simple-history's ``SimpleHistoryAdmin`` (history list and
historical record pages) with two changes:

- **No revert.** simple-history's record page is a form that, on POST, validates and *saves*
  the old version (``history_form_view`` in simple-history 3.13 checks only view/change
  permission — not ``SIMPLE_HISTORY_REVERT_DISABLED`` — before ``save_model``). Rollbacks must
  go through the approval workflow, so the page is read-only: ``revert_disabled`` is always
  true (no button) and any POST to it is refused with 403 before anything is read or written.
- **Write errors become form errors.** ``save_model`` of the subclasses calls the services,
  which validate again and may refuse (validation, a concurrent change, a conflict). They raise
  ``WriteRejected``; the change view's transaction rolls back, and the view runs once more with
  the refusal attached to the form (``ServiceWriteForm.service_errors``), so the page re-renders
  with the errors like any invalid form — never a 500, and without copying Django's view code.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from ..exceptions import ApplicationError, PreconditionFailed, RegistryValidationError

_ERRORS_ATTR = "_registry_write_errors"
ADMIN_SOURCE = "admin"  # the ``source`` of every write made in the admin


class WriteRejected(Exception):
    """The services refused an admin write; ``errors`` is ``{field or "non_field_errors": [msg]}``."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def rejection(exc: ApplicationError) -> WriteRejected:
    """The ``WriteRejected`` for an error raised by the services."""
    if isinstance(exc, RegistryValidationError) and exc.field_errors:
        return WriteRejected({field: list(messages) for field, messages in exc.field_errors.items()})
    if isinstance(exc, PreconditionFailed):
        return WriteRejected(
            {
                "non_field_errors": [
                    f"{exc.message} Someone changed it after you opened this page, so nothing was saved: "
                    "reload the page to see their change, then make yours again."
                ]
            }
        )
    return WriteRejected({"non_field_errors": [exc.message]})


def describe(exc: ApplicationError) -> str:
    """One line for a message: the field errors when there are any, else the message."""
    if isinstance(exc, RegistryValidationError) and exc.field_errors:
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.field_errors.items())
    return exc.message


def reason_from(form) -> str:
    """The change reason typed into the form; without one, what the form did (every history row
    and version has a reason)."""
    typed = (form.cleaned_data.get("change_reason") or "").strip()
    if typed:
        return typed
    return "Added in the admin." if form.instance._state.adding else "Changed in the admin."


def adopt(obj, saved) -> None:
    """Make the admin's ``obj`` (used after ``save_model`` for the log entry, the message and the
    redirect) the row the services saved."""
    obj.pk = saved.pk
    obj._state.adding = False
    obj._state.db = saved._state.db
    obj.refresh_from_db()


class RegistryHistoryAdmin(SimpleHistoryAdmin):
    """SimpleHistoryAdmin without revert, whose ``save_model`` may raise ``WriteRejected``."""

    save_on_top = True

    # -- history: read-only ------------------------------------------------------------------

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied(
                "Reverting from the history page is disabled; request a rollback, which needs approval."
            )
        return super().history_form_view(request, object_id, version_id, extra_context)

    # -- writes through the services ---------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except WriteRejected as exc:
            # The write's transaction has rolled back; show the same POST again, now with the
            # services' errors on the form (see ``get_form``).
            setattr(request, _ERRORS_ATTR, exc.errors)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        errors = getattr(request, _ERRORS_ATTR, None)
        if errors:
            form = type(form.__name__, (form,), {"service_errors": errors})
        return form

    def save_related(self, request, form, formsets, change):
        """Relations are written by ``save_model`` through the services; ``form.save_m2m`` (and
        inline formsets) would bypass them, so nothing happens here."""
