"""Errors of the AI domain, each with a stable `code` (rendered as `{code, detail, fields}`)."""

from django.utils.translation import gettext_lazy as _

from config.errors import Conflict, ProsaError, ValidationFailed


class AINotConfigured(Conflict):
    """No provider set up (or switched off) for the tenant: nothing pretends to work without one."""

    code = "ai_not_configured"
    default_detail = _("AI is not configured for this workspace. An admin can set up a provider in the settings.")


class AIFeatureNotConfigured(Conflict):
    """The provider is set up, but not the model this feature needs (e.g. transcription)."""

    code = "ai_feature_not_configured"
    default_detail = _("This AI feature needs a model that is not configured.")


class AIRateLimited(ProsaError):
    code = "ai_rate_limited"
    default_detail = _("Too many AI requests. Wait a moment and try again.")
    status_code = 429

    def __init__(self, retry_after: int):
        super().__init__()
        self.retry_after = retry_after


class AIQuotaExceeded(ProsaError):
    code = "ai_quota_exceeded"
    default_detail = _("This workspace has used all of its AI requests for the month.")
    status_code = 429


class AIProviderError(ProsaError):
    """The provider failed (after retries for transient errors). `retryable` says whether trying
    again later may work (rate limits, 5xx, network) or not (bad key, unknown model)."""

    code = "ai_provider_error"
    default_detail = _("The AI provider could not answer. Try again later.")
    status_code = 502

    def __init__(self, detail=None, *, code: str | None = None, retryable: bool = True):
        super().__init__(detail, code=code)
        self.retryable = retryable


class AIProviderTimeout(AIProviderError):
    code = "ai_provider_timeout"
    default_detail = _("The AI provider took too long to answer.")
    status_code = 504


class AIBadResponse(AIProviderError):
    code = "ai_bad_response"
    default_detail = _("The AI provider's answer could not be understood. Try again.")


class AINothingToProcess(Conflict):
    code = "ai_nothing_to_process"
    default_detail = _("There is no conversation to work on yet.")


class AINotAudio(Conflict):
    code = "ai_not_audio"
    default_detail = _("Only voice notes and audio messages can be transcribed.")


class AIMediaNotReady(Conflict):
    code = "ai_media_not_ready"
    default_detail = _("The audio has not been downloaded yet.")


class AIInvalidSettings(ValidationFailed):
    code = "ai_invalid_settings"
    default_detail = _("These AI settings are invalid.")
