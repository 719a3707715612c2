"""The knowledge base: articles agents and AI agents answer from, their versions, their chunks (for
optional embeddings) and the vocabulary that lets searches forgive typos.

Search (knowledge.selectors.knowledge_search) reads `Article.search_vector`, a column PostgreSQL
computes from the title, category and body with the text search configuration of the article's
language (`prosa_portuguese`, `prosa_english`, `prosa_spanish`, created by migration 0001 — with
`unaccent` when the server has it).
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from tenants.models import TenantOwned


class Language(models.TextChoices):
    PT_BR = "pt-br", "Português (Brasil)"
    EN = "en", "English"
    ES = "es", "Español"


# Language → its PostgreSQL text search configuration (see migration 0001).
SEARCH_CONFIGS = {
    Language.PT_BR: "prosa_portuguese",
    Language.EN: "prosa_english",
    Language.ES: "prosa_spanish",
}


def _config_case(column: str = "language") -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{config}'::regconfig" for code, config in SEARCH_CONFIGS.items())
    return f"CASE {column} {whens} ELSE 'simple'::regconfig END"


# Title (weight A), category (B) and body (C), each in the article's language. The configuration
# names are constants, so the expression is immutable and PostgreSQL can store it.
SEARCH_VECTOR_SQL = (
    f"setweight(to_tsvector({_config_case()}, COALESCE(title, '')), 'A') || "
    f"setweight(to_tsvector({_config_case()}, COALESCE(category, '')), 'B') || "
    f"setweight(to_tsvector({_config_case()}, COALESCE(body, '')), 'C')"
)


class BitStringField(models.Field):
    """PostgreSQL `bit varying`, read and written as a str of 0s and 1s."""

    description = "Bit string"

    def db_type(self, connection):
        return "bit varying"


class Article(TenantOwned):
    """A piece of the company's knowledge, in Markdown. Agents and AI agents see published articles
    only; every change of title or body is kept as an ArticleVersion (by knowledge.services)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body (Markdown)"), blank=True)
    # Topics of the knowledge base, not contact tags (crm.Tag segments contacts for campaigns).
    tags = ArrayField(models.CharField(max_length=60), verbose_name=_("tags"), default=list, blank=True)
    category = models.CharField(_("category"), max_length=80, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.PT_BR)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    usage_count = models.PositiveIntegerField(_("times used"), default=0)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    search_vector = models.GeneratedField(
        expression=RawSQL(SEARCH_VECTOR_SQL, []), output_field=SearchVectorField(), db_persist=True
    )

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["tenant", "status", "updated_at"], name="knowledge_article_status"),
            # Which languages a tenant writes in (search reads only those): an index-only scan.
            models.Index(fields=["tenant", "language"], name="knowledge_article_language"),
            GinIndex(fields=["search_vector"], name="knowledge_article_search"),
            GinIndex(fields=["tags"], name="knowledge_article_tags"),
            # Duplicate titles (the optimizer's merge candidates) by trigram similarity.
            GinIndex(OpClass(Lower("title"), name="gin_trgm_ops"), name="knowledge_article_title_trgm"),
        ]

    def __str__(self) -> str:
        return self.title


class ArticleVersion(TenantOwned):
    """The title and body an article had after one save (version 1 is the article as created)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions", verbose_name=_("article"))
    number = models.PositiveIntegerField(_("version"))
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body (Markdown)"), blank=True)
    restored_from = models.PositiveIntegerField(_("restored from version"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("saved by"),
    )
    created_at = models.DateTimeField(_("saved at"), auto_now_add=True)

    class Meta:
        verbose_name = _("article version")
        verbose_name_plural = _("article versions")
        ordering = ["article_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["article", "number"], name="knowledge_version_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.number})"


class ArticleChunk(TenantOwned):
    """A passage of an article (by headings and paragraphs), rebuilt whenever the body changes.
    `embedding` stays empty until the AI app fills it with its embeddings model; search never
    needs it."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("article"))
    ordinal = models.PositiveIntegerField(_("position"))
    text = models.TextField(_("text"))
    embedding = ArrayField(models.FloatField(), verbose_name=_("embedding"), null=True, blank=True)
    embedding_model = models.CharField(_("embedding model"), max_length=120, blank=True)
    # The embedding's signs, one bit a dimension: search ranks every chunk by Hamming distance
    # (bit_count of a XOR, fast in C) and computes the exact cosine of the nearest only.
    embedding_signs = BitStringField(_("embedding signs"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("article chunk")
        verbose_name_plural = _("article chunks")
        ordering = ["article_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["article", "ordinal"], name="knowledge_chunk_unique_ordinal"),
        ]
        # Which chunks are embedded by the tenant's model (search asks on every query).
        indexes = [models.Index(fields=["tenant", "embedding_model"], name="knowledge_chunk_embedding")]

    def __str__(self) -> str:
        return f"{self.article_id}#{self.ordinal}"


class Term(TenantOwned):
    """A word of the tenant's articles (lower case, without accents). Searches correct a query word
    they do not find here to the closest terms (trigram similarity): "entega" → "entrega". Words are
    added as articles change and never removed; a stale one only widens a query harmlessly."""

    word = models.CharField(_("word"), max_length=60)

    class Meta:
        verbose_name = _("search term")
        verbose_name_plural = _("search terms")
        constraints = [models.UniqueConstraint(fields=["tenant", "word"], name="knowledge_term_unique_word")]
        indexes = [GinIndex(fields=["word"], name="knowledge_term_word_trgm", opclasses=["gin_trgm_ops"])]

    def __str__(self) -> str:
        return self.word


class ArticleProposal(TenantOwned):
    """A change the AI suggests to the knowledge base ("optimize"), waiting for a person: nothing
    here reaches agents or customers until a reviewer accepts it (knowledge.optimize)."""

    class Kind(models.TextChoices):
        REWRITE = "rewrite", _("Clearer rewrite")
        MERGE = "merge", _("Merge of duplicates")
        DRAFT = "draft", _("New article from tickets")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    title = models.CharField(_("proposed title"), max_length=200)
    body = models.TextField(_("proposed body (Markdown)"), blank=True)
    reason = models.TextField(_("why"), blank=True)
    # A rewrite: the article rewritten; a merge: the article that stays (the others are unpublished).
    article = models.ForeignKey(
        Article, on_delete=models.CASCADE, null=True, blank=True, related_name="proposals",
        verbose_name=_("article"),
    )  # fmt: skip
    # The version the proposal was written from: accepting it after the article changed is refused.
    base_version = models.PositiveIntegerField(_("based on version"), null=True, blank=True)
    source_articles = models.ManyToManyField(
        Article, blank=True, related_name="merge_proposals", verbose_name=_("duplicates")
    )
    source_tickets = models.ManyToManyField(
        "tickets.Ticket", blank=True, related_name="knowledge_proposals", verbose_name=_("source tickets")
    )
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.PT_BR)
    model = models.CharField(_("AI model"), max_length=120, blank=True)
    result_article = models.ForeignKey(
        Article, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("resulting article"),
    )  # fmt: skip
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("reviewed by"),
    )  # fmt: skip
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.TextField(_("review note"), blank=True)
    created_at = models.DateTimeField(_("proposed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("article proposal")
        verbose_name_plural = _("article proposals")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status", "kind"], name="knowledge_proposal_status")]
        constraints = [
            # One rewrite waits per article at a time (the optimizer skips articles that have one).
            models.UniqueConstraint(
                fields=["article"],
                condition=models.Q(kind="rewrite", status="pending"),
                name="knowledge_proposal_one_pending_rewrite",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"
