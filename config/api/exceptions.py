"""One shape for every API error: `{"code": "...", "detail": "...", "fields": {...}}`."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ProsaError

logger = logging.getLogger(__name__)

# Stable codes for DRF's own exceptions (DRF's default codes are fine where not listed).
_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid",
}


def _flatten(detail):
    """DRF error details (nested lists/dicts of ErrorDetail) → plain JSON of strings."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def error_body(code: str, detail, fields: dict | None = None) -> dict:
    return {"code": code, "detail": str(detail), "fields": fields or {}}


def exception_handler(exc, context):
    if isinstance(exc, ProsaError):
        response = Response(error_body(exc.code, exc.detail, exc.fields), status=exc.status_code)
        if getattr(exc, "retry_after", None):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # Unexpected: Django's 500 handling (JSON for /api/, see api_server_error).

    code = _CODES.get(type(exc))
    if code is None:
        for klass, klass_code in _CODES.items():
            if isinstance(exc, klass):
                code = klass_code
                break
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail
        if isinstance(data, dict):
            fields = _flatten(data)
            non_field = fields.pop("non_field_errors", None)
            detail = non_field[0] if non_field else _("Invalid input.")
            # A single coded domain-style error raised as ValidationError keeps its own code.
            response.data = error_body(code, detail, fields)
        else:
            messages = _flatten(data if isinstance(data, list) else [data])
            response.data = error_body(code, messages[0] if messages else _("Invalid input."))
        return response

    detail = getattr(exc, "detail", str(exc))
    if isinstance(detail, dict):
        # simplejwt's token errors: {"detail", "code", "messages"}
        code = str(detail.get("code") or code or "error")
        detail = detail.get("detail", "")
    elif isinstance(detail, list):
        detail = " ".join(str(item) for item in detail)
    else:
        # An explicit code given when raising (AuthenticationFailed(..., code="no_active_membership"))
        # is more precise than the class's: keep it.
        sub_code = getattr(detail, "code", None)
        if sub_code and (code is None or sub_code != getattr(exc, "default_code", None)):
            code = str(sub_code)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(int(exc.wait + 0.999))
    response.data = error_body(code or "error", detail)
    return response


def api_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", _("Not found.")), status=status.HTTP_404_NOT_FOUND)


def api_server_error_or_html(request):
    if not request.path.startswith("/api/"):
        from django.views.defaults import server_error

        return server_error(request)
    return JsonResponse(
        error_body("server_error", _("An unexpected error occurred. It has been logged.")),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
