import pytest

from knowledge import services
from tenants.context import tenant_context


@pytest.fixture
def write_article(tenant):
    """write_article(title, body, **fields) → an article saved through the service (version,
    chunks and vocabulary included), published unless told otherwise, in `tenant`."""

    def _write(title, body="", *, in_tenant=None, status="published", **fields):
        owner = in_tenant or tenant
        with tenant_context(owner):
            return services.article_create(tenant=owner, actor=None, title=title, body=body, status=status, **fields)

    return _write


@pytest.fixture
def fake_openai():
    from ai.tests.fakes import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def ai_with_embeddings(tenant, fake_openai, settings):
    """The shared tenant's AI pointed at the fake provider, with chat and embeddings models."""
    from ai.tests.factories import AISettingsFactory

    settings.AI_ALLOW_PRIVATE_PROVIDER_URLS = True
    return AISettingsFactory(
        tenant=tenant,
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        chat_model="fake-chat",
        embeddings_model="fake-embed",
        timeout_seconds=5,
    )
