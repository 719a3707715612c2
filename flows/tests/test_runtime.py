"""Flows on real tickets: customer messages through the signed webhook, the engine in the Celery
task (eager), bot messages delivered to the fake Graph API, run state in PostgreSQL."""

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from crm.tests.factories import ContactFieldDefinitionFactory, TagFactory
from flows import services
from flows.models import Flow, FlowRun, FlowTrace
from flows.tasks import flows_tick
from flows.tests.graphs import graph
from tenants.context import tenant_context
from tickets import services as ticket_services
from tickets.models import Message, Ticket
from tickets.tests.factories import MessageFactory, QueueFactory, TicketFactory

pytestmark = pytest.mark.django_db

ASK_EMAIL = graph(
    ("start", "start", {}),
    ("ask", "ask", {"text": "Seu e-mail?", "variable": "email", "validation": "email", "retries": 1}),
    ("thanks", "send_message", {"text": "Obrigado, {{contact.name}}: {{email}}"}),
    ("sorry", "send_message", {"text": "Vou chamar alguém."}),
    edges=[("start", "ask"), ("ask", "thanks"), ("ask", "sorry", "fallback")],
)


def test_a_keyword_starts_the_flow_which_asks_and_saves_the_answer(
    say, publish, bot_texts, the_run, the_ticket, tenant
):
    publish(ASK_EMAIL)
    say("oi")
    assert bot_texts() == ["Seu e-mail?"]
    run = the_run()
    assert (run.status, run.awaiting, run.current_node) == (FlowRun.Status.WAITING, "input", "ask")
    assert the_ticket().is_bot is True

    say("Maria@Example.com")
    run = the_run()
    assert bot_texts() == ["Seu e-mail?", "Obrigado, Maria Souza: maria@example.com"]
    assert run.status == FlowRun.Status.FINISHED
    assert run.variables["email"] == "maria@example.com"
    assert the_ticket().is_bot is False  # the flow ended: the ticket is people's again
    with tenant_context(tenant):
        traced = list(FlowTrace.objects.filter(run=run).values_list("node_type", flat=True))
    assert traced == ["start", "ask", "ask", "send_message"]


def test_an_invalid_answer_is_retried_then_takes_the_fallback(say, publish, bot_texts, the_run):
    publish(ASK_EMAIL)
    say("oi")
    say("não tenho")
    assert bot_texts()[-1] == "Desculpe, não entendi.\n\nSeu e-mail?"
    say("nada")
    assert bot_texts()[-1] == "Vou chamar alguém."
    assert the_run().status == FlowRun.Status.FINISHED


def test_the_bot_messages_reach_whatsapp(say, publish, fake_graph, the_ticket):
    publish(ASK_EMAIL)
    say("oi")
    sent = [
        r.json() for r in fake_graph.requests_to("POST", fake_graph.messages_path) if r.json().get("type") == "text"
    ]
    assert [body["text"]["body"] for body in sent] == ["Seu e-mail?"]
    with tenant_context(the_ticket().tenant):
        assert Message.objects.get(sender_type=Message.SenderType.BOT).status == "sent"


def test_a_new_ticket_flow_replaces_the_greeting_and_queue_menu(say, publish, bot_texts, tenant, cloud_connection):
    cloud_connection.greeting_message = "Bem-vindo!"
    cloud_connection.save(update_fields=["greeting_message"])
    QueueFactory(tenant=tenant, name="Vendas")
    QueueFactory(tenant=tenant, name="Suporte")
    publish(
        graph(("start", "start", {}), ("hi", "send_message", {"text": "Sou o robô"}), edges=[("start", "hi")]),
        trigger_type=Flow.Trigger.NEW_TICKET,
        trigger_config={"connections": [cloud_connection.pk]},
    )
    say("bom dia")
    assert bot_texts() == ["Sou o robô"]
    with tenant_context(tenant):
        assert not Message.objects.filter(sender_type=Message.SenderType.SYSTEM).exists()


