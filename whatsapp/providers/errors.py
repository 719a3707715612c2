"""`ProviderError`: what went wrong talking to WhatsApp, whether to retry, and what to tell people.

Codes are strings: Meta's numeric error codes as text (`"131047"`) and our own names for failures
that have none (`timeout`, `network_error`, `server_error`, `not_supported`, …). Build logic on
`code` and `retryable`, never on the provider's title text.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from config.errors import ProsaError

# Codes worth retrying later (with backoff): throttling, temporary outages, maintenance.
RETRYABLE_CODES = frozenset(
    {
        "1",  # API unknown / temporary
        "2",  # API service unavailable
        "4",  # app call rate limit
        "80007",  # WABA rate limit
        "130429",  # throughput (messages per second) exceeded
        "131000",  # something went wrong
        "131016",  # service unavailable
        "131056",  # pair rate limit (same recipient)
        "131057",  # account in maintenance mode
        "133004",  # server temporarily unavailable
        "timeout",
        "network_error",
        "server_error",
        "rate_limited",
    }
)

# Codes that mean an administrator must act on the connection (credentials, account standing).
ADMIN_CODES = frozenset(
    {"0", "10", "190", "131031", "368", "130497", "131042", "131048", "unauthorized", "instance_not_found"}
)

_TEMPORARY = _("WhatsApp had a temporary problem. The message will be tried again.")
_RATE = _("Too many messages are being sent through this number right now. The message will be tried again shortly.")
_INVALID = _("WhatsApp rejected the request as invalid. This is a problem in Prosa; it has been logged.")
_AUTH = _(
    "WhatsApp refused this connection's credentials (expired or revoked access token, or missing "
    "permission). An administrator must update the connection."
)
_BLOCKED = _("The WhatsApp Business account is locked or restricted. An administrator must check it in Meta.")
_TEMPLATE = _("The template does not match what WhatsApp approved (name, language or parameters).")

EXPLANATIONS = {
    "131047": _(
        "More than 24 hours have passed since the customer last wrote. Only an approved template can "
        "be sent until they reply."
    ),
    "131026": _(
        "The recipient cannot receive this WhatsApp message (the number may not use WhatsApp, or the "
        "customer's app is outdated or has not accepted the current terms)."
    ),
    "130429": _RATE,
    "131056": _("Too many messages were sent to this customer in a short time. The message will be tried again later."),
    "131048": _("WhatsApp is limiting this number because of spam reports. Stop bulk sending and check its quality."),
    "131049": _(
        "WhatsApp did not deliver this marketing message to keep customer engagement healthy. Do not resend "
        "it right away."
    ),
    "131050": _("The customer has stopped receiving marketing messages from this business."),
    "131051": _("WhatsApp does not support this message type."),
    "131060": _("The message is not available on WhatsApp anymore."),
    "131052": _("The media could not be downloaded from WhatsApp. Ask the customer to send it again."),
    "131053": _("The media could not be uploaded to WhatsApp (unsupported type or too large)."),
    "131008": _INVALID,
    "131009": _INVALID,
    "100": _INVALID,
    "131000": _TEMPORARY,
    "131016": _TEMPORARY,
    "133004": _TEMPORARY,
    "1": _TEMPORARY,
    "2": _TEMPORARY,
    "131042": _("There is a payment or eligibility problem with the WhatsApp Business account."),
    "131031": _BLOCKED,
    "368": _BLOCKED,
    "130497": _("WhatsApp does not allow this business to message customers in this country."),
    "131057": _("The WhatsApp number is in maintenance. The message will be tried again in a minute."),
    "132000": _("The number of template parameters does not match the approved template."),
    "132001": _("The template does not exist in this language, or is not approved yet."),
    "132005": _TEMPLATE,
    "132007": _TEMPLATE,
    "132012": _("A template parameter has the wrong format."),
    "132015": _("The template is paused because of low quality. Use another template."),
    "132016": _("The template was disabled by WhatsApp. Use another template."),
    "190": _AUTH,
    "0": _AUTH,
    "10": _AUTH,
    "4": _RATE,
    "80007": _RATE,
    "rate_limited": _RATE,
    "timeout": _("WhatsApp did not answer in time. The message will be tried again."),
    "network_error": _("WhatsApp could not be reached. The message will be tried again."),
    "server_error": _TEMPORARY,
    "invalid_response": _("WhatsApp answered with something Prosa could not understand."),
    "not_supported": _("This connection's provider does not support this operation."),
    "not_on_whatsapp": _("This number does not use WhatsApp."),
    "unauthorized": _AUTH,
    "instance_not_found": _("The WhatsApp instance does not exist on the Evolution server. Create it again."),
    "instance_exists": _("An instance with this name already exists on the Evolution server."),
    "media_too_large": _("The file is larger than Prosa accepts."),
    "bad_request": _INVALID,
}


def explain(code: str) -> str:
    """The human explanation of an error code (translated), or a generic one."""
    if code in EXPLANATIONS:
        return str(EXPLANATIONS[code])
    if code.isdigit() and 200 <= int(code) <= 299:
        return str(_AUTH)  # Graph permission errors
    return str(_("WhatsApp could not process this message."))


class ProviderError(ProsaError):
    """A call to (or a message refused by) a WhatsApp provider failed.

    `detail` is the explanation people read (translated, from `code`); the provider's own words stay
    in `title` and `provider_detail` for logs and support. `retryable` says whether trying the same
    operation later can succeed; a caller never retries a permanent error.
    """

    code = "provider_error"
    status_code = 502

    def __init__(
        self,
        *,
        code: str,
        title: str = "",
        provider_detail: str = "",
        retryable: bool | None = None,
        http_status: int | None = None,
        detail=None,
    ):
        code = str(code)
        self.title = title
        self.provider_detail = provider_detail
        self.http_status = http_status
        if retryable is None:
            retryable = code in RETRYABLE_CODES or (http_status is not None and http_status >= 500)
        self.retryable = retryable
        super().__init__(detail if detail is not None else explain(code), code=code)

    @property
    def explanation(self) -> str:
        return str(self.detail)

    @property
    def needs_admin(self) -> bool:
        """The connection itself is broken (credentials, account): alert admins, pause its sends."""
        return self.code in ADMIN_CODES or (self.code.isdigit() and 200 <= int(self.code) <= 299)

    def __repr__(self) -> str:
        return (
            f"ProviderError(code={self.code!r}, retryable={self.retryable}, http_status={self.http_status}, "
            f"title={self.title!r})"
        )
