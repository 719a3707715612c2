"""The supervisors' console: home page, workspace settings, connections (status, QR code, test),
contact import, ticket bulk actions. The scoping of every page is swept in test_admin_scoping."""

import re

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Role
from crm.models import Contact, ContactImport
from tenants.context import tenant_context
from tenants.models import Tenant
from tenants.selectors import SESSION_TENANT_KEY
from tenants.tests.factories import TenantFactory
from tickets.models import Ticket, TicketEvent
from tickets.tests.factories import QueueFactory, TicketFactory
from whatsapp.choices import ConnectionStatus
from whatsapp.models import Connection
from whatsapp.tests.factories import ConnectionFactory
from whatsapp.tests.fakes import FakeEvolutionAPI


def _login(client, user, tenant):
    client.force_login(user)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


def _messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def people(tenant, make_member):
    return {
        Role.ADMIN: make_member(tenant, Role.ADMIN, name="Alice Admin"),
        Role.SUPERVISOR: make_member(tenant, Role.SUPERVISOR, name="Sergio Supervisor"),
        Role.AGENT: make_member(tenant, Role.AGENT, name="Ana Agent"),
    }


def _as(client, people, tenant, role):
    return _login(client, people[role], tenant)


# --- Home -------------------------------------------------------------------------------------


def test_the_home_groups_the_work_of_tenant_admins(client, tenant, people):
    response = _as(client, people, tenant, Role.ADMIN).get("/admin/")
    assert response.status_code == 200
    sections = {section["key"]: section for section in response.context["sections"]}
    assert list(sections)[:5] == ["conversations", "whatsapp", "contacts", "team", "settings"]
    names = {key: {model["object_name"] for model in section["models"]} for key, section in sections.items()}
    assert {"Ticket", "Queue", "QuickReply", "ScheduledMessage"} <= names["conversations"]
    assert names["whatsapp"] >= {"Connection", "InboundEvent"}
    assert names["contacts"] >= {"Contact", "Tag", "ContactFieldDefinition", "ContactImport"}
    assert names["team"] == {"User", "Membership", "Invite"}
    body = response.content.decode()
    assert 'href="/inbox/"' in body
    assert f'href="{reverse("admin:dashboard")}"' in body
    assert f'href="{reverse("admin:tenant_settings")}"' in body
    assert "Shared Co" in body  # the workspace's name in the header
    assert "admin-theme/prosa-admin.css" in body


def test_supervisors_get_the_dashboard_but_not_the_settings_link(client, tenant, people):
    body = _as(client, people, tenant, Role.SUPERVISOR).get("/admin/").content.decode()
    assert f'href="{reverse("admin:dashboard")}"' in body
    assert reverse("admin:tenant_settings") not in body


def test_the_admin_loads_nothing_from_outside(client, tenant, people):
    client = _as(client, people, tenant, Role.ADMIN)
    for url in ["/admin/", reverse("admin:dashboard"), reverse("admin:tenant_settings")]:
        body = client.get(url).content.decode()
        assert re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", body) == [], url


# --- Workspace settings ---------------------------------------------------------------------------

HOURS_FORM = {
    "timezone": "America/Manaus",
    "language": "en",
    "auto_close_after_hours": "24",
    "reopen_window_minutes": "30",
    "rating_enabled": "on",
    "hours_mon": "08:00-12:00, 13:00-18:00",
    "hours_tue": "08:00-18:00",
    "hours_wed": "",
    "hours_thu": "",
    "hours_fri": "22:00-06:00",
    "hours_sat": "09:00-13:00",
    "hours_sun": "",
}


def test_admins_edit_the_settings_and_business_hours(client, tenant, people):
    client = _as(client, people, tenant, Role.ADMIN)
    response = client.post(reverse("admin:tenant_settings"), HOURS_FORM)
    assert (response.status_code, response["Location"]) == (302, reverse("admin:tenant_settings"))
    tenant.refresh_from_db()
    assert tenant.business_hours == {
        "mon": [["08:00", "12:00"], ["13:00", "18:00"]],
        "tue": [["08:00", "18:00"]],
        "wed": [],
        "thu": [],
        "fri": [["22:00", "06:00"]],
        "sat": [["09:00", "13:00"]],
        "sun": [],
    }
    assert (tenant.timezone, tenant.language, tenant.auto_close_after_hours) == ("America/Manaus", "en", 24)
    assert (tenant.reopen_window_minutes, tenant.rating_enabled) == (30, True)
    # Shown back as the per-day texts.
    form = client.get(reverse("admin:tenant_settings")).context["form"]
    assert form["hours_mon"].value() == "08:00-12:00, 13:00-18:00"
    assert form["always_open"].value() is False


