"""Pretend a customer wrote: POST a correctly signed Cloud API webhook to a running Prosa.

    python manage.py simulate_inbound --tenant demo --from +5511999990000 --text "Olá"
    python manage.py simulate_inbound --tenant demo --from 5511999990000 --image foto.jpg --name "Maria"

The body is built like Meta's (compact JSON, non-ASCII escaped) for the tenant's default Cloud
connection (or its first), signed with that connection's app secret and sent over real HTTP to
`--url`, so it travels the whole inbound pipeline: webhook view → stored event → worker.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.core.management.base import CommandError
from django.urls import reverse

from tenants.management.base import TenantCommand
from whatsapp.choices import Provider
from whatsapp.models import Connection
from whatsapp.phone import normalize_phone
from whatsapp.providers import ProviderError, get_adapter
from whatsapp.providers.cloud import SIGNATURE_HEADER, signature_for


def cloud_message_body(*, connection: Connection, wa_id: str, name: str, message: dict) -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": connection.waba_id or "0",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": connection.display_phone_number,
                                "phone_number_id": connection.phone_number_id,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": "wamid.SIMULATED" + secrets.token_hex(16).upper(),
                                    "timestamp": str(int(time.time())),
                                    **message,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    # Meta's serialization: compact, ASCII-escaped (the signature covers these exact bytes).
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


class Command(TenantCommand):
    help = "Send a signed WhatsApp Cloud API webhook (a customer's message) to a running Prosa server."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--from", dest="sender", required=True, help="The customer's number, e.g. +5511999990000.")
        parser.add_argument("--text", default="", help="Message text (the caption, with --image).")
        parser.add_argument(
            "--image", default="", help="An image file to send (uploaded to the connection's Graph API)."
        )
        parser.add_argument("--name", default="", help="The customer's WhatsApp profile name.")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL of the running server.")
        parser.add_argument("--connection", default="", help="Name of the Cloud connection (default: the default one).")

    def handle_tenant(self, tenant, *args, **options):
        connection = self._connection(options["connection"])
        wa_id = normalize_phone(options["sender"])
        if not wa_id:
            raise CommandError(f"{options['sender']!r} is not a phone number.")
        if options["image"]:
            message = self._image(connection, Path(options["image"]), options["text"])
        elif options["text"]:
            message = {"type": "text", "text": {"body": options["text"]}}
        else:
            raise CommandError("Give --text and/or --image.")
        body = cloud_message_body(connection=connection, wa_id=wa_id, name=options["name"], message=message)
        path = reverse("whatsapp-webhook-cloud", kwargs={"secret": connection.webhook_secret})
        request = urllib.request.Request(
            options["url"].rstrip("/") + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature_for(body, connection.app_secret)},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise CommandError(f"The server answered {exc.code}: {exc.read()[:300]!r}") from None
        except OSError as exc:
            raise CommandError(f"Could not reach {options['url']}: {exc}. Is the server running?") from None
        self.stdout.write(self.style.SUCCESS(f"Sent as +{wa_id} to {connection.name!r}: HTTP {status}."))

    def _connection(self, name: str) -> Connection:
        connections = Connection.objects.filter(provider=Provider.CLOUD).order_by("-is_default", "name", "pk")
        if name:
            connections = connections.filter(name=name)
        connection = connections.first()
        if connection is None:
            raise CommandError(
                "This tenant has no WhatsApp Cloud API connection. Create one in the admin "
                "(WhatsApp › Connections › Add, provider “WhatsApp Cloud API”) or with "
                "POST /api/v1/whatsapp/connections/ — it needs a phone number ID, an access token and "
                "the app secret (any values work against the demo's fake Graph API)."
            )
        if not connection.app_secret:
            raise CommandError(f"Connection {connection.name!r} has no app secret to sign the webhook with.")
        return connection

    def _image(self, connection: Connection, path: Path, caption: str) -> dict:
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        mime_type = mimetypes.guess_type(path.name)[0] or "image/jpeg"
        try:
            media_id = get_adapter(connection).upload_media(content, mime_type, path.name)
        except ProviderError as exc:
            raise CommandError(f"Uploading the image failed: {exc.detail} ({exc.code})") from None
        image = {"id": media_id, "mime_type": mime_type}
        if caption:
            image["caption"] = caption
        return {"type": "image", "image": image}
