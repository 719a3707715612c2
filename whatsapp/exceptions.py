"""Errors of managing WhatsApp connections, each with a stable `code`."""

from django.utils.translation import gettext_lazy as _

from config.errors import Conflict, ProsaError, ValidationFailed


class ProviderUrlNotAllowed(ValidationFailed):
    code = "provider_url_not_allowed"
    default_detail = _(
        "The API base URL must be an http(s) address of a public server (private and local addresses are refused)."
    )


class InvalidConnection(ValidationFailed):
    code = "invalid_connection"
    default_detail = _("Some connection settings are missing or invalid.")


class ConnectionExists(Conflict):
    """Name, Cloud phone number id or Evolution instance already used (the field says which)."""

    code = "connection_exists"
    default_detail = _("Another connection already uses these settings.")


class ConnectionInUse(Conflict):
    code = "connection_in_use"
    default_detail = _("This connection has conversations and cannot be deleted.")


class NotSupported(Conflict):
    code = "not_supported"
    default_detail = _("This connection's provider does not support this operation.")


class ProviderUnavailable(ProsaError):
    """A provider call made on an administrator's behalf failed. `detail` is the explanation;
    `fields.provider_code` the provider's (or our transport) code, `fields.retryable` whether
    trying later may work."""

    code = "provider_error"
    default_detail = _("WhatsApp could not process the request.")
    status_code = 502
