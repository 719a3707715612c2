"""Reads of the knowledge base, and its search.

`knowledge_search` is what agents (the inbox, the API) and AI agents (grounded answers) call. It
runs offline on PostgreSQL alone:

1. typo correction: each query word of 4+ letters that is not in the tenant's vocabulary
   (knowledge.models.Term) is widened with its closest terms by trigram similarity
   ("entega" → "entrega"); one query;
2. full-text search: the words (and corrections) OR-ed in a tsquery of each language's
   configuration (stemming, stop words, accents folded by `unaccent`), matched against the stored
   `search_vector` (GIN index). The best matches by `ts_rank` are the candidates; only they get
   the full score and a highlighted excerpt. One query.

Score: `ts_rank` of the OR query (title weighs most, then category, then body) plus `ts_rank` of
all the words together (so an article with every word wins) plus half the word similarity of the
query to the title. Roughly 0.1 = a single body match, above 1 = the words are in the title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, F, FloatField, Func, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.utils.html import escape

from knowledge import text
from knowledge.models import SEARCH_CONFIGS, Article, ArticleChunk, ArticleVersion, Term, folded
from tenants.context import require_current_tenant
from tenants.models import Tenant

MAX_LIMIT = 50
CANDIDATES = 60  # at least this many full-text and title candidates get the full score
MAX_QUERY_WORDS = 24
MAX_QUERY_CHARS = 1000
CORRECTIONS_PER_WORD = 2
MIN_CORRECTION_SIMILARITY = 0.4
TITLE_SIMILARITY_WEIGHT = 0.5
# ts_headline markers: control characters no article contains, so the excerpt can be HTML-escaped
# first and the markers turned into <mark> after.
_START, _STOP = "\x02", "\x03"
HEADLINE_OPTIONS = (
    f'StartSel={_START}, StopSel={_STOP}, MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'
)


@dataclass(frozen=True)
class SearchHit:
    article: Article
    score: float
    headline: str  # an excerpt of the body, HTML-escaped, the matched words in <mark>…</mark>


# --- Articles --------------------------------------------------------------------------------


def article_list(*, tenant: Tenant, published_only: bool = False) -> QuerySet[Article]:
    articles = Article.objects.filter(tenant=tenant).defer("search_vector")
    if published_only:
        articles = articles.filter(status=Article.Status.PUBLISHED)
    return articles


def article_version_list(*, article: Article) -> QuerySet[ArticleVersion]:
    return ArticleVersion.objects.filter(tenant_id=article.tenant_id, article=article).select_related("created_by")


def article_chunk_list(*, tenant: Tenant, article_ids: list[int] | None = None) -> QuerySet[ArticleChunk]:
    """Passages of published articles (for hybrid ranking by the AI app)."""
    chunks = ArticleChunk.objects.filter(tenant=tenant, article__status=Article.Status.PUBLISHED)
    if article_ids is not None:
        chunks = chunks.filter(article_id__in=article_ids)
    return chunks.order_by("article_id", "ordinal")


def article_chunks_without_embedding(*, tenant: Tenant, model: str, limit: int = 100) -> QuerySet[ArticleChunk]:
    """Passages the AI app still has to embed with `model` (new, changed or embedded by another model)."""
    return (
        ArticleChunk.objects.filter(tenant=tenant)
        .exclude(embedding__isnull=False, embedding_model=model)
        .select_related("article")
        .order_by("article_id", "ordinal")[:limit]
    )


# --- Search ----------------------------------------------------------------------------------


def query_corrections(*, tenant: Tenant, words: list[str]) -> dict[str, list[str]]:
    """{word: closest vocabulary terms} for the words (folded, 4+ letters) the vocabulary lacks."""
    candidates = [word for word in words if len(word) >= text.MIN_CORRECTED_WORD]
    if not candidates:
        return {}
    sql = f"""
        SELECT asked.word, term.word, similarity(term.word, asked.word)
        FROM unnest(%s::text[]) AS asked(word)
        CROSS JOIN LATERAL (
            SELECT word FROM {Term._meta.db_table}
            WHERE tenant_id = %s AND word %% asked.word
            ORDER BY word <-> asked.word, word
            LIMIT {CORRECTIONS_PER_WORD + 1}
        ) AS term
    """
    found: dict[str, list[tuple[str, float]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [candidates, tenant.pk])
        for asked, term, similarity in cursor.fetchall():
            found.setdefault(asked, []).append((term, similarity))
    corrections = {}
    for asked, terms in found.items():
        if any(term == asked for term, _similarity in terms):
            continue  # a known word: nothing to correct
        close = [term for term, similarity in terms if similarity >= MIN_CORRECTION_SIMILARITY]
        if close:
            corrections[asked] = close[:CORRECTIONS_PER_WORD]
    return corrections


def _query_words(query: str) -> list[str]:
    """The query's words as typed (accents kept: the configuration folds them when it can)."""
    return list(dict.fromkeys(re.findall(r"[^\W_]+", query)))[:MAX_QUERY_WORDS]


