"""The engine through the test console (flows.services.flow_test): the same code as on tickets,
with a simulated customer; plus its pure rules (comparisons, answer validation)."""

import pytest

from flows import services
from flows.engine import compare
from flows.models import FlowRun
from flows.tests.graphs import graph
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(tenant, admin_user):
    """console(graph) → turn(text=None, **kwargs) playing the conversation, keeping the state."""

    names = iter(range(1000))

    def _console(flow_graph, **start):
        with tenant_context(tenant):
            flow = services.flow_create(
                tenant=tenant, actor=admin_user, name=f"Console {next(names)}", graph=flow_graph
            )
        state = {}

        def turn(text=None, **kwargs):
            nonlocal state
            with tenant_context(tenant):
                result = services.flow_test(flow=flow, state=state or None, text=text, **{**start, **kwargs})
            state = result["state"]
            turn.last = result
            return [reply.get("text") for reply in result["replies"] if reply["type"] == "message"]

        turn.flow = flow
        return turn

    return _console


def _ask(validation, **data):
    return graph(
        ("start", "start", {}),
        ("ask", "ask", {"text": "?", "variable": "v", "validation": validation, "retries": 0, **data}),
        ("ok", "send_message", {"text": "ok {{v}}"}),
        ("ko", "send_message", {"text": "ko"}),
        edges=[("start", "ask"), ("ask", "ok"), ("ask", "ko", "fallback")],
    )


@pytest.mark.parametrize(
    ("validation", "data", "answer", "reply"),
    [
        ("email", {}, "Ana@Loja.com.br", "ok ana@loja.com.br"),
        ("email", {}, "ana@", "ko"),
        ("number", {}, "1.234,50", "ok 1234.5"),
        ("number", {}, "12", "ok 12"),
        ("number", {}, "doze", "ko"),
        ("date", {}, "25/12/2025", "ok 2025-12-25"),
        ("date", {}, "2025-02-30", "ko"),
        ("options", {"options": ["Pix", "Cartão"]}, "cartão", "ok Cartão"),
        ("options", {"options": ["Pix", "Cartão"]}, "1", "ok Pix"),
        ("options", {"options": ["Pix", "Cartão"]}, "boleto", "ko"),
        ("regex", {"pattern": r"\d{5}-?\d{3}"}, "11010-000", "ok 11010-000"),
        ("regex", {"pattern": r"\d{5}-?\d{3}"}, "CEP 11010", "ko"),
        ("none", {}, "qualquer coisa", "ok qualquer coisa"),
    ],
)
def test_ask_validations(console, validation, data, answer, reply):
    turn = console(_ask(validation, **data))
    assert turn() == ["?"]
    assert turn(answer) == [reply]


def test_send_message_renders_variables_media_and_templates(console):
    turn = console(
        graph(
            ("start", "start", {}),
            ("set", "set_variable", {"name": "pedido", "value": "A-{{contact.city}}"}),
            ("text", "send_message", {"text": "Olá {{name}}, pedido {{pedido}} {{unknown}}"}),
            ("media", "send_message", {"media_url": "https://cdn.example.com/{{pedido}}.pdf", "text": "Boleto"}),
            (
                "tpl",
                "send_message",
                {
                    "template": {
                        "name": "aviso",
                        "language": "pt_BR",
                        "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{name}}"}]}],
                    }
                },
            ),
            edges=[("start", "set"), ("set", "text"), ("text", "media"), ("media", "tpl")],
        ),
        contact={"name": "Ana", "fields": {"city": "Santos"}},
    )
    assert turn() == ["Olá Ana, pedido A-Santos ", "Boleto", None]
    replies = turn.last["replies"]
    assert replies[1]["media_url"] == "https://cdn.example.com/A-Santos.pdf"
    assert replies[2]["template"]["components"][0]["parameters"][0]["text"] == "Ana"
    assert turn.last["status"] == FlowRun.Status.FINISHED


def test_menu_numbered_text_and_list_for_many_options(console):
    options = [{"id": f"o{n}", "label": f"Opção {n}"} for n in range(1, 5)]
    flow_graph = graph(
        ("start", "start", {}),
        ("menu", "menu", {"text": "Escolha", "options": options, "retries": 1, "error_text": "Não entendi"}),
        ("three", "send_message", {"text": "três"}),
        ("fallback", "send_message", {"text": "humano"}),
        edges=[("start", "menu"), ("menu", "three", "o3"), ("menu", "fallback", "fallback")],
    )
    turn = console(flow_graph, contact={"interactive": True})
    assert turn() == ["Escolha\n*1* - Opção 1\n*2* - Opção 2\n*3* - Opção 3\n*4* - Opção 4"]
    interactive = turn.last["replies"][0]["interactive"]
    assert interactive["type"] == "list"
    assert [row["id"] for row in interactive["action"]["sections"][0]["rows"]] == ["o1", "o2", "o3", "o4"]
    assert turn("9")[0].startswith("Não entendi\n\nEscolha")
    assert turn("opção 3") == ["três"]

    turn = console(flow_graph)
    turn()
    turn("x")
    assert turn("y") == ["humano"]  # retries exhausted → fallback
    # An option without an edge ends the flow.
    turn = console(flow_graph)
    turn()
    assert turn("1") == []
    assert turn.last["status"] == FlowRun.Status.FINISHED


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"source": "variable", "field": "total", "operator": "greater", "value": "100"}, True),
        ({"source": "variable", "field": "total", "operator": "less", "value": "100"}, False),
        ({"source": "contact_field", "field": "city", "operator": "equals", "value": "santos"}, True),
        ({"source": "contact", "field": "name", "operator": "starts_with", "value": "An"}, True),
        ({"source": "contact", "field": "email", "operator": "empty"}, True),
        ({"source": "tag", "operator": "has", "value": "VIP"}, True),
        ({"source": "tag", "operator": "not_has", "value": "vip"}, False),
        ({"source": "message", "operator": "contains", "value": "boleto"}, True),
        ({"source": "message", "operator": "regex", "value": r"^\d+$"}, False),
        ({"source": "business_hours", "operator": "open"}, True),  # no schedule: always open
    ],
)
def test_condition_sources(console, rule, expected):
    turn = console(
        graph(
            ("start", "start", {}),
            ("total", "set_variable", {"name": "total", "value": 150}),
            ("if", "condition", {"rules": [rule]}),
            ("yes", "send_message", {"text": "sim"}),
            ("no", "send_message", {"text": "não"}),
            edges=[("start", "total"), ("total", "if"), ("if", "yes", "true"), ("if", "no", "false")],
        ),
        contact={"name": "Ana", "fields": {"city": "Santos"}, "tags": ["vip"]},
    )
    assert turn("quero a 2ª via do boleto") == ["sim" if expected else "não"]


