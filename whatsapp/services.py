"""Writes on WhatsApp connections: create/update/delete under the plan limit, one default per
tenant, provider URLs that cannot aim the server at its own network, and the administrator's
provider operations (test, QR code, logout). Credentials are stored encrypted (whatsapp.fields)
and never leave through these functions' results."""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from tenants.exceptions import PlanLimitReached
from tenants.models import Tenant
from tickets import events
from whatsapp.choices import ConnectionStatus, Provider
from whatsapp.exceptions import (
    ConnectionExists,
    ConnectionInUse,
    InvalidConnection,
    NotSupported,
    ProviderUnavailable,
    ProviderUrlNotAllowed,
)
from whatsapp.models import Connection
from whatsapp.providers import ProviderError, get_adapter

logger = logging.getLogger(__name__)

CREDENTIAL_FIELDS = ("access_token", "app_secret", "api_key")
COMMON_FIELDS = frozenset(
    {
        "name",
        "is_default",
        "greeting_message",
        "farewell_message",
        "out_of_hours_message",
        "default_queue",
        "api_base_url",
    }
)
PROVIDER_FIELDS = {
    Provider.CLOUD: frozenset(
        {"phone_number_id", "waba_id", "display_phone_number", "graph_api_version", "access_token", "app_secret"}
    ),
    Provider.EVOLUTION: frozenset({"instance_name", "api_key", "display_phone_number"}),
}
_ALL_PROVIDER_FIELDS = frozenset().union(*PROVIDER_FIELDS.values())

_UNIQUE_FIELDS = {
    "whatsapp_connection_name_unique": "name",
    "whatsapp_connection_phone_number_id_unique": "phone_number_id",
    "whatsapp_connection_instance_unique": "instance_name",
    "whatsapp_connection_one_default": "is_default",
}


# --- Provider URLs (SSRF) ---------------------------------------------------------------------


def _refuse(message: str | None = None):
    detail = message or str(ProviderUrlNotAllowed.default_detail)
    return ProviderUrlNotAllowed(detail, fields={"api_base_url": [detail]})


def provider_url_check(url: str, *, allow_private: bool | None = None) -> str:
    """The URL without a trailing slash, when Prosa may call it: http(s), no user info, and —
    unless `allow_private` (default: settings.WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS) — a host whose
    every address is public.
    Resolution happens now; a name that later resolves elsewhere (DNS rebinding) is not covered."""
    url = (url or "").strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError on a malformed port
    except ValueError:
        raise _refuse() from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise _refuse()
    if allow_private is None:
        allow_private = settings.WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS
    if allow_private:
        return url.rstrip("/")
    host = parts.hostname
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            raise _refuse(_("The API base URL's host could not be resolved.")) from None
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    for address in addresses:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise _refuse()
    return url.rstrip("/")


# --- Webhook URL ------------------------------------------------------------------------------


def connection_webhook_url(connection: Connection) -> str:
    """Where the provider must POST this connection's events (carries its webhook secret)."""
    name = {Provider.CLOUD: "whatsapp-webhook-cloud", Provider.EVOLUTION: "whatsapp-webhook-evolution"}[
        connection.provider
    ]
    return settings.PUBLIC_URL + reverse(name, kwargs={"secret": connection.webhook_secret})


# --- CRUD -------------------------------------------------------------------------------------


def _apply(connection: Connection, changes: dict[str, Any]) -> None:
    allowed = COMMON_FIELDS | PROVIDER_FIELDS[connection.provider]
    unknown = changes.keys() - COMMON_FIELDS - _ALL_PROVIDER_FIELDS
    if unknown:
        raise TypeError(f"unexpected connection fields {sorted(unknown)}")
    for field, value in changes.items():
        if field not in allowed:
            continue  # the other provider's settings: meaningless here
        if field in CREDENTIAL_FIELDS and not value:
            continue  # an empty credential keeps the stored one (they are never shown to be re-sent)
        if field == "api_base_url":
            value = provider_url_check(value)
        if isinstance(value, str) and not field.endswith("_message"):
            value = value.strip()
        setattr(connection, field, value)


def _validate(connection: Connection) -> None:
    try:
        connection.clean()
    except DjangoValidationError as exc:
        fields = {name: [str(message) for message in messages] for name, messages in exc.message_dict.items()}
        raise InvalidConnection(fields=fields) from None


def _save(connection: Connection) -> None:
    if connection.is_default:
        others = list(
            Connection.objects.filter(tenant_id=connection.tenant_id, is_default=True).exclude(pk=connection.pk)
        )
        for other in others:
            other.is_default = False
            other.save(update_fields=["is_default", "updated_at"])
            events.connection_updated(other)
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        field = _UNIQUE_FIELDS.get(constraint)
        if field is None:
            raise
        raise ConnectionExists(fields={field: [str(ConnectionExists.default_detail)]}) from None