def test_always_open_clears_the_schedule(client, tenant, people):
    Tenant.objects.filter(pk=tenant.pk).update(business_hours={"mon": [["08:00", "18:00"]]})
    client = _as(client, people, tenant, Role.ADMIN)
    response = client.post(reverse("admin:tenant_settings"), {**HOURS_FORM, "always_open": "on"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.business_hours == {}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"hours_mon": "25:00-26:00"}, "mon: ['25:00', '26:00'] is not a [\"HH:MM\", \"HH:MM\"] pair."),
        ({"hours_mon": "8h to 18h"}, "is not a"),
        ({"timezone": "Mars/Olympus"}, "Select a valid choice."),
        ({**{f"hours_{day}": "" for day in ("mon", "tue", "fri", "sat")}}, "Give the hours of at least one day"),
    ],
)
def test_bad_settings_are_refused_with_a_readable_message(client, tenant, people, changes, error):
    before = Tenant.objects.values().get(pk=tenant.pk)
    client = _as(client, people, tenant, Role.ADMIN)
    response = client.post(reverse("admin:tenant_settings"), {**HOURS_FORM, **changes})
    assert response.status_code == 200
    assert error in response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    assert Tenant.objects.values().get(pk=tenant.pk) == before


def test_supervisors_cannot_change_the_settings(client, tenant, people):
    before = Tenant.objects.values().get(pk=tenant.pk)
    client = _as(client, people, tenant, Role.SUPERVISOR)
    assert client.get(reverse("admin:tenant_settings")).status_code == 403
    assert client.post(reverse("admin:tenant_settings"), HOURS_FORM).status_code == 403
    assert Tenant.objects.values().get(pk=tenant.pk) == before


def test_settings_change_only_the_own_tenant(client, tenant, people):
    other = TenantFactory(slug="settings-other", timezone="Europe/Lisbon")
    _as(client, people, tenant, Role.ADMIN).post(reverse("admin:tenant_settings"), HOURS_FORM)
    other.refresh_from_db()
    assert (other.timezone, other.business_hours) == ("Europe/Lisbon", {})


# --- Connections ----------------------------------------------------------------------------------


@pytest.fixture
def fake_evolution():
    with FakeEvolutionAPI() as server:
        server.add_instance("loja-centro", state="connecting")
        yield server


@pytest.fixture
def evolution(tenant, fake_evolution):
    return ConnectionFactory(
        tenant=tenant, evolution=True, name="Loja Centro", api_base_url=fake_evolution.url,
        instance_name="loja-centro", api_key=fake_evolution.api_key,
    )  # fmt: skip


def test_the_connection_list_shows_status_badges_and_the_qr_link(client, tenant, people, evolution):
    ConnectionFactory(tenant=tenant, name="Cloud", status=ConnectionStatus.CONNECTED)
    body = _as(client, people, tenant, Role.ADMIN).get(reverse("admin:whatsapp_connection_changelist")).content
    body = body.decode()
    assert '<span class="prosa-badge prosa-badge-ok">Connected</span>' in body
    assert '<span class="prosa-badge prosa-badge-bad">Disconnected</span>' in body
    assert reverse("admin:whatsapp_connection_qrcode", args=[evolution.pk]) in body


def test_the_qr_page_polls_until_connected(client, tenant, people, evolution, fake_evolution):
    client = _as(client, people, tenant, Role.ADMIN)
    page = client.get(reverse("admin:whatsapp_connection_qrcode", args=[evolution.pk]))
    assert page.status_code == 200
    poll_url = reverse("admin:whatsapp_connection_qrcode_poll", args=[evolution.pk])
    body = page.content.decode()
    assert f'hx-get="{poll_url}"' in body
    assert "/static/vendor/htmx/htmx.min.js" in body

    waiting = client.get(poll_url).content.decode()
    assert 'src="data:image/png;base64,' in waiting
    assert 'hx-trigger="every 8s"' in waiting  # keeps polling
    evolution.refresh_from_db()
    assert evolution.status == ConnectionStatus.QRCODE

    fake_evolution.instances["loja-centro"] = "open"  # the phone scanned the code
    connected = client.get(poll_url).content.decode()
    assert 'data-status="connected"' in connected
    assert "hx-trigger" not in connected  # polling stops
    evolution.refresh_from_db()
    assert evolution.status == ConnectionStatus.CONNECTED


