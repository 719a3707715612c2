from accounts.models import Role
from accounts.selectors import membership_get

STAFF_ROLES = (Role.ADMIN, Role.SUPERVISOR)


def admin_role(request) -> str | None:
    """The request user's staff role in the request's tenant (admin/supervisor), cached per request."""
    if not hasattr(request, "_prosa_admin_role"):
        tenant = getattr(request, "tenant", None)
        membership = membership_get(user=request.user, tenant=tenant) if tenant is not None else None
        role = membership.role if membership is not None and membership.role in STAFF_ROLES else None
        request._prosa_admin_role = role
    return request._prosa_admin_role
