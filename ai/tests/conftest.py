import pytest


@pytest.fixture
def ai_settings(tenant, ai_on_fake):
    """The shared tenant's AI, pointed at the fake provider."""
    return ai_on_fake(tenant, transcription_model="fake-whisper", ticket_categories=["Billing", "Delivery", "Returns"])
