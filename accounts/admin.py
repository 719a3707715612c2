from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.admin_access import admin_role
from accounts.models import Invite, Membership, Role, User
from config.errors import ProsaError
from tenants.admin import TenantScopedAdmin, is_platform_view, tenant_members_queryset
from tenants.context import tenant_context
from tenants.exceptions import TenantContextMissing, TenantMismatch


def _report(request, func, success_message, *, tenant):
    """Runs a service inside `tenant` (the object's: the platform view has none of its own) and
    reports the outcome as an admin message. Tenancy errors are bugs: they are not reported."""
    try:
        with tenant_context(tenant):
            result = func()
    except (TenantContextMissing, TenantMismatch):
        raise
    except ProsaError as exc:
        messages.error(request, str(exc.detail))
        return None
    messages.success(request, success_message)
    return result


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ["tenant", "role", "is_active", "created_at"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return Membership.all_tenants.select_related("tenant")

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Platform superusers manage every account. Tenant admins see their tenant's members, edit
    names and send password resets; roles and access are managed on memberships."""

    ordering = ["name", "email"]
    list_display = ["email", "name", "is_active", "last_login", "date_joined"]
    list_filter = ["is_active", "is_superuser"]
    search_fields = ["email", "name"]
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Profile"), {"fields": ["name", "avatar"]}),
        (_("Access"), {"fields": ["is_active", "is_superuser"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})]
    filter_horizontal = []
    inlines = [MembershipInline]
    actions = ["send_password_reset"]

    def get_queryset(self, request):
        return tenant_members_queryset(request)

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not is_platform_view(request):
            return [(None, {"fields": ["email", "name", "avatar", "last_login", "date_joined"]})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if not is_platform_view(request):
            return ["email", "last_login", "date_joined"]
        return super().get_readonly_fields(request, obj)

    def has_module_permission(self, request):
        return request.user.is_superuser or admin_role(request) == Role.ADMIN

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or admin_role(request) is not None

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser or admin_role(request) == Role.ADMIN

    def has_add_permission(self, request):
        # Tenant admins add people through invites, which respect the seat limit.
        return is_platform_view(request)

    def has_delete_permission(self, request, obj=None):
        return is_platform_view(request)

    def user_change_password(self, request, id, form_url=""):
        # People may belong to several tenants: a tenant admin sends a reset link (which goes to
        # the person) and never sets a password that would also open another tenant's door.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    @admin.action(description=_("Send a password reset link"), permissions=["change"])
    def send_password_reset(self, request, queryset):
        for user in queryset:
            services.password_reset_send(user=user)
        messages.success(request, _("Password reset links sent to %(n)d users.") % {"n": queryset.count()})


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["tenant", "user", "role", "is_active", "whatsapp_number"]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    admin_only = True
    form = MembershipForm
    list_display = ["user", "role", "is_active", "created_at"]
    list_filter = ["role", "is_active"]
    search_fields = ["user__email", "user__name"]
    list_select_related = ["user"]
    actions = ["deactivate", "activate"]

    def get_fields(self, request, obj=None):
        # Only the platform picks the tenant (and only the platform adds memberships).
        fields = ["user", "role", "is_active", "whatsapp_number"]
        return ["tenant", *fields] if is_platform_view(request) else fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["tenant", "user"] if is_platform_view(request) else ["user"]

    def has_add_permission(self, request):
        return is_platform_view(request)

    def has_delete_permission(self, request, obj=None):
        # Deleting would skip the last-admin rule: inside a tenant, members are deactivated.
        return is_platform_view(request)

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Role and activation changes go through the services' rules (last admin, seats, self).
        before = Membership.all_tenants.select_related("tenant").get(pk=obj.pk)
        if "role" in form.changed_data:
            _report(
                request,
                lambda: services.membership_set_role(membership=before, role=obj.role, actor=request.user),
                _("Role updated."),
                tenant=before.tenant,
            )
        if "is_active" in form.changed_data:
            change_state = services.membership_activate if obj.is_active else services.membership_deactivate
            _report(
                request,
                lambda: change_state(membership=before, actor=request.user),
                _("Access updated."),
                tenant=before.tenant,
            )

    @admin.action(description=_("Deactivate selected members"), permissions=["manage"])
    def deactivate(self, request, queryset):
        for membership in queryset.select_related("tenant", "user"):
            _report(
                request,
                lambda m=membership: services.membership_deactivate(membership=m, actor=request.user),
                _("%(user)s deactivated.") % {"user": membership.user},
                tenant=membership.tenant,
            )

    @admin.action(description=_("Activate selected members"), permissions=["manage"])
    def activate(self, request, queryset):
        for membership in queryset.select_related("tenant", "user"):
            _report(
                request,
                lambda m=membership: services.membership_activate(membership=m, actor=request.user),
                _("%(user)s activated.") % {"user": membership.user},
                tenant=membership.tenant,
            )


class InviteForm(forms.ModelForm):
    class Meta:
        model = Invite
        fields = ["email", "role"]


@admin.register(Invite)
class InviteAdmin(TenantScopedAdmin):
    admin_only = True
    form = InviteForm
    list_display = ["email", "role", "status", "invited_by", "expires_at", "created_at"]
    list_filter = ["role"]
    search_fields = ["email"]
    list_select_related = ["invited_by"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ["email", "role", "invited_by", "expires_at", "accepted_at", "accepted_by", "revoked_at"]
        return []

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        # An invite is for one tenant: made from inside it (a superuser enters it by membership).
        return not is_platform_view(request) and self._can_manage(request)

    def save_model(self, request, obj, form, change):
        from tenants.context import get_current_tenant

        tenant = obj.tenant if obj.tenant_id else get_current_tenant()
        invite, token = services.invite_create(tenant=tenant, email=obj.email, role=obj.role, invited_by=request.user)
        obj.pk = invite.pk
        messages.info(
            request,
            _("Invitation e-mailed. The link, shown only now: %(link)s") % {"link": services.invite_accept_url(token)},
        )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ProsaError as exc:
            messages.error(request, str(exc.detail))
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.path)

    @admin.action(description=_("Revoke selected invites"), permissions=["manage"])
    def revoke(self, request, queryset):
        for invite in queryset.select_related("tenant"):
            _report(
                request,
                lambda i=invite: services.invite_revoke(invite=i),
                _("%(email)s revoked.") % {"email": invite.email},
                tenant=invite.tenant,
            )