def test_without_a_matching_trigger_routing_is_unchanged(say, publish, bot_texts, tenant, cloud_connection):
    cloud_connection.greeting_message = "Bem-vindo!"
    cloud_connection.save(update_fields=["greeting_message"])
    publish(ASK_EMAIL)  # keyword "oi"
    say("bom dia")
    assert bot_texts() == []
    with tenant_context(tenant):
        assert list(Message.objects.filter(sender_type="system").values_list("text", flat=True)) == ["Bem-vindo!"]
        assert not FlowRun.objects.exists()


def test_a_queue_menu_option_starts_its_flow(say, publish, bot_texts, tenant, the_ticket):
    QueueFactory(tenant=tenant, name="Vendas", menu_order=1)
    support = QueueFactory(tenant=tenant, name="Suporte", menu_order=2)
    publish(
        graph(("start", "start", {}), ("hi", "send_message", {"text": "Suporte automático"}), edges=[("start", "hi")]),
        trigger_type=Flow.Trigger.QUEUE_MENU_OPTION,
        trigger_config={"queues": [support.pk]},
    )
    say("olá")  # the queue menu
    say("2")
    assert bot_texts() == ["Suporte automático"]
    assert the_ticket().queue == support


def test_menu_sends_buttons_on_cloud_and_follows_the_tapped_option(say, publish, bot_texts, fake_graph, the_run):
    publish(
        graph(
            ("start", "start", {}),
            (
                "menu",
                "menu",
                {
                    "text": "Escolha:",
                    "variable": "choice",
                    "options": [{"id": "buy", "label": "Comprar"}, {"id": "help", "label": "Ajuda"}],
                },
            ),
            ("bought", "send_message", {"text": "Vamos às compras ({{choice}})"}),
            ("helped", "send_message", {"text": "Ajuda a caminho"}),
            edges=[("start", "menu"), ("menu", "bought", "buy"), ("menu", "helped", "help")],
        )
    )
    say("oi")
    interactive = [
        r.json() for r in fake_graph.requests_to("POST", fake_graph.messages_path) if r.json()["type"] == "interactive"
    ]
    assert len(interactive) == 1
    buttons = interactive[0]["interactive"]["action"]["buttons"]
    assert [(b["reply"]["id"], b["reply"]["title"]) for b in buttons] == [("buy", "Comprar"), ("help", "Ajuda")]
    assert bot_texts() == ["Escolha:\n*1* - Comprar\n*2* - Ajuda"]  # the inbox shows the numbered text

    say("Ajuda", reply_id="help")
    assert bot_texts()[-1] == "Ajuda a caminho"
    assert the_run().variables["choice"] == "Ajuda"


def test_set_contact_field_tag_and_untag_change_the_contact(say, publish, tenant, the_ticket):
    ContactFieldDefinitionFactory(tenant=tenant, key="city", label="Cidade")
    TagFactory(tenant=tenant, name="lead")
    publish(
        graph(
            ("start", "start", {}),
            ("city", "set_variable", {"target": "contact_field", "name": "city", "value": "Santos"}),
            ("vip", "tag", {"tag": "VIP"}),
            ("unlead", "tag", {"tag": "lead", "action": "remove"}),
            edges=[("start", "city"), ("city", "vip"), ("vip", "unlead")],
        )
    )
    with tenant_context(tenant):
        from crm.models import Contact, Tag

        contact = Contact.objects.create(phone="+5511987650001", wa_id="5511987650001", name="Maria")
        contact.tags.add(Tag.objects.get(name="lead"))
    say("oi")
    with tenant_context(tenant):
        contact = the_ticket().contact
        contact.refresh_from_db()
        assert contact.custom_fields == {"city": "Santos"}
        assert sorted(contact.tags.values_list("name", flat=True)) == ["VIP"]