def _any_of(config: str, terms: list[str]) -> tuple[str, list[str]]:
    """A tsquery matching any of the terms, in `config` (each term stemmed, stop words dropped)."""
    sql = " || ".join(f"plainto_tsquery('{config}'::regconfig, %s)" for _term in terms)
    return f"({sql})", list(terms)


def _per_language(languages: list[str], build) -> tuple[str, list]:
    """CASE language WHEN … THEN build(config) … END, with its parameters in order."""
    parts, params = [], []
    for code in languages:
        sql, sql_params = build(SEARCH_CONFIGS[code])
        parts.append(f"WHEN %s THEN {sql}")
        params += [code, *sql_params]
    return f"(CASE language {' '.join(parts)} END)", params


def knowledge_search(
    *,
    query: str,
    limit: int = 5,
    language: str | None = None,
    tags: list[str] | None = None,
    categories: list[str] | None = None,
    published_only: bool = True,
    tenant: Tenant | None = None,
) -> list[SearchHit]:
    """The articles that best answer `query`, best first (see the module's docstring). Runs in the
    current tenant unless `tenant` is given; two queries at most."""
    tenant = tenant or require_current_tenant()
    query = " ".join(query.split())[:MAX_QUERY_CHARS]
    typed = _query_words(query)
    if not typed:
        return []
    limit = max(1, min(int(limit), MAX_LIMIT))
    corrections = query_corrections(tenant=tenant, words=text.words(" ".join(typed)))
    terms = list(dict.fromkeys([*typed, *(term for close in corrections.values() for term in close)]))
    languages = [language] if language else list(SEARCH_CONFIGS)
    folded_query = text.fold(query)

    articles = article_list(tenant=tenant, published_only=published_only)
    if language:
        articles = articles.filter(language=language)
    if tags:
        articles = articles.filter(tags__overlap=[tag.strip().lower() for tag in tags])
    if categories:
        articles = articles.filter(category__in=categories)

    any_sql, any_params = _per_language(languages, lambda config: _any_of(config, terms))
    all_sql, all_params = _per_language(
        languages, lambda config: (f"plainto_tsquery('{config}'::regconfig, %s)", [query])
    )
    # One arm per language, each a constant tsquery, so the GIN index can serve every arm.
    match_arms, match_params = [], []
    for code in languages:
        arm_sql, arm_params = _any_of(SEARCH_CONFIGS[code], terms)
        match_arms.append(f"(language = %s AND search_vector @@ {arm_sql})")
        match_params += [code, *arm_params]
    matches_sql = "(" + " OR ".join(match_arms) + ")"
    rank_sql = f"ts_rank(search_vector, {any_sql}) + ts_rank(search_vector, {all_sql})"
    headline_sql, headline_params = _per_language(
        languages,
        lambda config: (
            f"ts_headline('{config}'::regconfig, body, {_any_of(config, terms)[0]}, %s)",
            [*terms, HEADLINE_OPTIONS],
        ),
    )
    title = folded(F("title"))
    title_similarity = Func(Value(folded_query), title, function="word_similarity", output_field=FloatField())
    # Candidates first, cheaply: the best full-text matches by one ts_rank. Only they get the full
    # score (a second ts_rank and the title's word similarity, ~0.1 ms a row): a common word can
    # match most of a large base.
    pool = max(limit * 10, CANDIDATES)
    text_matches = (
        articles.filter(RawSQL(matches_sql, match_params, output_field=BooleanField()))
        .annotate(text_rank=RawSQL(f"ts_rank(search_vector, {any_sql})", any_params, output_field=FloatField()))
        .order_by("-text_rank", "pk")
        .values("pk")[:pool]
    )
    hits = (
        Article.objects.filter(tenant=tenant)
        .defer("search_vector")
        .filter(pk__in=text_matches)
        .annotate(
            rank=RawSQL(rank_sql, [*any_params, *all_params], output_field=FloatField()),
            title_similarity=title_similarity,
        )
        .annotate(score=F("rank") + Value(TITLE_SIMILARITY_WEIGHT) * F("title_similarity"))
        .annotate(headline=RawSQL(headline_sql, headline_params, output_field=TextField()))
        .order_by("-score", "-usage_count", "pk")[:limit]
    )
    return [SearchHit(article=hit, score=round(hit.score, 6), headline=_headline_html(hit.headline)) for hit in hits]


def _headline_html(headline: str | None) -> str:
    if not headline:
        return ""
    plain = text.markdown_plain(headline)
    return escape(" ".join(plain.split())).replace(_START, "<mark>").replace(_STOP, "</mark>")
