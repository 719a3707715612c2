"""`/api/v1/flows/`: CRUD, versions, validate, publish, rollback, the test console, runs with
traces; roles; the graph schema's errors per node."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from flows.models import Flow, FlowRun
from flows.schema import graph_validate
from flows.tests.factories import FlowFactory, FlowRunFactory, FlowTraceFactory, FlowVersionFactory
from flows.tests.graphs import graph
from tenants.context import tenant_context
from tickets.tests.factories import QueueFactory, TicketFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/flows/"
GOOD = graph(
    ("start", "start", {}),
    ("ask", "ask", {"text": "Seu nome?", "variable": "nome"}),
    ("hi", "send_message", {"text": "Prazer, {{nome}}!"}),
    edges=[("start", "ask"), ("ask", "hi")],
)


@pytest.fixture
def staff(tenant, make_member, client_for):
    return client_for(make_member(tenant, Role.SUPERVISOR), tenant)


def test_agents_cannot_manage_flows(tenant, make_member, client_for):
    agent = client_for(make_member(tenant, Role.AGENT), tenant)
    assert agent.get(URL).status_code == 403
    assert agent.post(URL, {"name": "x"}, format="json").status_code == 403


def test_create_save_validate_publish_activate_rollback(staff, tenant):
    created = staff.post(
        URL,
        {"name": "Boas-vindas", "trigger_type": "keyword", "trigger_config": {"keywords": ["oi"]}, "graph": GOOD},
        format="json",
    )
    assert created.status_code == 201, created.content
    flow_id = created.json()["id"]
    assert created.json()["published_version"] is None

    # Activating before publishing is refused.
    refused = staff.patch(f"{URL}{flow_id}/", {"is_active": True}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "flow_not_published")

    published = staff.post(f"{URL}{flow_id}/publish", {}, format="json")
    assert published.status_code == 200, published.content
    assert published.json()["published_version"] == 1
    assert staff.patch(f"{URL}{flow_id}/", {"is_active": True}, format="json").json()["is_active"] is True

    # v1 is published: saving makes v2 (a draft), saving again edits v2.
    broken = graph(("start", "start", {}), ("ask", "ask", {"text": "?"}), edges=[("start", "ask"), ("ask", "nowhere")])
    saved = staff.post(f"{URL}{flow_id}/versions", {"graph": broken}, format="json")
    assert (saved.status_code, saved.json()["number"], saved.json()["is_published"]) == (201, 2, False)
    validation = staff.post(f"{URL}{flow_id}/validate", {}, format="json").json()
    assert validation["valid"] is False
    assert validation["errors"]["ask"] == [
        "variable: This field is required.",
        "An edge goes to the unknown node nowhere.",
    ]
    refused = staff.post(f"{URL}{flow_id}/publish", {}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "flow_invalid")
    assert set(refused.json()["fields"]["graph"]) == {"ask"}

    fixed = graph(("start", "start", {}), ("hi", "send_message", {"text": "v2"}), edges=[("start", "hi")])
    again = staff.post(f"{URL}{flow_id}/versions", {"graph": fixed}, format="json")
    assert again.json()["number"] == 2
    assert staff.post(f"{URL}{flow_id}/publish", {}, format="json").json()["published_version"] == 2

    not_a_graph = staff.post(f"{URL}{flow_id}/versions", {"graph": [1, 2]}, format="json")
    assert (not_a_graph.status_code, not_a_graph.json()["code"]) == (400, "flow_invalid")

    versions = staff.get(f"{URL}{flow_id}/versions").json()
    assert [(v["number"], v["is_published"]) for v in versions] == [(2, True), (1, False)]

    rolled = staff.post(f"{URL}{flow_id}/rollback", {}, format="json")
    assert rolled.json()["published_version"] == 1
    nothing_before = staff.post(f"{URL}{flow_id}/rollback", {}, format="json")
    assert (nothing_before.status_code, nothing_before.json()["code"]) == (409, "flow_no_earlier_version")
    assert staff.post(f"{URL}{flow_id}/rollback", {"number": 2}, format="json").json()["published_version"] == 2


def test_trigger_settings_are_checked(staff):
    bad = staff.post(
        URL,
        {"name": "x", "trigger_type": "keyword", "trigger_config": {"keywords": ["("], "match": "regex", "foo": 1}},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["fields"]["trigger_config"]) == {"keywords", "foo"}
    inactivity = staff.post(
        URL, {"name": "y", "trigger_type": "inactivity", "trigger_config": {"minutes": 0}}, format="json"
    )
    assert inactivity.json()["fields"]["trigger_config"]["minutes"]


def test_names_are_unique_in_the_workspace(staff, tenant, other_tenant):
    FlowFactory(tenant=other_tenant, name="Vendas")
    assert staff.post(URL, {"name": "Vendas"}, format="json").status_code == 201
    taken = staff.post(URL, {"name": "vendas"}, format="json")
    assert (taken.status_code, taken.json()["code"]) == (409, "flow_name_taken")


def test_validate_checks_references_in_the_tenant(staff, tenant, other_tenant):
    foreign_queue = QueueFactory(tenant=other_tenant)
    flow_id = staff.post(URL, {"name": "Handoff"}, format="json").json()["id"]
    body = graph(
        ("start", "start", {}),
        ("human", "handoff", {"queue_id": foreign_queue.pk}),
        ("jump", "go_to_flow", {"flow_id": 987654}),
        edges=[("start", "human")],
    )
    errors = staff.post(f"{URL}{flow_id}/validate", {"graph": body}, format="json").json()["errors"]
    assert errors == {
        "human": [f"The queue {foreign_queue.pk} does not exist."],
        "jump": ["The flow 987654 does not exist."],
    }


def test_the_test_console_plays_a_conversation(staff, tenant):
    flow_id = staff.post(URL, {"name": "Console", "graph": GOOD}, format="json").json()["id"]
    first = staff.post(f"{URL}{flow_id}/test", {"text": "oi"}, format="json")
    assert first.status_code == 200, first.content
    assert first.json()["replies"] == [{"type": "message", "text": "Seu nome?"}]
    assert first.json()["status"] == "waiting"
    second = staff.post(f"{URL}{flow_id}/test", {"text": "Ana", "state": first.json()["state"]}, format="json")
    assert second.json()["replies"] == [{"type": "message", "text": "Prazer, Ana!"}]
    assert second.json()["state"]["variables"]["nome"] == "Ana"
    assert [step["node_id"] for step in second.json()["trace"]] == ["ask", "hi"]
    with tenant_context(tenant):
        assert not FlowRun.objects.exists()  # nothing stored


def test_runs_of_a_ticket_with_traces(staff, tenant, django_assert_num_queries):
    ticket = TicketFactory(tenant=tenant)
    for _ in range(3):
        run = FlowRunFactory(tenant=tenant, ticket=ticket)
        FlowTraceFactory(tenant=tenant, run=run, node_id="a")
        FlowTraceFactory(tenant=tenant, run=run, node_id="b")
    FlowRunFactory(tenant=tenant)  # another ticket
    with CaptureQueriesContext(connection) as queries:
        response = staff.get(f"{URL}runs/", {"ticket": ticket.pk})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3
    assert [trace["node_id"] for trace in results[0]["traces"]] == ["a", "b"]
    # auth + count + page + traces: the same for 3 runs as for 1
    with django_assert_num_queries(len(queries.captured_queries)):
        staff.get(f"{URL}runs/", {"ticket": ticket.pk})
    assert len(staff.get(f"{URL}runs/").json()["results"]) == 4


def test_agents_see_the_runs_of_tickets_they_can_see(tenant, make_member, client_for):
    agent = make_member(tenant, Role.AGENT)
    mine = TicketFactory(tenant=tenant, assignee=agent, status="open")
    hidden = TicketFactory(tenant=tenant, assignee=make_member(tenant, Role.AGENT), status="open")
    FlowRunFactory(tenant=tenant, ticket=mine)
    FlowRunFactory(tenant=tenant, ticket=hidden)
    client = client_for(agent, tenant)
    assert [run["ticket"] for run in client.get(f"{URL}runs/").json()["results"]] == [mine.pk]
    assert client.get(f"{URL}runs/", {"ticket": hidden.pk}).json()["results"] == []


def test_deleting_a_flow_releases_its_tickets(staff, tenant):
    version = FlowVersionFactory(tenant=tenant)
    ticket = TicketFactory(tenant=tenant, is_bot=True)
    FlowRunFactory(tenant=tenant, ticket=ticket, flow_version=version, status=FlowRun.Status.WAITING)
    assert staff.delete(f"{URL}{version.flow_id}/").status_code == 204
    ticket.refresh_from_db()
    assert ticket.is_bot is False
    with tenant_context(tenant):
        assert not Flow.objects.exists()
        assert not FlowRun.objects.exists()


# --- the graph schema -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_graph", "errors"),
    [
        ({"nodes": []}, {"graph": ["edges: This field is required."]}),
        (graph(("a", "send_message", {"text": "x"})), {"graph": ["A flow needs exactly one start node (found 0)."]}),
        (
            graph(
                ("start", "start", {}),
                ("m", "menu", {"text": "x", "options": [{"id": "a", "label": "A"}]}),
                edges=[("start", "m"), ("m", "start", "b")],
            ),
            {"m": ["This node has no output b."]},
        ),
        (
            graph(("start", "start", {}), ("w", "wait", {"seconds": 0}), edges=[("start", "w")]),
            {"w": ["seconds: Must be at least 1."]},
        ),
        (
            graph(("start", "start", {}), ("x", "teleport", {}), edges=[("start", "x")]),
            {"x": ["Unknown node type teleport."]},
        ),
        (
            graph(
                ("start", "start", {}),
                ("c", "condition", {"rules": [{"source": "message", "operator": "regex", "value": "("}]}),
                edges=[("start", "c")],
            ),
            {"c": ["rules/0/value: Not a valid regular expression: missing ), unterminated subpattern at position 0"]},
        ),
        (
            graph(
                ("start", "start", {}),
                ("a", "send_message", {"text": "1"}),
                ("b", "send_message", {"text": "2"}),
                edges=[("start", "a"), ("start", "b")],
            ),
            {"start": ["The output next has more than one edge."]},
        ),
    ],
)
def test_graph_errors_by_node(bad_graph, errors):
    assert graph_validate(bad_graph) == errors


def test_every_node_type_has_a_valid_example_for_the_editor():
    from flows.schema import NODE_EXAMPLES as examples
    from flows.schema import NODE_TYPES

    nodes = [("start", "start", {})] + [(kind, kind, examples[kind]) for kind in NODE_TYPES if kind != "start"]
    assert graph_validate(graph(*nodes, edges=[("start", "send_message")])) == {}