def test_condition_on_tags_and_business_hours(say, publish, bot_texts, tenant):
    tenant.business_hours = {"mon": [["00:00", "00:01"]]}  # practically always closed
    tenant.save(update_fields=["business_hours"])
    publish(
        graph(
            ("start", "start", {}),
            ("hours", "condition", {"rules": [{"source": "business_hours", "operator": "open"}]}),
            ("open", "send_message", {"text": "Aberto"}),
            ("closed", "send_message", {"text": "Fechado"}),
            edges=[("start", "hours"), ("hours", "open", "true"), ("hours", "closed", "false")],
        )
    )
    say("oi")
    assert bot_texts() == ["Fechado"]


def test_handoff_puts_the_ticket_in_the_queue_for_people(say, publish, tenant, the_ticket, the_run, bot_texts):
    queue = QueueFactory(tenant=tenant, name="Financeiro")
    publish(
        graph(
            ("start", "start", {}),
            ("human", "handoff", {"queue_id": queue.pk, "text": "Um atendente já vem"}),
            edges=[("start", "human")],
        )
    )
    say("oi")
    ticket = the_ticket()
    assert (ticket.queue, ticket.status, ticket.is_bot) == (queue, Ticket.Status.PENDING, False)
    assert the_run().status == FlowRun.Status.HANDED_OVER
    assert bot_texts() == ["Um atendente já vem"]


def test_handoff_to_a_person_assigns_the_ticket_to_them(say, publish, admin_user, the_ticket, the_run, bot_texts):
    publish(
        graph(
            ("start", "start", {}),
            ("person", "handoff", {"user_id": admin_user.pk, "text": "A Ana já te atende"}),
            edges=[("start", "person")],
        )
    )
    say("oi")
    ticket = the_ticket()
    assert (ticket.assignee, ticket.is_bot) == (admin_user, False)
    assert the_run().status == FlowRun.Status.HANDED_OVER
    assert bot_texts() == ["A Ana já te atende"]


@pytest.mark.parametrize(
    ("trigger_config", "text", "starts"),
    [
        ({"keywords": ["oi"], "match": "exact"}, "  OI ", True),
        ({"keywords": ["oi"], "match": "exact"}, "oi, tudo bem?", False),
        ({"keywords": ["boleto"], "match": "contains"}, "Quero a segunda via do BOLETO", True),
        ({"keywords": [r"^pedido\s*#?\d+$"], "match": "regex"}, "Pedido #1234", True),
        ({"keywords": [r"^pedido\s*#?\d+$"], "match": "regex"}, "meu pedido atrasou", False),
    ],
)
def test_keyword_triggers_match_exactly_by_containment_or_by_regex(
    say, publish, bot_texts, trigger_config, text, starts
):
    publish(graph(("start", "start", {}), ("hi", "send_message", {"text": "Olá!"}), edges=[("start", "hi")]),
            trigger_config=trigger_config)  # fmt: skip
    say(text)
    assert bot_texts() == (["Olá!"] if starts else [])


def test_ai_reply_without_an_ai_agent_hands_over_with_a_clear_trace(say, publish, the_run, the_ticket, tenant):
    publish(graph(("start", "start", {}), ("ai", "ai_reply", {}), edges=[("start", "ai")]))
    say("oi")
    run = the_run()
    assert run.status == FlowRun.Status.HANDED_OVER
    assert the_ticket().is_bot is False
    with tenant_context(tenant):
        trace = FlowTrace.objects.get(run=run, node_type="ai_reply")
    assert trace.output["error"] == "ai_not_available"


def test_close_ticket_closes_it(say, publish, the_ticket, the_run):
    publish(graph(("start", "start", {}), ("bye", "close_ticket", {"send_farewell": False}), edges=[("start", "bye")]))
    say("oi")
    assert the_ticket().status == Ticket.Status.CLOSED
    assert the_run().status == FlowRun.Status.FINISHED


def test_go_to_flow_continues_in_the_other_flows_published_version(say, publish, bot_texts, the_run):
    other = publish(
        graph(("start", "start", {}), ("b", "send_message", {"text": "Fluxo B"}), edges=[("start", "b")]),
        trigger_type=Flow.Trigger.MANUAL,
        name="B",
    )
    publish(graph(("start", "start", {}), ("jump", "go_to_flow", {"flow_id": other.pk}), edges=[("start", "jump")]))
    say("oi")
    assert bot_texts() == ["Fluxo B"]
    run = the_run()
    assert (run.flow_id, run.status) == (other.pk, FlowRun.Status.FINISHED)


