"""Reads of WhatsApp connections (always within one tenant)."""

from django.db.models import QuerySet

from tenants.models import Tenant
from whatsapp.models import Connection


def connection_list(*, tenant: Tenant) -> QuerySet[Connection]:
    return Connection.objects.filter(tenant=tenant)