def test_the_qr_page_says_when_the_server_is_unreachable(client, tenant, people):
    broken = ConnectionFactory(tenant=tenant, evolution=True)  # http://127.0.0.1:1
    body = _as(client, people, tenant, Role.ADMIN).get(
        reverse("admin:whatsapp_connection_qrcode_poll", args=[broken.pk])
    )
    assert 'data-status="error"' in body.content.decode()
    assert 'hx-trigger="every 8s"' in body.content.decode()


def test_the_qr_page_of_a_cloud_or_foreign_connection_is_like_a_missing_one(client, tenant, people):
    cloud = ConnectionFactory(tenant=tenant)
    foreign = ConnectionFactory(tenant=TenantFactory(slug="qr-other"), evolution=True)
    client = _as(client, people, tenant, Role.ADMIN)
    missing = client.get(reverse("admin:whatsapp_connection_qrcode", args=[2_000_000_000]))
    for connection in (cloud, foreign):
        response = client.get(reverse("admin:whatsapp_connection_qrcode", args=[connection.pk]))
        assert (response.status_code, response["Location"]) == (302, missing["Location"])
        poll = client.get(reverse("admin:whatsapp_connection_qrcode_poll", args=[connection.pk]))
        assert poll.status_code == 404


def test_supervisors_can_pair_a_phone(client, tenant, people, evolution, fake_evolution):
    """Re-pairing a phone that lost its session is daily work; changing the connection is not."""
    client = _as(client, people, tenant, Role.SUPERVISOR)
    assert client.get(reverse("admin:whatsapp_connection_qrcode", args=[evolution.pk])).status_code == 200
    assert client.get(reverse("admin:whatsapp_connection_qrcode_poll", args=[evolution.pk])).status_code == 200
    assert client.post(reverse("admin:whatsapp_connection_change", args=[evolution.pk]), {}).status_code == 403


def test_the_test_action_asks_the_provider(client, tenant, people, evolution, fake_evolution):
    fake_evolution.instances["loja-centro"] = "open"
    broken = ConnectionFactory(tenant=tenant, evolution=True, name="Broken")
    client = _as(client, people, tenant, Role.ADMIN)
    response = client.post(
        reverse("admin:whatsapp_connection_changelist"),
        {"action": "test_connections", "_selected_action": [evolution.pk, broken.pk], "index": 0},
    )
    assert response.status_code == 302
    messages = _messages(response)
    assert "Loja Centro works: Connected." in messages
    assert [message for message in messages if message.startswith("Broken: ")] != []
    evolution.refresh_from_db()
    assert evolution.status == ConnectionStatus.CONNECTED


def test_supervisors_cannot_run_the_test_action(client, tenant, people, evolution, fake_evolution):
    client = _as(client, people, tenant, Role.SUPERVISOR)
    client.post(
        reverse("admin:whatsapp_connection_changelist"),
        {"action": "test_connections", "_selected_action": [evolution.pk], "index": 0},
    )
    assert fake_evolution.requests == []
    assert Connection.all_tenants.get(pk=evolution.pk).status == ConnectionStatus.DISCONNECTED


# --- Contacts import -------------------------------------------------------------------------


def test_contacts_are_imported_from_a_csv(client, tenant, people, django_capture_on_commit_callbacks):
    client = _as(client, people, tenant, Role.SUPERVISOR)
    changelist = client.get(reverse("admin:crm_contact_changelist")).content.decode()
    assert reverse("admin:crm_contact_import") in changelist
    upload = SimpleUploadedFile("people.csv", b"name,phone,tags\nMaria,5511987654321,vip\n", "text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:crm_contact_import"), {"file": upload})
    assert (response.status_code, response["Location"]) == (302, reverse("admin:crm_contactimport_changelist"))
    (contact_import,) = ContactImport.all_tenants.filter(tenant=tenant)
    assert (contact_import.status, contact_import.created_count) == ("completed", 1)
    with tenant_context(tenant):
        assert list(Contact.objects.values_list("name", "phone")) == [("Maria", "5511987654321")]


def test_a_csv_without_a_phone_column_is_refused(client, tenant, people):
    client = _as(client, people, tenant, Role.ADMIN)
    upload = SimpleUploadedFile("people.csv", b"name,email\nMaria,m@example.com\n", "text/csv")
    response = client.post(reverse("admin:crm_contact_import"), {"file": upload})
    assert response.status_code == 200
    assert "phone" in str(response.context["form"].errors["file"])
    assert ContactImport.all_tenants.filter(tenant=tenant).count() == 0


