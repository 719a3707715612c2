from django.contrib import admin

from accounts.admin_access import admin_role
from accounts.models import Role
from tenants.context import get_current_tenant
from tenants.models import Tenant, TenantOwned


def is_platform_view(request) -> bool:
    """A superuser outside any tenant sees every tenant's rows (with a tenant filter)."""
    return request.user.is_superuser and get_current_tenant() is None


def tenant_members_queryset(request):
    from accounts.models import User

    tenant = get_current_tenant()
    if is_platform_view(request) or tenant is None:
        return User.objects.all()
    return User.objects.filter(memberships__tenant=tenant, memberships__is_active=True).distinct()


class TenantScopedAdmin(admin.ModelAdmin):
    """Base admin of tenant-owned models.

    Shows only the current tenant's rows (the default manager fails closed without a tenant),
    limits every foreign-key and many-to-many choice to the tenant, sets `tenant` on save and hides
    the field. Access follows the tenant role: admins manage, supervisors manage except
    `admin_only` models, which they only view.
    """

    admin_only = False

    # --- rows ---------------------------------------------------------------
    def get_queryset(self, request):
        if is_platform_view(request):
            qs = self.model.all_tenants.all()
            ordering = self.get_ordering(request)
            return qs.order_by(*ordering) if ordering else qs
        return super().get_queryset(request)

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if is_platform_view(request):
            filters.insert(0, "tenant")
        return filters

    def get_list_display(self, request):
        display = list(super().get_list_display(request))
        if is_platform_view(request) and "tenant" not in display:
            display.append("tenant")
        return display

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not is_platform_view(request):
            exclude.append("tenant")
        return exclude

    def save_model(self, request, obj, form, change):
        if not change and obj.tenant_id is None:
            obj.tenant = get_current_tenant()
        super().save_model(request, obj, form, change)

    # --- choices ------------------------------------------------------------
    def _scoped_choices(self, request, related_model):
        from accounts.models import User

        if related_model is User:
            return tenant_members_queryset(request)
        if issubclass(related_model, TenantOwned):
            if is_platform_view(request):
                return related_model.all_tenants.all()
            return related_model.objects.all()
        return None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        queryset = self._scoped_choices(request, db_field.remote_field.model)
        if queryset is not None and "queryset" not in kwargs:
            kwargs["queryset"] = queryset
        if is_platform_view(request) and issubclass(db_field.remote_field.model, TenantOwned):
            # ForeignKey.formfield() reads the default manager even when given a queryset, and the
            # tenant manager refuses outside a tenant: build the field from our queryset instead.
            return self._platform_choice_field(db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _platform_choice_field(self, db_field, request, **kwargs):
        from django.forms import ModelChoiceField
        from django.utils.text import capfirst

        return ModelChoiceField(
            required=not db_field.blank,
            label=capfirst(db_field.verbose_name),
            help_text=db_field.help_text,
            **kwargs,
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        queryset = self._scoped_choices(request, db_field.remote_field.model)
        if queryset is not None and "queryset" not in kwargs:
            kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # --- permissions by tenant role -----------------------------------------
    def _role(self, request):
        return admin_role(request)

    def has_module_permission(self, request):
        return request.user.is_superuser or self._role(request) is not None

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or self._role(request) is not None

    def _can_manage(self, request):
        if request.user.is_superuser:
            return True
        role = self._role(request)
        return role == Role.ADMIN or (role == Role.SUPERVISOR and not self.admin_only)

    def has_add_permission(self, request):
        return self._can_manage(request)

    def has_change_permission(self, request, obj=None):
        return self._can_manage(request)

    def has_delete_permission(self, request, obj=None):
        return self._can_manage(request)

    def has_manage_permission(self, request):
        """For admin actions that write: `@admin.action(permissions=["manage"])`. Actions without
        `permissions` are offered to everyone who may view the list, supervisors included."""
        return self._can_manage(request)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Platform-only: the list of companies. (Superusers pass Django's own permission checks.)"""

    list_display = ["name", "slug", "language", "timezone", "max_users", "max_connections", "is_active", "created_at"]
    list_filter = ["is_active", "language"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