def test_http_request_posts_a_templated_body_and_maps_the_response(say, publish, bot_texts, http_server, the_run):
    http_server.respond("POST", "/hook", json={"order": {"status": "enviado", "items": [{"sku": "A1"}]}})
    publish(
        graph(
            ("start", "start", {}),
            (
                "call",
                "http_request",
                {
                    "url": http_server.url + "/hook",
                    "method": "POST",
                    "headers": {"X-Customer": "{{contact.name}}"},
                    "body": {"phone": "{{contact.phone}}", "text": "{{last_message}}", "n": 1},
                    "timeout": 5,
                    "save": {"status": "order.status", "sku": "order.items.0.sku"},
                    "status_variable": "http_status",
                },
            ),
            ("ok", "send_message", {"text": "Pedido {{status}} ({{sku}})"}),
            ("ko", "send_message", {"text": "Falhou"}),
            edges=[("start", "call"), ("call", "ok", "success"), ("call", "ko", "error")],
        )
    )
    say("oi")
    assert bot_texts() == ["Pedido enviado (A1)"]
    request = http_server.requests_to("POST", "/hook")[0]
    assert request.json() == {"phone": "5511987650001", "text": "oi", "n": 1}
    assert request.headers["x-customer"] == "Maria Souza"
    assert the_run().variables["http_status"] == 200


def test_http_request_timeout_takes_the_error_edge(say, publish, bot_texts, http_server):
    http_server.respond("GET", "/slow", json={}, delay=2)
    publish(
        graph(
            ("start", "start", {}),
            ("call", "http_request", {"url": http_server.url + "/slow", "method": "GET", "timeout": 0.3}),
            ("ok", "send_message", {"text": "Ok"}),
            ("ko", "send_message", {"text": "Falhou"}),
            edges=[("start", "call"), ("call", "ok", "success"), ("call", "ko", "error")],
        )
    )
    say("oi")
    assert bot_texts() == ["Falhou"]


WAIT = graph(
    ("start", "start", {}),
    ("hold", "send_message", {"text": "Um momento"}),
    ("wait", "wait", {"seconds": 600}),
    ("back", "send_message", {"text": "Voltei"}),
    edges=[("start", "hold"), ("hold", "wait"), ("wait", "back")],
)


def test_a_wait_survives_a_restart_and_the_beat_resumes_it(say, publish, bot_texts, the_run, tenant):
    publish(WAIT)
    say("oi")
    run = the_run()
    assert (run.status, run.awaiting) == (FlowRun.Status.WAITING, "timer")
    assert bot_texts() == ["Um momento"]  # the eager ETA task ran at once and found the timer not due

    flows_tick()  # a beat tick before the time: nothing
    assert bot_texts() == ["Um momento"]

    # "Restart": nothing in memory; only the row says when to continue. Time passes.
    with tenant_context(tenant):
        FlowRun.objects.filter(pk=run.pk).update(wait_until=timezone.now() - timedelta(seconds=1))
    assert flows_tick() == 1
    assert bot_texts() == ["Um momento", "Voltei"]
    assert the_run().status == FlowRun.Status.FINISHED
    flows_tick()
    assert bot_texts() == ["Um momento", "Voltei"]


def test_a_message_during_a_wait_does_not_end_it(say, publish, bot_texts, the_run):
    publish(WAIT)
    say("oi")
    say("alô?")
    run = the_run()
    assert (run.status, run.awaiting, run.variables["last_message"]) == (FlowRun.Status.WAITING, "timer", "alô?")
    assert bot_texts() == ["Um momento"]


