from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from config.errors import ProsaError
from knowledge import optimize, selectors, services
from knowledge.models import Article, ArticleProposal, ArticleVersion, Language
from tenants.admin import ObjectTenantAdmin, ReadOnlyInline, is_platform_view
from tenants.context import get_current_tenant, tenant_context

EDITABLE_FIELDS = ["title", "body", "tags", "category", "language", "status"]


class ArticleVersionInline(ReadOnlyInline):
    """The article's history, newest first (read-only; an earlier version can be restored)."""

    model = ArticleVersion
    fields = ["number", "title", "restored_from", "created_by", "created_at", "restore"]
    readonly_fields = fields
    ordering = ["-number"]

    @admin.display(description=_("Restore"))
    def restore(self, version):
        if version.pk is None:
            return ""
        url = reverse("admin:knowledge_article_version_restore", args=[version.article_id, version.pk])
        return format_html('<a href="{}">{}</a>', url, _("Restore this version"))


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
        own = [
            path("import/", self.admin_site.admin_view(self.import_view), name="knowledge_article_import"),
            path(
                "<int:article_id>/versions/<int:version_id>/restore/",
                self.admin_site.admin_view(self.version_restore_view),
                name="knowledge_article_version_restore",
            ),
        ]
        return own + super().get_urls()

    def version_restore_view(self, request, article_id, version_id):
        """Asks, then puts an earlier version's title and body back as a new version (the
        history keeps every version)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        article = self.get_queryset(request).filter(pk=article_id).select_related("tenant").first()
        if article is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(article_id))
        with tenant_context(article.tenant):
            version = selectors.article_version_list(article=article).filter(pk=version_id).first()
            if version is None:
                return self._get_obj_does_not_exist_redirect(request, ArticleVersion._meta, str(version_id))
            change_url = reverse("admin:knowledge_article_change", args=[article.pk])
            if request.method == "POST":
                services.article_version_restore(version=version, actor=request.user)
                self.message_user(
                    request,
                    _("Version %(number)d restored as a new version.") % {"number": version.number},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url)
            context = {
                **self.admin_site.each_context(request),
                "title": _("Restore version %(number)d?") % {"number": version.number},
                "opts": self.opts,
                "article": article,
                "version": version,
                "change_url": change_url,
            }
            response = TemplateResponse(request, "admin/knowledge/article/restore_version.html", context)
            response.render()
            return response

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


@admin.register(ArticleProposal)
class ArticleProposalAdmin(ObjectTenantAdmin):
    """The review queue of the AI's "optimize": nothing is applied until a reviewer accepts. A
    pending proposal's title and body can be corrected before accepting it."""

    list_display = ["title", "kind", "status", "article", "created_at", "reviewed_by", "reviewed_at"]
    list_filter = ["status", "kind"]
    search_fields = ["title", "body"]
    fields = [
        "kind", "status", "title", "body", "reason", "article", "base_version", "source_articles",
        "source_tickets", "language", "model", "result_article", "reviewed_by", "reviewed_at", "review_note",
        "created_at",
    ]  # fmt: skip
    actions = ["accept", "accept_and_publish", "reject"]
    change_list_template = "admin/knowledge/articleproposal/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        editable = {"title", "body"} if obj is not None and obj.status == ArticleProposal.Status.PENDING else set()
        return [name for name in self.fields if name not in editable]

    def has_add_permission(self, request):
        return False  # the AI proposes; people review

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_optimize": self._can_manage(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        own = [
            path(
                "optimize/",
                self.admin_site.admin_view(self.optimize_view),
                name="knowledge_articleproposal_optimize",
            )
        ]
        return own + super().get_urls()

    def optimize_view(self, request):
        """Queues an optimize run for the current tenant (POST from the list's button)."""
        tenant = get_current_tenant()
        if request.method != "POST" or tenant is None or not self.has_change_permission(request):
            raise PermissionDenied
        try:
            optimize.knowledge_optimize_request(tenant=tenant, actor=request.user)
        except ProsaError as exc:
            self.message_user(request, str(exc.detail), messages.ERROR)
        else:
            self.message_user(
                request, _("The AI is reviewing the knowledge base; its proposals will appear here."), messages.INFO
            )
        return HttpResponseRedirect(reverse("admin:knowledge_articleproposal_changelist"))

    def _review(self, request, queryset, review) -> None:
        done, refused = 0, []
        for proposal in queryset.select_related("tenant"):
            with tenant_context(proposal.tenant if is_platform_view(request) else get_current_tenant()):
                try:
                    review(proposal)
                except ProsaError as exc:
                    refused.append(f"{proposal.title}: {exc.detail}")
                else:
                    done += 1
        self.message_user(request, _("%(count)d proposals reviewed.") % {"count": done}, messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description=_("Accept the selected proposals (articles stay as they are published or not)"),
                  permissions=["manage"])  # fmt: skip
    def accept(self, request, queryset):
        self._review(
            request, queryset, lambda proposal: optimize.proposal_accept(proposal=proposal, actor=request.user)
        )

    @admin.action(description=_("Accept the selected proposals and publish the articles"), permissions=["manage"])
    def accept_and_publish(self, request, queryset):
        self._review(
            request,
            queryset,
            lambda proposal: optimize.proposal_accept(proposal=proposal, actor=request.user, publish=True),
        )

    @admin.action(description=_("Reject the selected proposals"), permissions=["manage"])
    def reject(self, request, queryset):
        self._review(
            request, queryset, lambda proposal: optimize.proposal_reject(proposal=proposal, actor=request.user)
        )
