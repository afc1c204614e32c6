"""Permissions of the versioning API.

Reads follow the registry (``RegistryPermission``: authenticated, or anonymous when allowed).
Creating a rollback request needs ``versioning.add_rollbackrequest`` (``RegistryPermission`` on
the request list's queryset); approving or rejecting needs ``versioning.approve_rollbackrequest``
(``CanDecideRollbacks``); cancelling needs an authenticated user and the service checks that it
is the requester. That the approver is not the requester is checked by the service (403) and
by a database constraint.
"""

from rest_framework.permissions import BasePermission

from ..services import APPROVE_PERMISSION


class CanDecideRollbacks(BasePermission):
    message = f"Approving or rejecting rollbacks needs the permission {APPROVE_PERMISSION}."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(APPROVE_PERMISSION))


class IsAuthenticatedUser(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)
