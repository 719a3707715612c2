"""`manage.py seed_load` at a small scale: counts, invariants, consistent denormalized fields, and a
seeded tenant that the API and the inbound services work with."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Max, Q

from accounts.models import Membership, Role, User
from bench.seeding import split
from crm.models import Contact
from tenants.context import tenant_context
from tenants.models import Tenant
from tickets.models import Message, TenantSequence, Ticket
from tickets.sequences import ticket_protocol_next

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    call_command("seed_load", tenants=2, tickets=200, messages=1000, contacts=100, stdout=StringIO())
    return list(Tenant.objects.filter(slug__startswith="load-").order_by("slug"))


def test_the_totals_are_split_with_one_big_tenant():
    assert split(100_000, 5) == [60_000, 10_000, 10_000, 10_000, 10_000]
    assert split(7, 3) == [4, 2, 1]
    assert split(10, 1) == [10]


def test_counts_and_spread(seeded):
    big, small = seeded
    assert [t.slug for t in seeded] == ["load-1", "load-2"]
    assert Ticket.all_tenants.count() == 200
    assert Message.all_tenants.count() == 1000
    assert Contact.all_tenants.count() == 100
    assert Ticket.all_tenants.filter(tenant=big).count() == 120
    assert Message.all_tenants.filter(tenant=big).count() == 600
    roles = dict(
        Membership.all_tenants.filter(tenant=big).values_list("role").annotate(n=Count("id")).values_list("role", "n")
    )
    assert roles == {Role.ADMIN: 1, Role.SUPERVISOR: 2, Role.AGENT: 3}
    statuses = dict(Ticket.all_tenants.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    assert statuses["closed"] > 150 and statuses.get("open", 0) + statuses.get("pending", 0) >= 2
    assert Message.all_tenants.values("type").distinct().count() >= 5
    assert not Ticket.all_tenants.filter(messages__isnull=True).exists()


def test_invariants_and_denormalized_fields(seeded):
    # One active ticket per contact and connection (the database enforces it; say it plainly).
    active = Ticket.all_tenants.exclude(status="closed").values("contact_id", "connection_id")
    assert not active.annotate(n=Count("id")).filter(n__gt=1).exists()
    # Tickets and messages stay inside their tenant.
    assert not Message.all_tenants.exclude(tenant_id=F("ticket__tenant_id")).exists()
    assert not Ticket.all_tenants.exclude(tenant_id=F("contact__tenant_id")).exists()
    for ticket in Ticket.all_tenants.annotate(last=Max("messages__sent_at")):
        assert ticket.last_message_at == ticket.last
        assert ticket.last_message_preview
        if ticket.status == "closed":
            assert ticket.closed_at >= ticket.last_message_at and ticket.unread_count == 0
        else:
            assert ticket.assignee_id is None if ticket.status == "pending" else ticket.assignee_id
    for contact in Contact.all_tenants.annotate(last=Max("tickets__last_message_at")):
        assert contact.last_message_at == contact.last
    for tenant in seeded:
        highest = Ticket.all_tenants.filter(tenant=tenant).aggregate(p=Max("protocol"))["p"]
        assert TenantSequence.all_tenants.get(tenant=tenant).value == highest
        with tenant_context(tenant):
            assert ticket_protocol_next(tenant=tenant) == highest + 1


def test_a_seeded_tenant_works_through_the_api(seeded, client_for):
    big = seeded[0]
    agent = User.objects.get(email="agent1@load-1.bench.prosa.local")
    supervisor = User.objects.get(email="supervisor1@load-1.bench.prosa.local")
    assert agent.check_password("bench-load-2026")
    response = client_for(supervisor, big).get("/api/v1/tickets/", {"page_size": 100})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 120
    # An agent sees their own tickets and the pending ones of their queues (or of no queue).
    visible = Ticket.all_tenants.filter(tenant=big).filter(Q(status="pending") | Q(assignee=agent))
    body = client_for(agent, big).get("/api/v1/tickets/", {"page_size": 100}).json()
    assert 0 < body["count"] <= visible.count()
    ticket_id = body["results"][0]["id"]
    messages = client_for(agent, big).get(f"/api/v1/tickets/{ticket_id}/messages/")
    assert messages.status_code == 200 and messages.json()["results"]


def test_a_second_run_is_refused(seeded):
    with pytest.raises(CommandError, match="already has seeded tenants"):
        call_command("seed_load", tenants=1, tickets=10, messages=10, contacts=5)
    assert Ticket.all_tenants.count() == 200
