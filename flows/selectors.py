"""Reads of the flows domain."""

from django.db.models import Prefetch, QuerySet

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
