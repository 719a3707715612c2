import factory

from knowledge.models import Article, ArticleChunk, ArticleProposal, ArticleVersion, Term
from tenants.tests.factories import TenantOwnedFactory


class ArticleFactory(TenantOwnedFactory):
    """A published article written straight to the table (no version, chunks or terms): tests of
    search build articles through knowledge.services instead."""

    class Meta:
        model = Article

    title = factory.Sequence(lambda n: f"Artigo {n}")
    body = factory.Sequence(lambda n: f"Conteúdo do artigo {n}.")
    status = Article.Status.PUBLISHED


class ArticleVersionFactory(TenantOwnedFactory):
    class Meta:
        model = ArticleVersion

    article = factory.SubFactory(ArticleFactory, tenant=factory.SelfAttribute("..tenant"))
    number = 1
    title = factory.LazyAttribute(lambda version: version.article.title)
    body = factory.LazyAttribute(lambda version: version.article.body)


class ArticleChunkFactory(TenantOwnedFactory):
    class Meta:
        model = ArticleChunk

    article = factory.SubFactory(ArticleFactory, tenant=factory.SelfAttribute("..tenant"))
    ordinal = 0
    text = factory.LazyAttribute(lambda chunk: chunk.article.body)


class TermFactory(TenantOwnedFactory):
    class Meta:
        model = Term

    word = factory.Sequence(lambda n: f"palavra{n}")


class ArticleProposalFactory(TenantOwnedFactory):
    """A pending rewrite of an article (written from no particular version: never stale)."""

    class Meta:
        model = ArticleProposal

    kind = ArticleProposal.Kind.REWRITE
    article = factory.SubFactory(ArticleFactory, tenant=factory.SelfAttribute("..tenant"))
    title = factory.Sequence(lambda n: f"Artigo reescrito {n}")
    body = factory.Sequence(lambda n: f"Texto mais claro do artigo {n}.")
    reason = "Frases mais curtas."
    model = "fake-chat"
