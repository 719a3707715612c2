"""The demo tenant of `make run`: people of every role and a WhatsApp Cloud connection wired to the
bundled fake Graph API (whatsapp/demo_graph.py), so the inbox works without a WhatsApp account.
Created once; later runs only re-point the connection at the fake's current port."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from accounts import selectors as account_selectors
from accounts.models import Membership, Role, User
from tenants.context import tenant_context
from tenants.models import Tenant
from tenants.services import tenant_create
from whatsapp.demo_graph import DEMO_APP_SECRET, DEMO_WEBHOOK_SECRET

DEMO_SLUG = "demo"
DEMO_PASSWORD = "prosa-demo-2026"
DEMO_USERS = [
    ("admin@demo.prosa.local", "Alice Admin", Role.ADMIN),
    ("supervisor@demo.prosa.local", "Sergio Supervisor", Role.SUPERVISOR),
    ("agent1@demo.prosa.local", "Ana Agent", Role.AGENT),
    ("agent2@demo.prosa.local", "Bruno Agent", Role.AGENT),
]
DEMO_PHONE_NUMBER_ID = "100000000000001"


@dataclass(frozen=True)
class DemoSeed:
    tenant: Tenant
    created: bool
    logins: list
    password: str = DEMO_PASSWORD


def demo_webhook_url() -> str:
    return settings.PUBLIC_URL + reverse("whatsapp-webhook-cloud", kwargs={"secret": DEMO_WEBHOOK_SECRET})


def _demo_connection(tenant: Tenant, graph_url: str):
    from whatsapp.models import Connection

    connection = Connection.objects.filter(webhook_secret=DEMO_WEBHOOK_SECRET).first()
    if connection is None:
        connection = Connection(
            name="WhatsApp Demo",
            provider=Connection.Provider.CLOUD,
            status=Connection.Status.CONNECTED,
            is_default=True,
            phone_number_id=DEMO_PHONE_NUMBER_ID,
            display_phone_number="5511900000000",
            access_token="demo-access-token",
            app_secret=DEMO_APP_SECRET,
            webhook_secret=DEMO_WEBHOOK_SECRET,
            greeting_message="Olá! Você está falando com a Demo Company. Em que podemos ajudar?",
            farewell_message="Obrigado pelo contato! Até logo.",
        )
    connection.api_base_url = graph_url
    connection.save()
    return connection


def _demo_routing(tenant: Tenant) -> None:
    """Two queues, so a new conversation shows the menu; agents get tickets by themselves."""
    from tickets.models import Queue, QuickReply

    tenant.rating_enabled = True
    tenant.reopen_window_minutes = 30
    tenant.save(update_fields=["rating_enabled", "reopen_window_minutes"])
    agents = {email: User.objects.get(email=email) for email, _name, role in DEMO_USERS if role == Role.AGENT}
    sales = Queue.objects.create(
        name="Vendas",
        color="#16a34a",
        menu_order=1,
        greeting_message="Você está na fila de Vendas. Um vendedor já vai te atender!",
        auto_assignment=Queue.AutoAssignment.ROUND_ROBIN,
    )
    sales.members.set(agents.values())
    support = Queue.objects.create(
        name="Suporte",
        color="#2563eb",
        menu_order=2,
        greeting_message="Você está na fila de Suporte. Conte o que aconteceu, por favor.",
        auto_assignment=Queue.AutoAssignment.OFF,
    )
    support.members.set(agents.values())
    QuickReply.objects.create(shortcut="ola", text="Olá {{name}}! Aqui é {{agent}}, como posso ajudar?")
    QuickReply.objects.create(shortcut="protocolo", text="Seu protocolo de atendimento é {{protocol}}.")


@transaction.atomic
def demo_seed(*, graph_url: str = "http://127.0.0.1:8790") -> DemoSeed:
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    created = tenant is None
    if created:
        tenant = tenant_create(name="Demo Company", slug=DEMO_SLUG)
        for email, name, role in DEMO_USERS:
            user = account_selectors.user_get_by_email(email=email) or User.objects.create_user(
                email=email, password=DEMO_PASSWORD, name=name
            )
            Membership.all_tenants.get_or_create(tenant=tenant, user=user, defaults={"role": role})
    with tenant_context(tenant):
        _demo_connection(tenant, graph_url)
        if created:
            _demo_routing(tenant)
    return DemoSeed(tenant=tenant, created=created, logins=[(email, role.label) for email, _n, role in DEMO_USERS])