def test_condition_all_and_any(console):
    rules = [
        {"source": "message", "operator": "equals", "value": "a"},
        {"source": "message", "operator": "equals", "value": "b"},
    ]
    for match, expected in (("all", "não"), ("any", "sim")):
        turn = console(
            graph(
                ("start", "start", {}),
                ("if", "condition", {"match": match, "rules": rules}),
                ("yes", "send_message", {"text": "sim"}),
                ("no", "send_message", {"text": "não"}),
                edges=[("start", "if"), ("if", "yes", "true"), ("if", "no", "false")],
            )
        )
        assert turn("a") == [expected]


@pytest.mark.parametrize(
    ("actual", "operator", "expected", "result"),
    [
        ("10", "equals", "10.0", True),
        ("Olá", "equals", "olá", True),
        ("abc", "not_equals", "abd", True),
        ("R$ 10", "greater", "5", False),  # not a number: no comparison
        ("9,5", "less", "10", True),
        ("", "empty", None, True),
        (None, "not_empty", None, False),
        ("pedido 123", "ends_with", "123", True),
        ("Pedido Atrasado", "contains", "atras", True),
        ("Pedido Atrasado", "starts_with", "pedido", True),
        ("Pedido Atrasado", "starts_with", "atrasado", False),
        ("1.234,50", "greater", "1000", True),
        ("x", "regex", "(", False),  # a broken pattern is false, not an error
    ],
)
def test_compare(actual, operator, expected, result):
    assert compare(actual, operator, expected) is result


def test_randomizer_follows_the_weights(console):
    flow_graph = graph(
        ("start", "start", {}),
        (
            "ab",
            "randomizer",
            {"branches": [{"id": "a", "weight": 1}, {"id": "b", "weight": 1}, {"id": "c", "weight": 0}]},
        ),
        ("A", "send_message", {"text": "A"}),
        ("B", "send_message", {"text": "B"}),
        ("C", "send_message", {"text": "C"}),
        edges=[("start", "ab"), ("ab", "A", "a"), ("ab", "B", "b"), ("ab", "C", "c")],
    )
    seen = []
    for seed in range(40):
        turn = console(flow_graph, seed=seed)
        seen += turn()
    assert set(seen) == {"A", "B"}
    assert 10 <= seen.count("A") <= 30


def test_wait_in_the_console_is_fired_on_demand(console):
    turn = console(
        graph(
            ("start", "start", {}),
            ("wait", "wait", {"seconds": 3600}),
            ("back", "send_message", {"text": "voltei"}),
            edges=[("start", "wait"), ("wait", "back")],
        )
    )
    assert turn() == []
    assert turn.last["replies"][0]["type"] == "wait"
    assert turn("oi?") == []  # still waiting
    assert turn(fire_timer=True) == ["voltei"]


def test_console_records_actions_without_doing_them(console, tenant):
    turn = console(
        graph(
            ("start", "start", {}),
            ("tag", "tag", {"tag": "lead"}),
            ("field", "set_variable", {"target": "contact_field", "name": "city", "value": "Santos"}),
            ("human", "handoff", {"queue_id": None}),
            edges=[("start", "tag"), ("tag", "field"), ("field", "human")],
        )
    )
    turn()
    assert [reply["type"] for reply in turn.last["replies"]] == ["tag", "contact_set", "handoff"]
    assert turn.last["status"] == FlowRun.Status.HANDED_OVER
    from crm.models import Tag

    with tenant_context(tenant):
        assert not Tag.objects.filter(name="lead").exists()


def test_go_to_a_missing_flow_fails_with_a_trace(console):
    turn = console(
        graph(("start", "start", {}), ("jump", "go_to_flow", {"flow_id": 999999}), edges=[("start", "jump")])
    )
    turn()
    assert turn.last["status"] == FlowRun.Status.FAILED
    assert turn.last["trace"][-1]["output"]["error"] == "flow_not_published"


def test_a_flow_that_jumps_to_itself_hits_the_loop_guard(console, tenant, settings):
    settings.FLOWS_MAX_STEPS_PER_EVENT = 7
    turn = console(graph(("start", "start", {})))
    with tenant_context(tenant):
        flow = turn.flow
        services.flow_version_save(
            flow=flow,
            graph=graph(
                ("start", "start", {}), ("jump", "go_to_flow", {"flow_id": flow.pk}), edges=[("start", "jump")]
            ),
            actor=None,
        )
        services.flow_publish(flow=flow)
    turn()
    assert turn.last["status"] == FlowRun.Status.FAILED
    assert turn.last["trace"][-1]["output"]["error"] == "loop_guard"
