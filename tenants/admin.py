from zoneinfo import available_timezones

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.admin_access import admin_role
from accounts.models import Role
from tenants.context import get_current_tenant, tenant_context
from tenants.hours import DAYS, business_hours_validate
from tenants.models import Tenant, TenantOwned
from tenants.services import SETTINGS_FIELDS, tenant_settings_update

DAY_LABELS = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


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
        if is_platform_view(request) and issubclass(db_field.remote_field.model, TenantOwned):
            # ManyToManyField.formfield() touches the related default manager before taking our
            # queryset, and that manager refuses outside a tenant: build the field here.
            from django.contrib.admin.widgets import FilteredSelectMultiple
            from django.forms import ModelMultipleChoiceField
            from django.utils.text import capfirst

            widget = None
            if db_field.name in (*self.filter_horizontal, *self.filter_vertical):
                widget = FilteredSelectMultiple(db_field.verbose_name, db_field.name in self.filter_vertical)
            return ModelMultipleChoiceField(
                required=not db_field.blank, label=capfirst(db_field.verbose_name), widget=widget, **kwargs
            )
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


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under an object, never edited there (history, versions, traces)."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        # Django's model permissions are not used: the tenant role decides (like TenantScopedAdmin).
        return request.user.is_superuser or admin_role(request) is not None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ObjectTenantAdmin(TenantScopedAdmin):
    """A superuser outside any tenant opens an object inside its own tenant: its inlines,
    many-to-many values and choices are tenant-scoped queries."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id and is_platform_view(request):
            obj = self.model.all_tenants.filter(pk=object_id).select_related("tenant").first()
            if obj is not None:
                with tenant_context(obj.tenant):
                    response = super().changeform_view(request, object_id, form_url, extra_context)
                    if hasattr(response, "render"):
                        response.render()  # templates query lazily: render inside the tenant
                    return response
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Platform-only: the list of companies. (Superusers pass Django's own permission checks.)"""

    list_display = ["name", "slug", "language", "timezone", "max_users", "max_connections", "is_active", "created_at"]
    list_filter = ["is_active", "language"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


# --- The workspace's own settings page (/admin/settings/, registered by config.admin_site) -----


def _ranges_text(ranges) -> str:
    return ", ".join(f"{start}-{end}" for start, end in ranges or [])


class TenantSettingsForm(forms.Form):
    """The settings tenant admins change. Business hours are edited per day as text
    ("08:00-12:00, 13:00-18:00"; empty = closed) and stored as tenants.hours' JSON."""

    timezone = forms.ChoiceField(label=_("Timezone"))
    language = forms.ChoiceField(label=_("Language"), choices=Tenant.Language.choices)
    always_open = forms.BooleanField(
        label=_("Always open"), required=False, help_text=_("No business hours: every hour counts as open.")
    )
    auto_close_after_hours = forms.IntegerField(
        label=_("Close idle tickets after (hours)"), min_value=0, help_text=_("0 = never.")
    )
    reopen_window_minutes = forms.IntegerField(
        label=_("Reopen window (minutes)"),
        min_value=0,
        help_text=_("A customer's message this soon after closing reopens the ticket; 0 = always a new ticket."),
    )
    rating_enabled = forms.BooleanField(label=_("Ask for a satisfaction rating on close"), required=False)

    def __init__(self, *args, tenant: Tenant, **kwargs):
        schedule = tenant.business_hours or {}
        initial = {
            "timezone": tenant.timezone,
            "language": tenant.language,
            "always_open": not schedule,
            "auto_close_after_hours": tenant.auto_close_after_hours,
            "reopen_window_minutes": tenant.reopen_window_minutes,
            "rating_enabled": tenant.rating_enabled,
            **{f"hours_{day}": _ranges_text(schedule.get(day)) for day in DAYS},
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.fields["timezone"].choices = [(name, name) for name in sorted(available_timezones())]
        for day, label in zip(DAYS, DAY_LABELS, strict=True):
            self.fields[f"hours_{day}"] = forms.CharField(
                label=label,
                required=False,
                widget=forms.TextInput(attrs={"placeholder": "08:00-12:00, 13:00-18:00"}),
            )

    @property
    def day_fields(self):
        return [self[f"hours_{day}"] for day in DAYS]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("always_open"):
            cleaned["business_hours"] = {}
            return cleaned
        schedule = {}
        for day in DAYS:
            ranges = []
            for part in (cleaned.get(f"hours_{day}") or "").split(","):
                if not part.strip():
                    continue
                start, _sep, end = part.strip().partition("-")
                ranges.append([start.strip(), end.strip()])
            schedule[day] = ranges
        try:
            business_hours_validate(schedule)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        if not any(schedule.values()):
            raise ValidationError(_("Give the hours of at least one day, or tick “Always open”."))
        cleaned["business_hours"] = schedule
        return cleaned


def tenant_settings_view(request):
    """Tenant admins (and superusers inside a tenant) edit their workspace; supervisors may not."""
    tenant = getattr(request, "tenant", None)
    context = {**admin.site.each_context(request), "title": _("Workspace settings")}
    if tenant is None:
        return TemplateResponse(request, "admin/prosa_tenant_settings.html", {**context, "no_tenant": True})
    if not (request.user.is_superuser or admin_role(request) == Role.ADMIN):
        raise PermissionDenied
    form = TenantSettingsForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in SETTINGS_FIELDS}
        try:
            tenant_settings_update(tenant=tenant, **changes)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, _("Settings saved."))
            return HttpResponseRedirect(reverse("admin:tenant_settings"))
    connections_url = reverse("admin:whatsapp_connection_changelist")
    return TemplateResponse(
        request,
        "admin/prosa_tenant_settings.html",
        {**context, "subtitle": tenant.name, "form": form, "connections_url": connections_url},
    )
