"""The one way adapters talk HTTP: explicit timeouts, transport failures → retryable ProviderError.

Uses `httpx2` (the maintained continuation of httpx that openai already depends on; same API).
Logs carry the provider, method, path and outcome — never headers, bodies or query strings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx2
from django.conf import settings

from whatsapp.providers.errors import ProviderError

logger = logging.getLogger("whatsapp.providers")

ErrorParser = Callable[[httpx2.Response], ProviderError]


def default_timeout() -> httpx2.Timeout:
    seconds = float(settings.WHATSAPP_HTTP_TIMEOUT)
    return httpx2.Timeout(seconds, connect=min(5.0, seconds))


@contextmanager
def _client(injected: httpx2.Client | None) -> Iterator[httpx2.Client]:
    if injected is not None:
        yield injected
        return
    with httpx2.Client(timeout=default_timeout()) as client:
        yield client


def _log_failure(provider: str, method: str, url: str, error: ProviderError) -> None:
    logger.warning(
        "whatsapp provider call failed",
        extra={
            "provider": provider,
            "method": method,
            "path": httpx2.URL(url).path,
            "code": error.code,
            "http_status": error.http_status,
            "retryable": error.retryable,
        },
    )


def _transport_error(exc: httpx2.TransportError) -> ProviderError:
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderError(code="timeout", title=type(exc).__name__, retryable=True)
    return ProviderError(code="network_error", title=type(exc).__name__, retryable=True)


def call(
    method: str,
    url: str,
    *,
    provider: str,
    parse_error: ErrorParser,
    client: httpx2.Client | None = None,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> httpx2.Response:
    """One request; a 2xx response is returned (body read), anything else raises ProviderError."""
    try:
        with _client(client) as http:
            response = http.request(method, url, headers=headers, timeout=default_timeout(), **kwargs)
    except httpx2.TransportError as exc:
        error = _transport_error(exc)
        _log_failure(provider, method, url, error)
        raise error from exc
    if response.is_success:
        return response
    error = parse_error(response)
    _log_failure(provider, method, url, error)
    raise error


def download(
    url: str,
    *,
    provider: str,
    parse_error: ErrorParser,
    max_bytes: int,
    client: httpx2.Client | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    follow_redirects: bool = False,
    **kwargs: Any,
) -> tuple[bytes, httpx2.Headers]:
    """Streams a response body into memory, refusing (permanently) one larger than `max_bytes`.

    httpx drops the Authorization header when a redirect leaves the original host, so following
    redirects never hands a token to another site.
    """
    try:
        with (
            _client(client) as http,
            http.stream(
                method,
                url,
                headers=headers,
                timeout=default_timeout(),
                follow_redirects=follow_redirects,
                **kwargs,
            ) as response,
        ):
            if not response.is_success:
                response.read()
                error = parse_error(response)
                _log_failure(provider, method, url, error)
                raise error
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(provider, method, url)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(provider, method, url)
                chunks.append(chunk)
            return b"".join(chunks), response.headers
    except httpx2.TransportError as exc:
        error = _transport_error(exc)
        _log_failure(provider, method, url, error)
        raise error from exc


def _too_large(provider: str, method: str, url: str) -> ProviderError:
    error = ProviderError(code="media_too_large", retryable=False)
    _log_failure(provider, method, url, error)
    return error


def json_or_empty(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}
