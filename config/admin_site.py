from django.contrib import admin


class ProsaAdminSite(admin.AdminSite):
    """The back office. Tenant admins and supervisors get in by role in their current tenant;
    platform superusers always. Agents work in the inbox, not here."""

    def has_permission(self, request):
        from accounts.admin_access import admin_role

        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        return user.is_superuser or admin_role(request) is not None