def test_the_loop_guard_stops_a_flow_that_never_waits(say, publish, the_run, the_ticket, settings, tenant):
    settings.FLOWS_MAX_STEPS_PER_EVENT = 10
    publish(
        graph(
            ("start", "start", {}),
            ("a", "set_variable", {"name": "n", "value": "x"}),
            ("b", "condition", {"rules": [{"source": "variable", "field": "n", "operator": "equals", "value": "x"}]}),
            edges=[("start", "a"), ("a", "b"), ("b", "a", "true")],
        )
    )
    say("oi")
    run = the_run()
    assert run.status == FlowRun.Status.FAILED
    assert run.step_count == 10
    assert "10 passos" in run.error
    assert the_ticket().is_bot is False
    with tenant_context(tenant):
        assert FlowTrace.objects.filter(run=run, node_type="error", output__error="loop_guard").count() == 1


def test_an_agent_taking_the_ticket_stops_the_flow(
    say, publish, bot_texts, the_run, the_ticket, agent_user, tenant, django_capture_on_commit_callbacks
):
    publish(ASK_EMAIL)
    say("oi")
    with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
        ticket_services.ticket_accept(ticket=the_ticket(), actor=agent_user)
    run = the_run()
    assert run.status == FlowRun.Status.HANDED_OVER
    assert the_ticket().is_bot is False
    say("maria@example.com")  # goes to the agent, not the bot
    assert bot_texts() == ["Seu e-mail?"]
    assert the_run().status == FlowRun.Status.HANDED_OVER


def test_an_agent_reply_also_takes_over(
    say, publish, bot_texts, the_run, the_ticket, agent_user, tenant, django_capture_on_commit_callbacks
):
    publish(ASK_EMAIL)
    say("oi")
    with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
        ticket = the_ticket()
        ticket_services.message_send(ticket=ticket, author=agent_user, text="Oi, sou a Ana", check_permission=False)
    assert the_run().status == FlowRun.Status.HANDED_OVER  # at once: the reply cleared is_bot
    assert the_ticket().is_bot is False
    say("maria@example.com")
    assert the_run().status == FlowRun.Status.HANDED_OVER
    assert bot_texts() == ["Seu e-mail?"]


def test_each_message_is_processed_once_however_often_the_task_runs(say, publish, bot_texts, the_run, tenant):
    publish(ASK_EMAIL)
    say("oi")
    say("errado")
    for _ in range(3):
        with tenant_context(tenant):
            services.flow_run_advance(run_id=the_run().pk)
    assert bot_texts() == ["Seu e-mail?", "Desculpe, não entendi.\n\nSeu e-mail?"]
    assert the_run().retries == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_ticket_process_each_message_exactly_once(tenant, admin_user, cloud_connection):
    """Two customer messages arrive while the run waits; two workers advance the same run at the
    same moment on their own database connections."""
    flow = None
    with tenant_context(tenant):
        flow = services.flow_create(
            tenant=tenant, actor=admin_user, name="Pedidos", trigger_type=Flow.Trigger.MANUAL,
            graph=graph(
                ("start", "start", {}),
                (
                    "ask",
                    "ask",
                    {"text": "Número do pedido?", "variable": "order", "validation": "number", "retries": 5},
                ),
                ("done", "send_message", {"text": "Pedido {{order}}"}),
                edges=[("start", "ask"), ("ask", "done")],
            ),
        )  # fmt: skip
        services.flow_publish(flow=flow)
        ticket = TicketFactory(tenant=tenant, connection=cloud_connection)
        first = MessageFactory(tenant=tenant, ticket=ticket, text="oi")
        Ticket.objects.filter(pk=ticket.pk).update(last_inbound_at=timezone.now())
        ticket.refresh_from_db()
        run = services.flow_run_start(flow=flow, ticket=ticket, trigger="manual", message=first)
        services.flow_run_advance(run_id=run.pk)
        MessageFactory(tenant=tenant, ticket=ticket, text="não sei")
        MessageFactory(tenant=tenant, ticket=ticket, text="42")

    barrier = threading.Barrier(2)
    errors = []

    def work():
        try:
            with tenant_context(tenant):
                barrier.wait(timeout=5)
                services.flow_run_advance(run_id=run.pk)
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    with tenant_context(tenant):
        run.refresh_from_db()
        texts = list(Message.objects.filter(sender_type="bot").order_by("id").values_list("text", flat=True))
        answers = FlowTrace.objects.filter(run=run, node_type="ask", input__has_key="text").count()
    assert texts == ["Número do pedido?", "Desculpe, não entendi.\n\nNúmero do pedido?", "Pedido 42"]
    assert answers == 2
    assert (run.status, run.variables["order"]) == (FlowRun.Status.FINISHED, 42)


