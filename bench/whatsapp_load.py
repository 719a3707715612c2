"""Data and requests of the WhatsApp benchmarks, made through the project's own services: tenants,
Cloud connections, members with JWTs, and correctly signed Cloud webhooks (Meta's byte format)."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Membership, Role, User
from accounts.services import tokens_issue
from tenants.context import tenant_context
from tenants.models import Tenant
from tenants.services import tenant_create
from whatsapp.choices import Provider
from whatsapp.management.commands.simulate_inbound import cloud_message_body
from whatsapp.models import Connection
from whatsapp.providers.cloud import signature_for
from whatsapp.services import connection_create

BENCH_APP_SECRET = "bench-app-secret-0123456789abcdef"


def tenant_with_connection(*, index: int, max_users: int = 1000) -> tuple[Tenant, Connection]:
    tenant = tenant_create(name=f"Bench Company {index}", slug=f"bench-{index}", max_users=max_users)
    with tenant_context(tenant):
        connection = connection_create(
            tenant=tenant,
            provider=Provider.CLOUD,
            name=f"Bench WhatsApp {index}",
            phone_number_id=f"9{index:014d}",
            waba_id=f"8{index:014d}",
            display_phone_number=f"55119{index:08d}",
            access_token="bench-access-token",
            app_secret=BENCH_APP_SECRET,
        )
    return tenant, connection


@dataclass(frozen=True)
class Member:
    tenant_id: int
    user_id: int
    role: str
    access_token: str


def members_create(*, tenant: Tenant, agents: int, supervisors: int) -> list[Member]:
    """Members with unusable passwords (hashing hundreds of argon2 passwords would dominate the
    setup) and a JWT access token each, as `POST /auth/login` would issue."""
    members = []
    for role, count in ((Role.SUPERVISOR, supervisors), (Role.AGENT, agents)):
        for n in range(count):
            user = User.objects.create_user(email=f"{role}{n}@bench-{tenant.slug}.local", name=f"{role} {n}")
            Membership.all_tenants.create(tenant=tenant, user=user, role=role)
            access = tokens_issue(user=user, tenant=tenant).access
            members.append(Member(tenant_id=tenant.pk, user_id=user.pk, role=role, access_token=access))
    return members


def signed_text_webhook(*, connection: Connection, wa_id: str, text: str, name: str = "") -> tuple[bytes, str]:
    """(body, X-Hub-Signature-256) of one incoming text message, a fresh message id each call."""
    body = cloud_message_body(
        connection=connection, wa_id=wa_id, name=name, message={"type": "text", "text": {"body": text}}
    )
    return body, signature_for(body, connection.app_secret)
