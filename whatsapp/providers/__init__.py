"""Adapters to WhatsApp providers. `get_adapter(connection)` is the only way in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from whatsapp.choices import Provider
from whatsapp.providers.base import ProviderAdapter, ProviderError

if TYPE_CHECKING:
    from whatsapp.models import Connection

__all__ = ["ProviderAdapter", "ProviderError", "get_adapter"]


def get_adapter(connection: Connection, *, http_client=None) -> ProviderAdapter:
    """The adapter for the connection's provider. `http_client` (an `httpx2.Client`) is optional,
    to reuse connections across several calls."""
    from whatsapp.providers.cloud import CloudAdapter
    from whatsapp.providers.evolution import EvolutionAdapter

    adapters: dict[str, type[ProviderAdapter]] = {Provider.CLOUD: CloudAdapter, Provider.EVOLUTION: EvolutionAdapter}
    try:
        adapter_class = adapters[connection.provider]
    except KeyError:
        raise ValueError(f"unknown WhatsApp provider {connection.provider!r}") from None
    return adapter_class(connection, http_client=http_client)
