from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _

# The home page groups the models by what tenant staff do, not by Django app. A model not listed
# here joins the section of its app (a new model of `crm` shows under Contacts); an app not
# listed gets a section of its own.
SECTIONS = [
    ("conversations", _("Conversations"), ["tickets"]),
    ("whatsapp", _("WhatsApp"), ["whatsapp"]),
    ("contacts", _("Contacts"), ["crm"]),
    ("team", _("Team"), ["accounts"]),
    ("settings", _("Settings"), ["tenants", "django_celery_beat", "token_blacklist"]),
]


def index_sections(app_list) -> list[dict]:
    """`app_list` (Django's, already filtered by permission) regrouped into SECTIONS, in order."""
    by_app = {app_label: key for key, _label, app_labels in SECTIONS for app_label in app_labels}
    sections = {key: {"key": key, "name": label, "models": []} for key, label, _apps in SECTIONS}
    for app in app_list:
        key = by_app.get(app["app_label"], app["app_label"])
        section = sections.setdefault(key, {"key": key, "name": app["name"], "models": []})
        section["models"].extend(app["models"])
    return list(sections.values())


class ProsaAdminSite(admin.AdminSite):
    """The back office. Tenant admins and supervisors get in by role in their current tenant;
    platform superusers always. Agents work in the inbox, not here."""

    site_header = "Prosa"
    site_title = "Prosa"
    index_title = _("Back office")
    index_template = "admin/prosa_index.html"

    def has_permission(self, request):
        from accounts.admin_access import admin_role

        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        return user.is_superuser or admin_role(request) is not None

    def each_context(self, request):
        from accounts.admin_access import admin_role
        from accounts.models import Role

        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        role = admin_role(request) if request.user.is_authenticated else None
        context["prosa_tenant"] = tenant
        # The dashboard and the settings are per tenant: offered only inside one.
        context["prosa_can_see_dashboard"] = tenant is not None and (role is not None or request.user.is_superuser)
        context["prosa_can_edit_settings"] = tenant is not None and (role == Role.ADMIN or request.user.is_superuser)
        return context

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "sections": index_sections(self.get_app_list(request))}
        return super().index(request, extra_context)

    def get_urls(self):
        from tenants.admin import tenant_settings_view
        from tickets.admin_dashboard import dashboard_csv_view, dashboard_view

        own = [
            path("dashboard/", self.admin_view(dashboard_view), name="dashboard"),
            path("dashboard/<slug:dataset>.csv", self.admin_view(dashboard_csv_view), name="dashboard_csv"),
            path("settings/", self.admin_view(tenant_settings_view), name="tenant_settings"),
        ]
        # Before Django's: its catch-all `<app_label>/` would take "dashboard/" and "settings/".
        return own + super().get_urls()
