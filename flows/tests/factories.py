import factory
from django.utils import timezone

from flows.models import Flow, FlowRun, FlowTrace, FlowVersion
from tenants.tests.factories import TenantOwnedFactory
from tickets.tests.factories import TicketFactory

HELLO_GRAPH = {
    "nodes": [
        {"id": "start", "type": "start", "data": {}},
        {"id": "hello", "type": "send_message", "data": {"text": "Olá {{contact.name}}!"}},
    ],
    "edges": [{"source": "start", "target": "hello"}],
}


class FlowFactory(TenantOwnedFactory):
    class Meta:
        model = Flow

    name = factory.Sequence(lambda n: f"Fluxo {n}")


class FlowVersionFactory(TenantOwnedFactory):
    class Meta:
        model = FlowVersion

    flow = factory.SubFactory(FlowFactory, tenant=factory.SelfAttribute("..tenant"))
    number = factory.Sequence(lambda n: n + 1)
    graph = factory.LazyFunction(lambda: HELLO_GRAPH)
    published_at = factory.LazyFunction(timezone.now)


class FlowRunFactory(TenantOwnedFactory):
    class Meta:
        model = FlowRun

    ticket = factory.SubFactory(TicketFactory, tenant=factory.SelfAttribute("..tenant"))
    flow_version = factory.SubFactory(FlowVersionFactory, tenant=factory.SelfAttribute("..tenant"))
    flow = factory.SelfAttribute("flow_version.flow")
    status = FlowRun.Status.FINISHED
    current_node = "hello"


class FlowTraceFactory(TenantOwnedFactory):
    class Meta:
        model = FlowTrace

    run = factory.SubFactory(FlowRunFactory, tenant=factory.SelfAttribute("..tenant"))
    node_id = "hello"
    node_type = "send_message"