def test_http_request_to_a_private_address_is_refused_unless_allowed(
    say, publish, bot_texts, http_server, settings, tenant, the_run
):
    settings.FLOWS_HTTP_ALLOW_PRIVATE_URLS = False
    publish(
        graph(
            ("start", "start", {}),
            ("call", "http_request", {"url": http_server.url + "/hook"}),
            ("ko", "send_message", {"text": "Falhou"}),
            edges=[("start", "call"), ("call", "ko", "error")],
        )
    )
    say("oi")
    assert bot_texts() == ["Falhou"]
    assert http_server.requests == []
    with tenant_context(tenant):
        assert FlowTrace.objects.get(run=the_run(), node_type="http_request").output == {"error": "url_not_allowed"}


def test_a_reply_to_a_campaign_starts_its_flow(say, publish, bot_texts, tenant, cloud_connection, the_run):
    from campaigns.models import RecipientStatus
    from campaigns.tests.factories import CampaignFactory, CampaignRecipientFactory
    from crm.tests.factories import ContactFactory

    campaign = CampaignFactory(tenant=tenant, connection=cloud_connection)
    contact = ContactFactory(tenant=tenant, wa_id="5511987650001", phone="+5511987650001")
    CampaignRecipientFactory(
        tenant=tenant, campaign=campaign, contact=contact, status=RecipientStatus.SENT, sent_at=timezone.now()
    )
    publish(
        graph(("start", "start", {}), ("offer", "send_message", {"text": "Quer o cupom?"}), edges=[("start", "offer")]),
        trigger_type=Flow.Trigger.CAMPAIGN_REPLY,
        trigger_config={"campaigns": [campaign.pk]},
    )
    say("tenho interesse")
    assert bot_texts() == ["Quer o cupom?"]
    assert the_run().trigger == "campaign_reply"
    say("sim")  # a second reply is no campaign reply: the finished flow does not start again
    assert bot_texts() == ["Quer o cupom?"]


def test_inactivity_starts_a_flow_once_per_silence(
    say, publish, bot_texts, tenant, cloud_connection, the_ticket, django_capture_on_commit_callbacks
):
    cloud_connection.greeting_message = "Olá! Já vamos atender."
    cloud_connection.save(update_fields=["greeting_message"])
    publish(
        graph(
            ("start", "start", {}), ("nudge", "send_message", {"text": "Ainda está aí?"}), edges=[("start", "nudge")]
        ),
        trigger_type=Flow.Trigger.INACTIVITY,
        trigger_config={"minutes": 30},
    )
    say("oi")  # the greeting answers: we wrote last
    assert flows_tick() == 1  # the tenant has an inactivity flow, but nobody is silent for 30 minutes yet
    assert bot_texts() == []

    def silence(minutes):
        now = timezone.now()
        with tenant_context(tenant):
            Ticket.objects.filter(pk=the_ticket().pk).update(
                last_inbound_at=now - timedelta(minutes=minutes + 1), last_message_at=now - timedelta(minutes=minutes)
            )

    silence(31)
    with django_capture_on_commit_callbacks(execute=True):
        flows_tick()
    assert bot_texts() == ["Ainda está aí?"]
    assert the_ticket().is_bot is False  # the flow ended
    silence(31)
    with django_capture_on_commit_callbacks(execute=True):
        flows_tick()
    assert bot_texts() == ["Ainda está aí?"]  # once per silence
