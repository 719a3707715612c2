from tenants.models import Tenant

SESSION_TENANT_KEY = "prosa_tenant_id"


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug, is_active=True).first()


def tenant_for_session(*, user, session) -> Tenant | None:
    """The tenant a logged-in browser works in: the one chosen in the session if the user still
    belongs to it, else the user's first active membership. Platform superusers with no membership
    get None (the admin then shows every tenant)."""
    from accounts.selectors import membership_tenants_for_user

    tenants = membership_tenants_for_user(user=user)
    chosen = session.get(SESSION_TENANT_KEY)
    for tenant in tenants:
        if tenant.pk == chosen:
            return tenant
    if tenants:
        session[SESSION_TENANT_KEY] = tenants[0].pk
        return tenants[0]
    return None
