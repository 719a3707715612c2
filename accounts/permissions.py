from rest_framework.permissions import BasePermission

from accounts.models import Role


class IsTenantMember(BasePermission):
    """Authenticated, with an active membership in the request's tenant (the API default)."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and getattr(request, "membership", None))


class _HasRole(IsTenantMember):
    roles: tuple[str, ...] = ()

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.membership.role in self.roles


class IsTenantAdmin(_HasRole):
    roles = (Role.ADMIN,)


class IsTenantStaff(_HasRole):
    """Admins and supervisors."""

    roles = (Role.ADMIN, Role.SUPERVISOR)
