import pytest

from ai.tests.factories import AISettingsFactory
from ai.tests.fakes import FakeOpenAI


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def ai_settings(tenant, fake_openai, settings):
    """The shared tenant's AI, pointed at the fake provider (a loopback address: allowed here)."""
    settings.AI_ALLOW_PRIVATE_PROVIDER_URLS = True
    return AISettingsFactory(
        tenant=tenant,
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        chat_model="fake-chat",
        transcription_model="fake-whisper",
        timeout_seconds=5,
        ticket_categories=["Billing", "Delivery", "Returns"],
    )
