from tenants.context import reset_current_tenant, set_current_tenant
from tenants.selectors import tenant_for_session


class TenantMiddleware:
    """Enters the tenant of a session-authenticated request (admin, inbox) for the whole request.

    API requests authenticated by JWT set the tenant later, in their DRF authentication class; the
    reset here still cleans up after them because both run inside this call.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tenant = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            tenant = tenant_for_session(user=user, session=request.session)
        request.tenant = tenant
        token = set_current_tenant(tenant)
        try:
            return self.get_response(request)
        finally:
            reset_current_tenant(token)
