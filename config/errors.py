"""The base of every domain error: a stable machine `code`, a translatable message, an HTTP status.

Domain code raises these; the API's exception handler renders them as `{code, detail, fields}`.
"""

from django.utils.translation import gettext_lazy as _


class ProsaError(Exception):
    code = "error"
    default_detail = _("Something went wrong.")
    status_code = 400

    def __init__(self, detail=None, *, code: str | None = None, fields: dict | None = None):
        self.detail = detail if detail is not None else self.default_detail
        if code is not None:
            self.code = code
        self.fields = fields or {}
        super().__init__(str(self.detail))


class NotFound(ProsaError):
    code = "not_found"
    default_detail = _("Not found.")
    status_code = 404


class PermissionDenied(ProsaError):
    code = "permission_denied"
    default_detail = _("You do not have permission to perform this action.")
    status_code = 403


class Conflict(ProsaError):
    code = "conflict"
    default_detail = _("The request conflicts with the current state.")
    status_code = 409


class ValidationFailed(ProsaError):
    code = "invalid"
    default_detail = _("Invalid input.")
    status_code = 400
