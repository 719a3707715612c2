"""A request id for every HTTP request and Celery task, in every log line (with the tenant)."""

import contextvars
import logging
import re
import uuid

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("prosa_request_id", default=None)
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def get_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


class RequestIdMiddleware:
    """Takes a well-formed incoming `X-Request-ID` (from a proxy) or makes one, and echoes it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request_id
        return response


class LogContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from tenants.context import get_current_tenant

        # django.request logs errors after the middleware has left: take the id from the request.
        request = getattr(record, "request", None)
        record.request_id = get_request_id() or getattr(request, "request_id", None) or "-"
        tenant = get_current_tenant()
        record.tenant_id = tenant.pk if tenant is not None else None
        return True
