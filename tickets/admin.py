from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Count
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from config.errors import ProsaError
from tenants.admin import (
    ObjectTenantAdmin,
    ReadOnlyInline,
    TenantScopedAdmin,
    is_platform_view,
    tenant_members_queryset,
)
from tenants.context import get_current_tenant, tenant_context
from tickets import services
from tickets.models import Message, Queue, QuickReply, ScheduledMessage, Ticket, TicketEvent


@admin.register(Queue)
class QueueAdmin(TenantScopedAdmin):
    list_display = ["name", "color_swatch", "menu_order", "auto_assignment", "max_open_per_agent", "member_count"]
    search_fields = ["name"]
    filter_horizontal = ["members"]
    fieldsets = [
        (None, {"fields": ["name", "color", "menu_order", "greeting_message"]}),
        (_("Team"), {"fields": ["members", "auto_assignment", "max_open_per_agent"]}),
        (
            _("Business hours"),
            {
                "fields": ["business_hours"],
                "description": _('Empty: the workspace\'s hours. Otherwise {"mon": [["08:00", "18:00"]], ...}.'),
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members", distinct=True))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count

    @admin.display(description=_("color"))
    def color_swatch(self, obj):
        return format_html('<span class="prosa-badge" style="background:{};color:#fff">{}</span>', obj.color, obj.color)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if "tenant" not in self.get_exclude(request, obj):
            fieldsets = [(None, {"fields": ["tenant"]}), *fieldsets]
        return fieldsets

    def save_related(self, request, form, formsets, change):
        # Members through the service, like the API (one transaction with the queue).
        services.queue_save(queue=form.instance, members=form.cleaned_data.get("members"))
        for formset in formsets:
            self.save_formset(request, form, formset, change)


@admin.register(QuickReply)
class QuickReplyAdmin(TenantScopedAdmin):
    list_display = ["shortcut", "text"]
    search_fields = ["shortcut", "text"]


@admin.register(ScheduledMessage)
class ScheduledMessageAdmin(ObjectTenantAdmin):
    list_display = ["ticket", "send_at", "status", "created_by"]
    list_filter = ["status"]
    list_select_related = ["ticket__contact", "created_by"]
    readonly_fields = ["status", "message", "error"]
    raw_id_fields = ["ticket"]


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["sent_at", "direction", "sender_type", "author", "type", "text", "status", "error_code"]
    readonly_fields = fields
    ordering = ["sent_at", "id"]


class TicketEventInline(ReadOnlyInline):
    model = TicketEvent
    fields = ["created_at", "type", "actor", "data"]
    readonly_fields = fields


class TicketActionForm(ActionForm):
    """The targets of the bulk transfer: a queue, an agent, or both (the agent within the queue)."""

    queue = forms.ModelChoiceField(queryset=Queue.all_tenants.none(), required=False, label=_("Queue"))
    user = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label=_("Agent"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tenant = get_current_tenant()
        if tenant is not None:
            self.fields["queue"].queryset = Queue.objects.all()
            self.fields["user"].queryset = User.objects.filter(
                memberships__tenant=tenant, memberships__is_active=True
            ).order_by("name")


@admin.register(Ticket)
class TicketAdmin(ObjectTenantAdmin):
    """History of tickets (read-only); bulk close and transfer go through the services."""

    list_display = ["protocol", "contact", "status", "priority", "queue", "assignee", "last_message_at"]
    list_filter = ["status", "priority"]
    list_select_related = ["contact", "queue", "assignee"]
    search_fields = ["protocol", "contact__name", "contact__phone"]
    inlines = [MessageInline, TicketEventInline]
    actions = ["close_tickets", "transfer_tickets"]
    action_form = TicketActionForm

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Ticket._meta.fields if field.name != "tenant"] + ["tags"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _each(self, request, queryset, apply):
        done = 0
        for ticket in queryset:
            with tenant_context(ticket.tenant if is_platform_view(request) else get_current_tenant()):
                try:
                    apply(ticket)
                    done += 1
                except ProsaError as exc:
                    self.message_user(request, f"#{ticket.protocol}: {exc.detail}", messages.ERROR)
        return done

    @admin.action(description=_("Close the selected tickets"), permissions=["manage"])
    def close_tickets(self, request, queryset):
        done = self._each(request, queryset, lambda ticket: services.ticket_close(ticket=ticket, actor=request.user))
        self.message_user(request, _("%(count)d tickets closed.") % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Transfer to the chosen queue and/or agent"), permissions=["manage"])
    def transfer_tickets(self, request, queryset):
        tenant = get_current_tenant()
        queue_id, user_id = request.POST.get("queue") or 0, request.POST.get("user") or 0
        queue = Queue.objects.filter(pk=queue_id).first() if tenant and queue_id else None
        user = tenant_members_queryset(request).filter(pk=user_id).first() if tenant and user_id else None
        if queue is None and user is None:
            self.message_user(request, _("Choose a queue or an agent of this workspace."), messages.ERROR)
            return
        done = self._each(
            request,
            queryset,
            lambda ticket: services.ticket_transfer(ticket=ticket, actor=request.user, to_queue=queue, to_user=user),
        )
        self.message_user(request, _("%(count)d tickets transferred.") % {"count": done}, messages.SUCCESS)