@transaction.atomic
def connection_create(*, tenant: Tenant, provider: str, **fields: Any) -> Connection:
    """A new connection, within the tenant's plan (`max_connections`, checked under a lock on the
    tenant so two concurrent creations cannot both take the last slot). The first one becomes the
    default."""
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if Connection.objects.filter(tenant=locked).count() >= locked.max_connections:
        raise PlanLimitReached(
            _("Your plan allows %(limit)d WhatsApp connections.") % {"limit": locked.max_connections}
        )
    connection = Connection(tenant=tenant, provider=provider)
    _apply(connection, fields)
    if not Connection.objects.filter(tenant=tenant, is_default=True).exists():
        connection.is_default = True
    _validate(connection)
    _save(connection)
    events.connection_updated(connection)
    return connection


@transaction.atomic
def connection_update(*, connection: Connection, **changes: Any) -> Connection:
    """Changes settings (the provider never changes). Credentials given empty are kept."""
    _apply(connection, changes)
    _validate(connection)
    _save(connection)
    events.connection_updated(connection)
    return connection


def connection_delete(*, connection: Connection) -> None:
    try:
        with transaction.atomic():
            connection.delete()
    except ProtectedError:
        raise ConnectionInUse() from None


# --- Provider operations ----------------------------------------------------------------------


def _unavailable(exc: ProviderError) -> ProviderUnavailable:
    logger.warning("connection provider call failed", extra={"provider_code": exc.code, "retryable": exc.retryable})
    return ProviderUnavailable(exc.explanation, fields={"provider_code": exc.code, "retryable": exc.retryable})


def _set_status(connection: Connection, status: str, **extra: Any) -> None:
    changed = [field for field, value in extra.items() if value and getattr(connection, field) != value]
    for field in changed:
        setattr(connection, field, extra[field])
    if connection.status != status:
        connection.status = status
        connection.last_status_at = timezone.now()
        changed += ["status", "last_status_at"]
    if changed:
        connection.save(update_fields=[*changed, "updated_at"])
        events.connection_updated(connection)


def connection_test(*, connection: Connection) -> dict[str, Any]:
    """Asks the provider whether the connection works: `{"ok": True, "status": ..., ...}` (what
    the provider reports about the number), or ProviderUnavailable (502) with the explanation."""
    try:
        result = get_adapter(connection).check()
    except ProviderError as exc:
        raise _unavailable(exc) from None
    status = result.get("status", ConnectionStatus.DISCONNECTED)
    _set_status(connection, status, display_phone_number=result.get("display_phone_number") or "")
    details = {key: value for key, value in result.items() if key not in ("raw", "status")}
    return {"ok": True, "status": str(status), **details}


def _require_evolution(connection: Connection) -> None:
    if connection.provider != Provider.EVOLUTION:
        raise NotSupported(_("Only Evolution API connections pair by QR code."))


def connection_qrcode(*, connection: Connection) -> dict[str, Any]:
    """Evolution: makes sure the instance exists with its webhook aimed at Prosa and returns a QR
    code to scan (`{"qrcode": "data:image/png;base64,…", "status": "qrcode"}`), or
    `{"qrcode": None, "status": "connected"}` when the session is already open."""
    _require_evolution(connection)
    adapter = get_adapter(connection)
    webhook_url = connection_webhook_url(connection)
    try:
        try:
            adapter.set_webhook(webhook_url)
        except ProviderError as exc:
            if exc.code != "instance_not_found":
                raise
            # The instance's own token in the answer is dropped: the server key keeps working.
            created = adapter.create_instance(webhook_url=webhook_url)
            qrcode = created.get("qrcode") or adapter.fetch_qrcode()
        else:
            qrcode = adapter.fetch_qrcode()
    except ProviderError as exc:
        raise _unavailable(exc) from None
    status = ConnectionStatus.QRCODE if qrcode else ConnectionStatus.CONNECTED
    _set_status(connection, status)
    return {"qrcode": qrcode or None, "status": str(status)}


def connection_logout(*, connection: Connection) -> Connection:
    """Evolution: ends the WhatsApp session (the instance stays, ready for a new QR code)."""
    if connection.provider != Provider.EVOLUTION:
        raise NotSupported(_("A Cloud API connection is disconnected in Meta's dashboard."))
    try:
        get_adapter(connection).logout()
    except ProviderError as exc:
        raise _unavailable(exc) from None
    _set_status(connection, ConnectionStatus.DISCONNECTED)
    return connection
