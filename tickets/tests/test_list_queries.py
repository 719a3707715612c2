"""The ticket list costs a fixed number of SQL queries, whatever the page size, role or filter
(issue 6: "constant query count for any page size"; figures in docs/PERFORMANCE.md)."""

import json
from urllib.parse import urlencode

import pytest

from accounts.models import Role
from crm.tests.factories import ContactFactory, TagFactory
from tenants.context import tenant_context
from tickets.tests.factories import MessageFactory, QueueFactory, TicketFactory

pytestmark = pytest.mark.django_db

TICKETS = "/api/v1/tickets/"

# 1 the token's membership with its user and tenant (JWT) + 1 count + 1 page (contact, queue and
# assignee joined) + 1 the tags of the tickets and of their contacts; an agent's list and any
# search find the page's ids and the count in one statement (what an agent sees, contacts and
# message texts inside it), then load the page by id: the same count. A search by someone who sees
# every ticket first asks whether its words are common (TicketSearch.words_are_common): one more;
# when they are, the next statement is the count and the page's ids (page_ids_and_count: five too).
LIST_QUERIES = 4


@pytest.fixture
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT)


@pytest.fixture
def supervisor(tenant, make_member):
    return make_member(tenant, Role.SUPERVISOR)


@pytest.fixture
def busy_tenant(tenant, agent, supervisor, make_member):
    """110 tickets, each with its own contact, tags on tickets and contacts, several
    queues and assignees: a page of 100 has as many distinct related rows as it can."""
    others = [make_member(tenant, Role.AGENT) for _ in range(3)]
    queues = [QueueFactory() for _ in range(3)]
    for queue in queues:
        queue.members.add(agent, *others)
    tags = [TagFactory() for _ in range(4)]
    for i in range(110):
        status = ("pending", "open", "closed")[i % 3]
        ticket = TicketFactory(
            contact=ContactFactory(name=f"Cliente {i}"),
            status=status,
            queue=queues[i % 3] if i % 10 else None,
            assignee=None if status == "pending" else (agent, supervisor)[i % 2],
        )
        ticket.tags.add(tags[i % 4], tags[(i + 1) % 4])
        ticket.contact.tags.add(tags[i % 4])
        MessageFactory(ticket=ticket, text=f"quero cancelar o pedido {i}")
    returning = ContactFactory(name="Cliente antigo")  # two tickets of one contact, newest first
    returning.tags.add(tags[0])
    for status in ("closed", "open"):
        ticket = TicketFactory(contact=returning, status=status, assignee=agent)
        ticket.tags.add(*tags[:2])
        MessageFactory(ticket=ticket, text="quero cancelar outra vez")
    return tags


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
@pytest.mark.parametrize(
    "filters",
    [{}, {"status": "closed"}, {"assignee": "me", "status": "open"}, {"tag": "first"}, {"q": "cancelar"}],
    ids=["all", "closed", "mine", "tag", "search"],
)
def test_the_ticket_list_costs_the_same_queries_for_any_page_size(
    role, filters, tenant, agent, supervisor, client_for, busy_tenant, django_assert_num_queries
):
    user = agent if role == Role.AGENT else supervisor
    client = client_for(user, tenant)
    if filters.get("tag") == "first":
        filters = {"tag": busy_tenant[0].pk}
    for page_size in (1, 20, 100):
        expected = LIST_QUERIES + (1 if "q" in filters and role == Role.SUPERVISOR else 0)
        with django_assert_num_queries(expected):
            response = client.get(TICKETS, {**filters, "page_size": page_size})
        assert response.status_code == 200, response.content
        body = response.json()
        assert len(body["results"]) == min(page_size, body["count"])
        assert body["count"] > 0