def test_agents_cannot_import(client, tenant, people):
    client = _as(client, people, tenant, Role.AGENT)
    response = client.get(reverse("admin:crm_contact_import"))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# --- Tickets ----------------------------------------------------------------------------------


def test_tickets_are_transferred_in_bulk_to_a_queue_and_an_agent(client, tenant, people):
    queue = QueueFactory(tenant=tenant, name="Vendas")
    first, second = TicketFactory(tenant=tenant), TicketFactory(tenant=tenant)
    agent = people[Role.AGENT]
    client = _as(client, people, tenant, Role.SUPERVISOR)
    response = client.post(
        reverse("admin:tickets_ticket_changelist"),
        {"action": "transfer_tickets", "_selected_action": [first.pk, second.pk], "index": 0,
         "queue": queue.pk, "user": agent.pk},
    )  # fmt: skip
    assert response.status_code == 302
    assert _messages(response) == ["2 tickets transferred."]
    rows = Ticket.all_tenants.filter(pk__in=[first.pk, second.pk]).values_list("queue_id", "assignee_id", "status")
    assert set(rows) == {(queue.pk, agent.pk, "open")}
    assert TicketEvent.all_tenants.filter(ticket__in=[first, second], type="transferred").count() == 2


def test_a_transfer_to_another_tenants_queue_or_user_is_refused(client, tenant, people, make_member):
    other = TenantFactory(slug="transfer-other")
    foreign_queue = QueueFactory(tenant=other)
    foreign_user = make_member(other, Role.AGENT)
    ticket = TicketFactory(tenant=tenant)
    client = _as(client, people, tenant, Role.ADMIN)
    response = client.post(
        reverse("admin:tickets_ticket_changelist"),
        {"action": "transfer_tickets", "_selected_action": [ticket.pk], "index": 0,
         "queue": foreign_queue.pk, "user": foreign_user.pk},
    )  # fmt: skip
    # The action form's own choices refuse them before the action runs.
    assert response.status_code in (200, 302)
    ticket.refresh_from_db()
    assert (ticket.queue_id, ticket.assignee_id, ticket.status) == (None, None, "pending")


def test_tickets_are_closed_in_bulk(client, tenant, people):
    tickets = [TicketFactory(tenant=tenant), TicketFactory(tenant=tenant)]
    client = _as(client, people, tenant, Role.SUPERVISOR)
    response = client.post(
        reverse("admin:tickets_ticket_changelist"),
        {"action": "close_tickets", "_selected_action": [t.pk for t in tickets], "index": 0},
    )
    assert _messages(response) == ["2 tickets closed."]
    assert set(Ticket.all_tenants.filter(tenant=tenant).values_list("status", flat=True)) == {"closed"}


def test_the_ticket_page_is_a_read_only_history(client, tenant, people):
    ticket = TicketFactory(tenant=tenant)
    response = _as(client, people, tenant, Role.ADMIN).get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200
    assert response.context["adminform"].form.fields == {}  # every field read-only
    assert [formset.opts.__class__.__name__ for formset in response.context["inline_admin_formsets"]] == [
        "MessageInline",
        "TicketEventInline",
    ]


# --- Queues -----------------------------------------------------------------------------------


def test_queues_list_their_members_and_menu_order(client, tenant, people):
    queue = QueueFactory(tenant=tenant, name="Vendas", menu_order=3)
    queue.members.set([people[Role.AGENT], people[Role.SUPERVISOR]])
    response = _as(client, people, tenant, Role.ADMIN).get(reverse("admin:tickets_queue_changelist"))
    (row,) = response.context["cl"].result_list
    assert (row.name, row.menu_order, row.member_count) == ("Vendas", 3, 2)


def test_queue_members_are_saved_through_the_service(client, tenant, people):
    client = _as(client, people, tenant, Role.ADMIN)
    response = client.post(
        reverse("admin:tickets_queue_add"),
        {"name": "Suporte", "color": "#2563eb", "menu_order": "1", "greeting_message": "",
         "members": [people[Role.AGENT].pk], "auto_assignment": "round_robin", "max_open_per_agent": "3",
         "business_hours": "{}", "_save": "Save"},
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    with tenant_context(tenant):
        from tickets.models import Queue

        queue = Queue.objects.get(name="Suporte")
        assert list(queue.members.values_list("pk", flat=True)) == [people[Role.AGENT].pk]
        assert (queue.auto_assignment, queue.max_open_per_agent) == ("round_robin", 3)
