"""Reads of the flows domain."""

from django.db.models import Prefetch, QuerySet

from flows.exceptions import VersionNotFound
from flows.models import Flow, FlowRun, FlowTrace, FlowVersion
from tenants.models import Tenant


def flow_list(*, tenant: Tenant) -> QuerySet[Flow]:
    return Flow.objects.filter(tenant=tenant).select_related("published_version")


def flow_version_list(*, flow: Flow) -> QuerySet[FlowVersion]:
    return flow.versions.order_by("-number")


def flow_run_list(*, tenant: Tenant, ticket_id: int | None = None) -> QuerySet[FlowRun]:
    runs = FlowRun.objects.filter(tenant=tenant).select_related("flow", "flow_version")
    if ticket_id is not None:
        runs = runs.filter(ticket_id=ticket_id)
    return runs.prefetch_related(Prefetch("traces", queryset=FlowTrace.objects.order_by("at", "id")))


def flow_version_get(*, flow: Flow, number: int | None) -> FlowVersion:
    """Version `number` of the flow, or its latest; VersionNotFound otherwise."""
    versions = flow.versions.all()
    version = versions.filter(number=number).first() if number is not None else versions.order_by("-number").first()
    if version is None:
        raise VersionNotFound()
    return version


def flow_published_version(*, flow_id: int) -> FlowVersion | None:
    """What `go_to_flow` continues in: the flow's published version (None when missing)."""
    flow = Flow.objects.select_related("published_version").filter(pk=flow_id).first()
    return flow.published_version if flow else None


def editor_choices(*, tenant: Tenant, flow: Flow) -> dict[str, list]:
    """What the editor's node forms offer, all of the flow's tenant: queues, active members
    (handoff to an agent), active AI agents, the other flows, tags, contact fields and the approved
    message templates (one per name and language, with the variables each component expects)."""
    from accounts.models import Membership
    from ai.models import AIAgent
    from crm.models import ContactFieldDefinition, Tag
    from tickets.models import Queue
    from whatsapp.models import MessageTemplate

    members = (
        Membership.objects.filter(tenant=tenant, is_active=True, user__is_active=True)
        .select_related("user")
        .order_by("user__name", "user__email")
    )
    templates: dict[tuple[str, str], dict] = {}
    approved = MessageTemplate.objects.filter(tenant=tenant, status=MessageTemplate.Status.APPROVED)
    for template in approved.order_by("name", "language", "id"):
        templates.setdefault(
            (template.name, template.language),
            {"name": template.name, "language": template.language, "variables": template.variables},
        )
    return {
        "queues": [[queue.pk, queue.name] for queue in Queue.objects.filter(tenant=tenant).order_by("name")],
        "agents": [[member.user_id, member.user.name or member.user.email] for member in members],
        "ai_agents": [
            [agent.pk, agent.name] for agent in AIAgent.objects.filter(tenant=tenant, active=True).order_by("name")
        ],
        "flows": [[other.pk, other.name] for other in Flow.objects.filter(tenant=tenant).exclude(pk=flow.pk)],
        "tags": list(Tag.objects.filter(tenant=tenant).order_by("name").values_list("name", flat=True)),
        "contact_fields": [[field.key, field.label] for field in ContactFieldDefinition.objects.filter(tenant=tenant)],
        "templates": list(templates.values()),
    }


def ticket_trace_list(*, ticket, since=None, until=None, after_id=None) -> QuerySet[FlowTrace]:
    """The nodes flows executed on a ticket between two instants (either end open), oldest first,
    for the inbox's history (the tenant's manager keeps other tenants' traces out). `after_id`:
    only the traces recorded after that one (the inbox's live refresh)."""
    traces = FlowTrace.objects.filter(run__ticket=ticket).select_related("run__flow")
    if after_id is not None:
        traces = traces.filter(pk__gt=after_id)
    if since is not None:
        traces = traces.filter(at__gte=since)
    if until is not None:
        traces = traces.filter(at__lt=until)
    return traces.order_by("at", "id")


def ticket_trace_cursor(*, ticket) -> int:
    """The id of the ticket's latest trace (0 without any): the inbox asks for the ones after it."""
    return FlowTrace.objects.filter(run__ticket=ticket).order_by("-id").values_list("id", flat=True).first() or 0
