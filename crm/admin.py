from django import forms
from django.contrib import admin
from django.http import StreamingHttpResponse
from django.utils.translation import gettext_lazy as _

from config.errors import ProsaError
from crm import selectors, services
from crm.exceptions import ContactExists, InvalidPhone
from crm.models import Contact, ContactFieldDefinition, ContactImport, Tag
from tenants.admin import ObjectTenantAdmin, TenantScopedAdmin
from tenants.context import get_current_tenant


class ContactAdminForm(forms.ModelForm):
    """The API's phone rules: E.164 digits, one contact per number (ninth-digit forms included).
    No Meta: the admin builds the fields, with choices scoped to the tenant."""

    def clean_phone(self):
        raw = self.cleaned_data.get("phone", "")
        if not raw:
            return ""
        try:
            phone = services.phone_clean(raw)
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc.detail)) from None
        tenant = self.instance.tenant if self.instance.tenant_id else get_current_tenant()
        if tenant is not None:
            existing = selectors.contact_get_by_phone(tenant=tenant, phone=phone, exclude_id=self.instance.pk)
            if existing is not None:
                raise forms.ValidationError(str(ContactExists.default_detail))
        return phone


class ContactImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8 (or Latin-1) CSV with a header row; a phone column is required."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class TagListFilter(admin.RelatedFieldListFilter):
    """The tag filter's choices come from the current tenant (Django's would use the default
    manager, which refuses to run outside a tenant — the platform view)."""

    def field_choices(self, field, request, model_admin):
        return [(tag.pk, str(tag)) for tag in model_admin._scoped_choices(request, Tag).order_by("name")]


@admin.register(Contact)
class ContactAdmin(ObjectTenantAdmin):
    form = ContactAdminForm
    list_display = ["__str__", "phone", "email", "opted_out", "last_message_at", "created_at"]
    list_filter = ["opted_out", ("tags", TagListFilter), "created_at"]
    search_fields = ["name", "profile_name", "phone", "email"]
    readonly_fields = ["wa_id", "profile_name", "last_message_at", "created_at", "updated_at"]
    filter_horizontal = ["tags"]
    actions = ["export_csv"]
    change_list_template = "admin/crm/contact/change_list.html"

    def get_urls(self):
        from django.urls import path

        own = [path("import/", self.admin_site.admin_view(self.import_view), name="crm_contact_import")]
        return own + super().get_urls()

    def import_view(self, request):
        """Upload a CSV: checked and stored by the service, processed by a task; its progress shows
        on the imports page."""
        from django.core.exceptions import PermissionDenied
        from django.http import HttpResponseRedirect
        from django.template.response import TemplateResponse
        from django.urls import reverse

        tenant = get_current_tenant()
        if not self.has_add_permission(request) or tenant is None:
            raise PermissionDenied
        form = ContactImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.contact_import_start(tenant=tenant, file=form.cleaned_data["file"], actor=request.user)
            except ProsaError as exc:
                details = [
                    value
                    for values in exc.fields.values()
                    for value in (values if isinstance(values, list) else [values])
                ]
                form.add_error("file", [str(exc.detail), *(str(detail) for detail in details if detail != exc.detail)])
            else:
                self.message_user(request, _("The file is being imported. Its progress shows here."))
                return HttpResponseRedirect(reverse("admin:crm_contactimport_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import contacts"),
            "opts": self.opts,
            "form": form,
            "definitions": list(selectors.contact_field_list(tenant=tenant)),
        }
        return TemplateResponse(request, "admin/crm/contact/import.html", context)

    @admin.action(description=_("Export selected contacts as CSV"))
    def export_csv(self, request, queryset):
        tenant = get_current_tenant()
        if tenant is None:
            self.message_user(request, _("Enter a tenant to export its contacts."), level="warning")
            return None
        definitions = list(selectors.contact_field_list(tenant=tenant))
        response = StreamingHttpResponse(
            services.contacts_csv_rows(
                tenant=tenant, queryset=queryset.order_by("name", "id"), definitions=definitions
            ),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
        return response


@admin.register(Tag)
class TagAdmin(TenantScopedAdmin):
    list_display = ["name", "color", "created_at"]
    search_fields = ["name"]


@admin.register(ContactFieldDefinition)
class ContactFieldDefinitionAdmin(TenantScopedAdmin):
    list_display = ["label", "key", "field_type", "required", "order"]
    list_filter = ["field_type", "required"]
    search_fields = ["label", "key"]


@admin.register(ContactImport)
class ContactImportAdmin(TenantScopedAdmin):
    """Imports are started from the API (a task processes them); here their progress is visible."""

    list_display = ["__str__", "status", "processed_rows", "total_rows", "created_count", "updated_count",
                    "error_count", "created_by", "created_at", "finished_at"]  # fmt: skip
    list_filter = ["status"]
    readonly_fields = ["file", "status", "total_rows", "processed_rows", "created_count", "updated_count",
                       "error_count", "errors", "created_by", "created_at", "finished_at"]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# The sales pipeline, agenda and escalations register their admins there.
from crm import admin_sales  # noqa: E402, F401
