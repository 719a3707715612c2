"""Background work of the knowledge base: embeddings of article chunks (when the tenant's AI has
an embeddings model) and the AI's "optimize" run.

The beat job takes no tenant, reads settings rows only and fans out one task per tenant.
"""

from celery import shared_task

from config.celery import tenant_task
from config.redis import get_redis
from tenants.context import require_current_tenant

EMBED_PENDING_KEY = "knowledge:embed-pending:{tenant_id}"
EMBED_PENDING_SECONDS = 600


@tenant_task
def chunks_embed_task(*, tenant_id: int) -> int:
    from knowledge import services

    # From now on a new change queues another run: this one may have read the chunks already.
    get_redis().delete(EMBED_PENDING_KEY.format(tenant_id=tenant_id))
    return services.article_chunks_embed(tenant=require_current_tenant())


def chunks_embed_soon(*, tenant_id: int) -> bool:
    """Queues chunks_embed_task unless one is already queued and not started (an import of 500
    published articles queues one run, not 500). Returns whether it queued one."""
    if not get_redis().set(EMBED_PENDING_KEY.format(tenant_id=tenant_id), 1, nx=True, ex=EMBED_PENDING_SECONDS):
        return False
    chunks_embed_task.delay(tenant_id=tenant_id)
    return True


@shared_task(name="knowledge.embed_missing_chunks")
def embed_missing_chunks() -> int:
    """Every 15 minutes: the chunks still without a vector (articles published before the model
    was configured, runs stopped by a cap or an outage) of every tenant with an embeddings model."""
    from ai.models import AISettings

    tenant_ids = sorted(
        AISettings.all_tenants.filter(enabled=True, tenant__is_active=True)
        .exclude(embeddings_model="")
        .values_list("tenant_id", flat=True)
    )
    for tenant_id in tenant_ids:
        chunks_embed_soon(tenant_id=tenant_id)
    return len(tenant_ids)


@tenant_task
def knowledge_optimize_task(
    *, tenant_id: int, kinds: list[str] | None = None, actor_id: int | None = None, article_ids: list[int] | None = None
) -> int:
    """The AI's proposals for the tenant's knowledge base (knowledge.optimize). Returns how many."""
    from accounts.models import User
    from knowledge import optimize

    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    return len(optimize.knowledge_optimize(tenant=require_current_tenant(), actor=actor, kinds=kinds,
                                           article_ids=article_ids))  # fmt: skip
