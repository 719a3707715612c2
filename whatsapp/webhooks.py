"""Provider webhooks: the front door of the inbound pipeline (DESIGN.md, "Inbound: a customer writes").

The secret in the URL names the connection (unknown → 404, nothing stored); the provider's own
check comes next (Cloud: HMAC-SHA256 of the raw bytes with the app secret → 403 and nothing stored
when it fails; Evolution: the same secret, in the path or as a Bearer header). A valid body is stored
as it arrived and answered 200 at once; a worker does the rest.
"""

import json
import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tenants.context import tenant_context
from whatsapp.choices import Provider
from whatsapp.inbound import MAX_BODY_BYTES, connection_get_for_webhook, inbound_event_store
from whatsapp.providers import get_adapter

logger = logging.getLogger("whatsapp.webhooks")


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def _not_found() -> JsonResponse:
    return _error(404, "not_found", "Not found.")


def _too_large(request) -> bool:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    return declared > MAX_BODY_BYTES


def _receive(request, connection, secret: str):
    """Checks and stores one POST for `connection` (already authenticated by the URL secret)."""
    log = {"connection_id": connection.pk, "tenant_id": connection.tenant_id, "provider": connection.provider}
    if _too_large(request):
        logger.warning("webhook body too large", extra=log)
        return _error(413, "payload_too_large", "The body is larger than 5 MB.")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        logger.warning("webhook body too large", extra=log)
        return _error(413, "payload_too_large", "The body is larger than 5 MB.")
    adapter = get_adapter(connection)
    if not adapter.verify_webhook(headers=request.headers, body=body, query=request.GET, secret=secret):
        logger.warning("webhook signature rejected", extra=log)
        return _error(403, "invalid_signature", "The request signature is missing or wrong.")
    try:
        json.loads(body)
    except ValueError:
        logger.warning("webhook body is not JSON", extra={**log, "size": len(body)})
        return _error(400, "malformed_json", "The body is not valid JSON.")
    with tenant_context(connection.tenant):
        event_id = inbound_event_store(connection=connection, body=body, content_type=request.content_type or "")
    logger.info("webhook received", extra={**log, "event_id": event_id, "duplicate": event_id is None})
    return HttpResponse(status=200)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def cloud_webhook(request, secret):
    connection = connection_get_for_webhook(provider=Provider.CLOUD, secret=secret)
    if connection is None:
        return _not_found()
    if request.method == "GET":
        challenge = get_adapter(connection).verify_subscription(request.GET)
        if challenge is None:
            logger.warning("webhook verification refused", extra={"connection_id": connection.pk})
            return HttpResponse("Forbidden", status=403, content_type="text/plain")
        return HttpResponse(challenge, content_type="text/plain")
    return _receive(request, connection, secret)


@csrf_exempt
@require_http_methods(["POST"])
def evolution_webhook(request, secret):
    connection = connection_get_for_webhook(provider=Provider.EVOLUTION, secret=secret)
    if connection is None:
        return _not_found()
    return _receive(request, connection, secret)
