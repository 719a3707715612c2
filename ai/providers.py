"""The adapter to OpenAI-compatible providers, through the official `openai` package.

Every call has a timeout (connect ≤ 5 s) and is retried by the client on transient failures
(connection errors, 408, 409, 429, 5xx; exponential backoff, honouring Retry-After) up to
settings.AI_MAX_RETRIES times. What still fails comes out as one of ai.exceptions' provider
errors, saying whether it is worth retrying later. Nothing here touches the database.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import httpx2
import openai
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ai.exceptions import AIProviderError, AIProviderTimeout

logger = logging.getLogger(__name__)

# Local servers (Ollama, vLLM) take no key, but the client wants one.
PLACEHOLDER_API_KEY = "no-key"


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int


@dataclass(frozen=True)
class Transcription:
    text: str
    language: str
    model: str
    latency_ms: int


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    model: str
    prompt_tokens: int
    latency_ms: int


class AIClient:
    def __init__(self, *, base_url: str, api_key: str, timeout: float, max_retries: int | None = None):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key or PLACEHOLDER_API_KEY
        self.timeout = httpx2.Timeout(timeout, connect=min(5.0, timeout))
        self.max_retries = settings.AI_MAX_RETRIES if max_retries is None else max_retries

    def _client(self) -> openai.OpenAI:
        return _shared_client(self.base_url, self.api_key, self.timeout.read, self.timeout.connect, self.max_retries)

    def chat(
        self, *, model: str, messages: list[dict], temperature: float = 0.2, max_tokens: int | None = None
    ) -> Completion:
        started = time.monotonic()
        extra = {"max_tokens": max_tokens} if max_tokens else {}
        with _translated_errors():
            client = self._client()
            response = client.chat.completions.create(model=model, messages=messages, temperature=temperature, **extra)
        usage = response.usage
        choice = response.choices[0] if response.choices else None
        return Completion(
            text=(choice.message.content or "") if choice else "",
            model=response.model or model,
            prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage else 0,
            latency_ms=_since(started),
        )

    def embed(self, *, model: str, texts: list[str]) -> Embeddings:
        started = time.monotonic()
        with _translated_errors():
            client = self._client()
            response = client.embeddings.create(model=model, input=texts)
        usage = response.usage
        return Embeddings(
            vectors=[item.embedding for item in sorted(response.data, key=lambda item: item.index)],
            model=response.model or model,
            prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
            latency_ms=_since(started),
        )

    def transcribe(
        self, *, model: str, filename: str, content: bytes, mime_type: str, language: str | None = None
    ) -> Transcription:
        started = time.monotonic()
        extra = {"language": language} if language else {}
        with _translated_errors():
            client = self._client()
            response = client.audio.transcriptions.create(
                model=model, file=(filename, content, mime_type or "application/octet-stream"), **extra
            )
        return Transcription(
            text=(response.text or "").strip(),
            language=getattr(response, "language", None) or language or "",
            model=model,
            latency_ms=_since(started),
        )


@functools.lru_cache(maxsize=32)
def _shared_client(base_url: str, api_key: str, read: float, connect: float, max_retries: int) -> openai.OpenAI:
    """One client (and connection pool) per provider configuration and process: building one costs
    ~360 ms (TLS context, CA bundle) against ~20 ms for a call on loopback (measured). The sync
    client is thread-safe; an evicted one closes its pool when garbage-collected."""
    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key,
        timeout=httpx2.Timeout(read, connect=connect),
        max_retries=max_retries,
    )


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class _translated_errors:
    """openai's exceptions → ours (a context manager, so every call site maps them alike)."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc is None or not isinstance(exc, openai.OpenAIError):
            return False
        logger.warning("AI provider call failed: %s", type(exc).__name__)
        if isinstance(exc, openai.APITimeoutError):
            raise AIProviderTimeout() from exc
        if isinstance(exc, openai.APIConnectionError):
            raise AIProviderError(_("The AI provider could not be reached."), code="ai_provider_unreachable") from exc
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            raise AIProviderError(
                _("The AI provider refused the API key."), code="ai_provider_auth_failed", retryable=False
            ) from exc
        if isinstance(exc, openai.NotFoundError):
            raise AIProviderError(
                _("The AI provider does not know this model or URL. Check the AI settings."),
                code="ai_model_not_found",
                retryable=False,
            ) from exc
        if isinstance(exc, openai.RateLimitError):
            raise AIProviderError(
                _("The AI provider is rate limiting this workspace. Try again later."), code="ai_provider_rate_limited"
            ) from exc
        if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
            raise AIProviderError(
                _("The AI provider rejected the request."), code="ai_provider_rejected", retryable=False
            ) from exc
        raise AIProviderError() from exc
