from django.core.management.base import CommandError

from knowledge import selectors, services
from tenants.management.base import TenantCommand


class Command(TenantCommand):
    help = (
        "Embeds the tenant's published article chunks that have no vector of its embeddings model yet "
        "(a backfill after configuring or changing the model; the beat job does the same every 15 minutes)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--limit", type=int, default=services.EMBED_PER_RUN, help="At most this many chunks.")

    def handle_tenant(self, tenant, *args, **options):
        model = selectors.embeddings_model(tenant=tenant)
        if not model:
            raise CommandError("The tenant's AI has no embeddings model (or AI is off): nothing to embed.")
        done = services.article_chunks_embed(tenant=tenant, limit=options["limit"])
        left = selectors.article_chunks_without_embedding(tenant=tenant, model=model, limit=1).exists()
        self.stdout.write(f"Embedded {done} chunks with {model}." + (" Some are left: run again." if left else ""))
