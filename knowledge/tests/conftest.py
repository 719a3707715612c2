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
def ai_with_embeddings(tenant, ai_on_fake):
    """The shared tenant's AI pointed at the fake provider, with chat and embeddings models."""
    return ai_on_fake(tenant, embeddings_model="fake-embed")
