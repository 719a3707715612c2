from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from config.errors import ProsaError
from knowledge import services
from knowledge.models import Article, ArticleVersion, Language
from tenants.admin import ObjectTenantAdmin, ReadOnlyInline, is_platform_view
from tenants.context import get_current_tenant, tenant_context

EDITABLE_FIELDS = ["title", "body", "tags", "category", "language", "status"]


class ArticleVersionInline(ReadOnlyInline):
    """The article's history, newest first (read-only; restore from the API or copy the text)."""

    model = ArticleVersion
    fields = ["number", "title", "restored_from", "created_by", "created_at"]
    readonly_fields = fields
    ordering = ["-number"]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".csv,.md,.markdown,.txt"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class ArticleImportForm(forms.Form):
    files = MultipleFileField(
        label=_("Files"),
        help_text=_("CSV files (one article a row) or Markdown files (one article each, titled by its first heading)."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices, initial=Language.PT_BR)
    category = forms.CharField(label=_("Category"), max_length=80, required=False)
    status = forms.ChoiceField(label=_("Status"), choices=Article.Status.choices, initial=Article.Status.DRAFT)


@admin.register(Article)
class ArticleAdmin(ObjectTenantAdmin):
    list_display = ["title", "category", "language", "status", "usage_count", "last_used_at", "updated_at"]
    list_filter = ["status", "language", "category"]
    search_fields = ["title", "body", "category"]
    readonly_fields = ["usage_count", "last_used_at", "created_by", "updated_by", "created_at", "updated_at"]
    fields = [*EDITABLE_FIELDS, *readonly_fields]
    inlines = [ArticleVersionInline]
    actions = ["publish", "unpublish"]
    change_list_template = "admin/knowledge/article/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("search_vector")

    def get_urls(self):
        own = [path("import/", self.admin_site.admin_view(self.import_view), name="knowledge_article_import")]
        return own + super().get_urls()

    def save_model(self, request, obj, form, change):
        """Through the services, like the API: a change of title or body keeps a version."""
        values = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS if name in form.cleaned_data}
        tenant = obj.tenant if obj.tenant_id else get_current_tenant()
        with tenant_context(tenant):
            if change:
                changed = {name: value for name, value in values.items() if name in form.changed_data}
                saved = services.article_update(article=obj, actor=request.user, **changed)
            else:
                saved = services.article_create(tenant=tenant, actor=request.user, **values)
        form.instance = obj
        obj.pk, obj.tenant_id = saved.pk, saved.tenant_id

    def _set_status(self, request, queryset, status):
        count = 0
        for article in queryset:
            with tenant_context(article.tenant if is_platform_view(request) else get_current_tenant()):
                count += services.articles_set_status(articles=[article], status=status, actor=request.user)
        return count

    @admin.action(description=_("Publish the selected articles"), permissions=["manage"])
    def publish(self, request, queryset):
        count = self._set_status(request, queryset, Article.Status.PUBLISHED)
        self.message_user(request, _("%(count)d articles published.") % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Unpublish the selected articles (back to draft)"), permissions=["manage"])
    def unpublish(self, request, queryset):
        count = self._set_status(request, queryset, Article.Status.DRAFT)
        self.message_user(request, _("%(count)d articles unpublished.") % {"count": count}, messages.SUCCESS)

    def import_view(self, request):
        tenant = get_current_tenant()
        if not self.has_add_permission(request) or tenant is None:
            raise PermissionDenied
        form = ArticleImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.articles_import(
                    tenant=tenant,
                    actor=request.user,
                    files=form.cleaned_data["files"],
                    language=form.cleaned_data["language"],
                    category=form.cleaned_data["category"],
                    status=form.cleaned_data["status"],
                )
            except ProsaError as exc:
                details = [str(value) for values in exc.fields.values() for value in values]
                form.add_error("files", [str(exc.detail), *details])
            else:
                summary = result.as_dict()
                self.message_user(
                    request,
                    _("%(created)d articles created, %(updated)d updated, %(unchanged)d unchanged.") % summary,
                    messages.SUCCESS,
                )
                for error in result.errors:
                    self.message_user(request, f"{error['file']}:{error['row']}: {error['detail']}", messages.WARNING)
                return HttpResponseRedirect(reverse("admin:knowledge_article_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import articles"),
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/knowledge/article/import.html", context)