def test_a_search_pages_through_the_same_tickets_in_the_same_order_as_the_list(
    tenant, supervisor, client_for, busy_tenant
):
    """A search is paginated in one pass (config.api.pagination.OnePassPagination: the page's ids
    and the total in one statement): its pages, count and links are those the plain list gives for
    the same tickets, and a page past the end is a 404 with the API's error body."""
    from tickets.models import Ticket

    client = client_for(supervisor, tenant)
    with tenant_context(tenant):
        expected = list(
            Ticket.objects.filter(contact__name__startswith="Cliente 1")
            .order_by("-last_message_at", "-id")
            .values_list("pk", flat=True)
        )
    seen, url, pages = [], TICKETS + "?q=Cliente+1&page_size=7", 0
    while url:
        body = client.get(url).json()
        assert body["count"] == len(expected)
        seen += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    assert seen == expected and pages == -(-len(expected) // 7)
    assert client.get(TICKETS, {"q": "Cliente 1", "page_size": 7, "page": 2}).json()["previous"]
    past = client.get(TICKETS, {"q": "Cliente 1", "page_size": 7, "page": pages + 1})
    assert past.status_code == 404 and past.json()["code"]
    assert client.get(TICKETS, {"q": "Cliente 1", "page": 0}).status_code == 404
    empty = client.get(TICKETS, {"q": "nobody by this name"}).json()
    assert (empty["count"], empty["results"], empty["next"]) == (0, [], None)


@pytest.mark.parametrize(
    "filters",
    [{}, {"status": "closed"}, {"status": "pending"}, {"tag": "first"}],
    ids=["all", "closed", "waiting", "tag"],
)
def test_an_agents_tabs_page_through_what_they_see_in_order(tenant, agent, client_for, busy_tenant, filters):
    """An agent's list is paginated in one pass (TicketPagination.one_pass_when): every page, the
    count and the links are those of the tickets they may see, newest activity first."""
    from tickets import selectors
    from tickets.models import Ticket

    if filters.get("tag") == "first":
        filters = {"tag": busy_tenant[0].pk}
    with tenant_context(tenant):
        visible = Ticket.objects.filter(selectors.ticket_visibility_q(user=agent, role=Role.AGENT))
        if "status" in filters:
            visible = visible.filter(status=filters["status"])
        if "tag" in filters:
            visible = visible.filter(tags=filters["tag"])
        expected = list(visible.order_by("-last_message_at", "-id").values_list("pk", flat=True))
    assert expected  # the fixture gives the agent tickets in every tab
    client = client_for(agent, tenant)
    seen, url = [], TICKETS + "?" + urlencode({**filters, "page_size": 7})
    while url:
        body = client.get(url).json()
        assert body["count"] == len(expected)
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == expected
    assert client.get(TICKETS, {**filters, "page_size": 7, "page": 99}).status_code == 404


def test_a_supervisors_tag_list_pages_through_the_tags_tickets_in_order(tenant, supervisor, client_for, busy_tenant):
    """Whoever sees every ticket gets a tag's list in one pass too, the tag's tickets read by id
    (TicketListFilter.filter_tag): every page, the count and the links are those of the tag."""
    from tickets.models import Ticket

    tag = busy_tenant[0]
    with tenant_context(tenant):
        expected = list(
            Ticket.objects.filter(tags=tag).order_by("-last_message_at", "-id").values_list("pk", flat=True)
        )
    assert len(expected) > 7  # several pages
    client = client_for(supervisor, tenant)
    seen, url = [], TICKETS + "?" + urlencode({"tag": tag.pk, "page_size": 7})
    while url:
        body = client.get(url).json()
        assert body["count"] == len(expected)
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == expected
    last = client.get(TICKETS, {"tag": tag.pk, "page_size": 7, "page": "last"}).json()
    assert [row["id"] for row in last["results"]] == expected[-(len(expected) % 7 or 7) :]


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
@pytest.mark.parametrize("search", ["", "cancelar"])
def test_the_list_renders_the_tags_of_tickets_and_contacts_as_the_serializer_does(
    role, search, tenant, agent, supervisor, client_for, busy_tenant
):
    """The page's tags are read in one statement (tickets.selectors.tickets_load_tags), a search's
    page by one hand-written statement (tickets_by_ids); the payload is what DRF's
    TicketSerializer gives for the same ticket read by the ORM, its tags read lazily, by name."""
    from rest_framework.renderers import JSONRenderer

    from tickets.api.serializers import TicketSerializer
    from tickets.models import Ticket

    user = agent if role == Role.AGENT else supervisor
    params = {"page_size": 100, **({"q": search} if search else {})}
    rows = client_for(user, tenant).get(TICKETS, params).json()["results"]
    assert len(rows) >= 30
    with tenant_context(tenant):
        for row in rows:
            ticket = Ticket.objects.get(pk=row["id"])
            assert row == json.loads(JSONRenderer().render(TicketSerializer(ticket).data))
    assert all(len(row["tags"]) == 2 and len(row["contact"]["tags"]) == 1 for row in rows)
    assert all(row["tags"] == sorted(row["tags"], key=lambda tag: tag["name"]) for row in rows)


def test_loaded_tags_are_read_without_a_query_and_still_mean_the_relation(
    tenant, supervisor, busy_tenant, django_assert_num_queries
):
    from tickets import selectors

    with tenant_context(tenant):
        tickets = list(selectors.ticket_list_for_user(user=supervisor, role=Role.SUPERVISOR)[:10])
        with django_assert_num_queries(0):
            tags = [list(ticket.tags.all()) for ticket in tickets]
            contact_tags = [list(ticket.contact.tags.all()) for ticket in tickets]
        assert all(len(found) == 2 for found in tags) and all(len(found) == 1 for found in contact_tags)
        first, second = tags[0]
        # Narrowing the loaded relation asks the database, within the ticket's own tags.
        assert list(tickets[0].tags.filter(name=second.name)) == [second]
        assert list(tickets[0].tags.exclude(pk=first.pk)) == [second]
        tickets[0].tags.remove(first)  # a write drops what was loaded, as for prefetch_related
        assert list(tickets[0].tags.all()) == [second]


@pytest.mark.parametrize("text", ["cancelar", "quero cancelar", "outra", "cancel pedido"])
def test_a_common_search_pages_through_the_same_tickets_as_a_rare_one(
    text, tenant, supervisor, client_for, busy_tenant, monkeypatch, django_assert_num_queries
):
    """A search over every ticket whose words are all common is counted from the matching ids and,
    when it matches many tickets, walked newest first, in one statement
    (tickets.selectors.TicketSearch.page_ids_and_count): its pages, counts and links are those of
    the one-pass path, found in five queries."""
    from tickets import selectors
    from tickets.models import Ticket

    with tenant_context(tenant):
        TicketFactory(contact=ContactFactory(name="Cancelar Souza"))  # found by its contact alone
        returning = Ticket.objects.filter(contact__name="Cliente antigo").first()
        MessageFactory(ticket=returning, text="outra vez")  # 'outra': three messages, two tickets
    client = client_for(supervisor, tenant)

    def pages():
        bodies, url = [], TICKETS + "?" + urlencode({"q": text, "page_size": 7})
        while url:
            bodies.append(client.get(url).json())
            url = bodies[-1]["next"]
        return bodies

    one_pass = pages()
    assert one_pass[0]["count"] > 0
    # At 1 every search here is common and walked; at 3, 'outra' (three messages) is common but
    # matches two tickets: counted, then fetched by id.
    for threshold in (1, 3):
        monkeypatch.setattr(selectors, "SEARCH_COMMON_MATCHES", threshold)
        with tenant_context(tenant):
            search = selectors.TicketSearch(text)
            assert search.words_are_common()
            last = len(one_pass) - 1
            ids, count = search.page_ids_and_count(ordering=("-last_message_at", "-id"), offset=7 * last, limit=7)
            assert (ids, count) == ([row["id"] for row in one_pass[last]["results"]], one_pass[0]["count"])
        assert pages() == one_pass
        last_page = client.get(TICKETS, {"q": text, "page_size": 7, "page": "last"}).json()  # (DRF's paginator)
        assert last_page["results"] == one_pass[-1]["results"]
        with django_assert_num_queries(LIST_QUERIES + 1):
            client.get(TICKETS, {"q": text, "page_size": 7})


def test_a_search_by_an_agent_finds_by_contact_or_by_words_within_what_they_see(tenant, agent, client_for, busy_tenant):
    """The list's search is the union of the contacts' tickets and the words' tickets, each within
    the agent's tickets and other filters (tickets.selectors.TicketSearch.applied)."""
    from tickets import selectors
    from tickets.models import Ticket

    with tenant_context(tenant):
        by_name = TicketFactory(contact=ContactFactory(name="Cancelar Souza"), status="open", assignee=agent)
        TicketFactory(contact=ContactFactory(name="Cancelar Lima"), status="open")  # someone else's
        visible = selectors.ticket_list_for_user(user=agent, role=Role.AGENT)
        expected = list(visible.filter(selectors.ticket_search_q("cancelar")).values_list("pk", flat=True))
        open_expected = list(
            visible.filter(selectors.ticket_search_q("cancelar"), status="open").values_list("pk", flat=True)
        )
    client = client_for(agent, tenant)
    body = client.get(TICKETS, {"q": "cancelar", "page_size": 200}).json()
    assert [row["id"] for row in body["results"]] == expected and body["count"] == len(expected)
    assert by_name.pk in expected and len(expected) < Ticket.all_tenants.count()
    opened = client.get(TICKETS, {"q": "cancelar", "status": "open", "page_size": 200}).json()
    assert [row["id"] for row in opened["results"]] == open_expected
    last = client.get(TICKETS, {"q": "cancelar", "page_size": 7, "page": "last"})
    assert (
        last.status_code == 200
        and [row["id"] for row in last.json()["results"]] == expected[-(len(expected) % 7 or 7) :]
    )
    # A ticket's own routes take the list's filters too; there the search is a plain condition.
    assert client.get(f"{TICKETS}{by_name.pk}/", {"q": "cancelar"}).status_code == 200


def test_a_search_finding_nothing_costs_two_queries(tenant, agent, client_for, busy_tenant, django_assert_num_queries):
    client = client_for(agent, tenant)
    with django_assert_num_queries(2):  # the token's membership; the search's ids and count
        body = client.get(TICKETS, {"q": "nothing like this"}).json()
    assert (body["count"], body["results"]) == (0, [])
