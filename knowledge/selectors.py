"""Reads of the knowledge base, and its search.

`knowledge_search` is what agents (the inbox, the API) and AI agents (grounded answers) call. It
runs offline on PostgreSQL alone:

1. one statement learns what the query means: each word of 4+ letters the tenant's vocabulary
   (knowledge.models.Term) lacks is widened with its closest terms by trigram similarity
   ("entega" → "entrega"); every word and correction is read (stemmed, stop words dropped,
   accents folded by `unaccent`) by each language's configuration; the tenant's languages;
2. full-text search: the deduplicated lexemes OR-ed in one constant tsquery, matched against the
   stored `search_vector` (GIN index). The best matches by `ts_rank` are the candidates; only they
   get the full score and a highlighted excerpt.

Score: `ts_rank` of the OR query in the article's language (title weighs most, then category,
then body) plus `ts_rank` of all the words together (so an article with every word wins) plus half
the word similarity of the query to the title. Scores compare hits of one search; a match in the
title scores well above a match in the body only.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import operator
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DataError, OperationalError, connection, connections, transaction
from django.db.models import BooleanField, Exists, F, FloatField, Func, Max, OuterRef, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Length
from django.utils.html import escape

from config.folding import folded
from knowledge import text
from knowledge.models import SEARCH_CONFIGS, Article, ArticleChunk, ArticleProposal, ArticleVersion, Term
from tenants.context import require_current_tenant, tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_LIMIT = 50
CANDIDATES = 60  # at least this many full-text candidates get the full score
MAX_QUERY_WORDS = 24
MAX_QUERY_CHARS = 1000
CORRECTIONS_PER_WORD = 2
MIN_CORRECTION_SIMILARITY = 0.4
TITLE_SIMILARITY_WEIGHT = 0.5
# Hybrid ranking (when chunks have embeddings): reciprocal-rank fusion of the full-text ranking and
# the cosine similarity of the query to each article's best chunk.
RRF_K = 60
SEMANTIC_POOL_FACTOR = 4  # each ranking contributes up to limit × this many articles
SEMANTIC_MIN_POOL = 20
# Below this cosine an article gets no semantic vote. 0.3 suits OpenAI's text-embedding-3 models
# (unrelated texts ~0.1–0.25); other models may need KNOWLEDGE_MIN_SEMANTIC_SIMILARITY in settings.
MIN_SEMANTIC_SIMILARITY = getattr(settings, "KNOWLEDGE_MIN_SEMANTIC_SIMILARITY", 0.3)
QUERY_EMBEDDING_CACHE_SECONDS = 3600
RESCORED_CHUNKS = 100  # chunks nearest by sign bits that get the exact cosine (~0.6 ms each)
SEMANTIC_TIMEOUT_MS = getattr(settings, "KNOWLEDGE_SEMANTIC_TIMEOUT_MS", 400)
# pgvector's copy of each chunk's embedding (migration knowledge 0003 adds it only where the `vector`
# extension exists; not on the model, so raw SQL) and pgvector's limit for a stored vector.
VECTOR_COLUMN = "embedding_vector"
VECTOR_MAX_DIMENSIONS = 16000
HEADLINE_CHARS = 240  # excerpt of an article found by similarity only (no words to highlight)
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


def article_chunks_without_embedding(
    *, tenant: Tenant, model: str, limit: int = 100, article_ids: list[int] | None = None
) -> QuerySet[ArticleChunk]:
    """Passages of published articles still to embed with `model` (new, changed or embedded by
    another model). Drafts wait: they are embedded when published."""
    chunks = (
        ArticleChunk.objects.filter(tenant=tenant, article__status=Article.Status.PUBLISHED)
        .exclude(text="")
        .exclude(embedding__isnull=False, embedding_signs__isnull=False, embedding_model=model)
    )
    if article_ids is not None:
        chunks = chunks.filter(article_id__in=article_ids)
    return chunks.select_related("article").order_by("article_id", "ordinal")[:limit]


def embeddings_model(*, tenant: Tenant) -> str:
    """The embeddings model of the tenant's AI, "" when AI is off or has none (no embeddings then:
    search stays full-text)."""
    from ai.models import AISettings

    found = AISettings.all_tenants.filter(tenant=tenant).first()
    if found is None or not found.is_configured:
        return ""
    return found.embeddings_model or ""


# --- Proposals ("optimize") --------------------------------------------------------------------

DUPLICATE_TITLE_SIMILARITY = 0.6
DUPLICATE_CHUNK_SIMILARITY = 0.92
DUPLICATE_EMBEDDED_ARTICLES = 200  # ~20,000 pairs: a few seconds in a background run
UNANSWERED_SCORE = 0.1  # a ticket's question whose best full-text hit scores below this had no answer


def proposal_list(*, tenant: Tenant, status: str | None = None, kind: str | None = None) -> QuerySet[ArticleProposal]:
    proposals = (
        ArticleProposal.objects.filter(tenant=tenant)
        .select_related("article", "result_article", "reviewed_by")
        .prefetch_related("source_articles", "source_tickets")
    )
    if status:
        proposals = proposals.filter(status=status)
    if kind:
        proposals = proposals.filter(kind=kind)
    return proposals


def article_latest_version(*, article: Article) -> int:
    return ArticleVersion.objects.filter(article=article).aggregate(last=Max("number"))["last"] or 0


def rewrite_candidates(
    *, tenant: Tenant, limit: int, max_body_chars: int, article_ids: list[int] | None = None
) -> list[Article]:
    """Published articles to propose a clearer text for: the most used first, skipping those with
    a rewrite proposed (or reviewed) since their last change, and those longer than the model is
    shown (a rewrite of a cut text would lose the rest)."""
    proposed_since_change = ArticleProposal.objects.filter(
        article=OuterRef("pk"), kind=ArticleProposal.Kind.REWRITE, created_at__gte=OuterRef("updated_at")
    )
    articles = (
        article_list(tenant=tenant, published_only=True)
        .exclude(Exists(proposed_since_change))
        .exclude(proposals__kind=ArticleProposal.Kind.REWRITE, proposals__status=ArticleProposal.Status.PENDING)
        .annotate(body_chars=Length("body"))
        .filter(body_chars__lte=max_body_chars)
    )
    if article_ids is not None:
        articles = articles.filter(pk__in=article_ids)
    return list(articles.order_by("-usage_count", "updated_at", "pk")[:limit])


def duplicate_candidates(*, tenant: Tenant, limit: int) -> list[tuple[int, int]]:
    """Pairs of published articles (same language) that look like one topic written twice: titles
    alike by trigrams, or — when the chunks have embeddings — first passages nearly parallel.
    Pairs already proposed (pending, accepted or rejected) are skipped. (kept id, duplicate id):
    the more used (then older) article is kept."""
    table = Article._meta.db_table
    sql = f"""
        SELECT a.id, b.id FROM {table} a JOIN {table} b
          ON b.tenant_id = a.tenant_id AND b.language = a.language AND b.id > a.id
         AND b.status = 'published' AND lower(b.title) %% lower(a.title)
        WHERE a.tenant_id = %s AND a.status = 'published'
          AND similarity(lower(a.title), lower(b.title)) >= %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant.pk, DUPLICATE_TITLE_SIMILARITY])
        found = {tuple(row) for row in cursor.fetchall()}
    found |= _parallel_first_passages(tenant=tenant)
    proposed = set()
    merges = ArticleProposal.objects.filter(tenant=tenant, kind=ArticleProposal.Kind.MERGE).prefetch_related(
        "source_articles"
    )
    for proposal in merges:
        for duplicate in proposal.source_articles.all():
            proposed.add(frozenset((proposal.article_id, duplicate.pk)))
    uses = dict(
        Article.objects.filter(tenant=tenant, pk__in={pk for pair in found for pk in pair}).values_list(
            "pk", "usage_count"
        )
    )
    pairs, seen = [], set()
    for first, second in sorted(found):
        if frozenset((first, second)) in proposed or first in seen or second in seen:
            continue
        kept, duplicate = (second, first) if uses.get(second, 0) > uses.get(first, 0) else (first, second)
        pairs.append((kept, duplicate))
        seen |= {first, second}  # one proposal per article per run
        if len(pairs) >= limit:
            break
    return pairs


def _parallel_first_passages(*, tenant: Tenant) -> set[tuple[int, int]]:
    """(lower id, higher id) of published articles of one language whose first passages' vectors
    (the tenant's current model) have cosine ≥ DUPLICATE_CHUNK_SIMILARITY. Compared in Python
    (normalized once; ~30–150 µs a pair at 1,536 dimensions) among the DUPLICATE_EMBEDDED_ARTICLES
    most used articles: all pairs is quadratic."""
    model = embeddings_model(tenant=tenant)
    if not model:
        return set()
    rows = (
        ArticleChunk.objects.filter(
            tenant=tenant, ordinal=0, embedding_model=model, embedding__isnull=False,
            article__status=Article.Status.PUBLISHED,
        )
        .order_by("-article__usage_count", "-article__updated_at")
        .values_list("article_id", "article__language", "embedding")[:DUPLICATE_EMBEDDED_ARTICLES]
    )  # fmt: skip
    vectors = []
    for article_id, language, embedding in rows:
        norm = math.sqrt(sum(value * value for value in embedding))
        if norm:
            vectors.append((article_id, language, [value / norm for value in embedding]))
    found = set()
    for index, (first, language, vector) in enumerate(vectors):
        for second, other_language, other in vectors[index + 1 :]:
            if language != other_language or len(vector) != len(other):
                continue
            if sum(map(operator.mul, vector, other)) >= DUPLICATE_CHUNK_SIMILARITY:
                found.add((min(first, second), max(first, second)))
    return found


def unanswered_tickets(*, tenant: Tenant, since, limit: int, examine: int) -> list[tuple[object, str]]:
    """Tickets closed since `since` (an agent answered, the customer asked) that no proposal used
    yet, whose customer question finds no good article (full text only: no AI call): [(ticket, the
    question)], most recent first. Looks at `examine` tickets at most."""
    from tickets.models import Message, Ticket

    tickets = (
        Ticket.objects.filter(tenant=tenant, status=Ticket.Status.CLOSED, closed_at__gte=since)
        .exclude(knowledge_proposals__isnull=False)
        .filter(messages__direction=Message.Direction.OUTBOUND, messages__is_internal_note=False)
        .distinct()
        .order_by("-closed_at", "-id")[:examine]
    )
    found = []
    for ticket in tickets:
        question = " ".join(
            Message.objects.filter(ticket=ticket, direction=Message.Direction.INBOUND, deleted_at__isnull=True)
            .exclude(text="")
            .order_by("sent_at", "id")
            .values_list("text", flat=True)[:3]
        )
        if not question.strip():
            continue
        hits = knowledge_search(tenant=tenant, query=question, limit=1, semantic=False)
        if hits and hits[0].score >= UNANSWERED_SCORE:
            continue
        found.append((ticket, question))
        if len(found) >= limit:
            break
    return found


# --- Search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Readings:
    """What the first query learns: corrections, and each configuration's tsquery (as text) of
    the words and of the whole query."""

    corrections: dict[str, list[str]]
    any_word: dict[str, str]  # config → 'a' | 'b' | … (deduplicated lexemes), "" when none
    all_words: dict[str, str]  # config → plainto_tsquery of the whole query
    languages: set[str]  # the languages the tenant has articles in
    embeddings_model: str = ""  # set when the tenant's AI has one and chunks embedded by it exist


def _readings(*, tenant: Tenant, typed: list[str], query: str, configs: list[str], semantic: bool = False) -> _Readings:
    """One statement: vocabulary terms close to each folded word of 4+ letters, and the tsquery of
    every typed word, candidate correction and the whole query in each configuration — and, when
    `semantic`, the embeddings model whose vectors exist (so full-text-only searches stay two
    queries)."""
    from ai.models import AISettings

    semantic_sql = f"""
        UNION ALL
        SELECT 'semantic', ai.embeddings_model, NULL, NULL FROM {AISettings._meta.db_table} AS ai
        WHERE %s AND ai.tenant_id = %s AND ai.enabled AND ai.base_url <> '' AND ai.chat_model <> ''
          AND ai.embeddings_model <> '' AND EXISTS (
            SELECT 1 FROM {ArticleChunk._meta.db_table} AS chunk
            WHERE chunk.tenant_id = ai.tenant_id AND chunk.embedding_model = ai.embeddings_model
              AND chunk.embedding IS NOT NULL
          )
    """
    asked = [word for word in text.words(" ".join(typed)) if len(word) >= text.MIN_CORRECTED_WORD]
    sql = f"""
        WITH close AS (
            SELECT asked.word AS asked, term.word AS term, similarity(term.word, asked.word) AS similarity
            FROM unnest(%s::text[]) AS asked(word)
            -- Only words the vocabulary lacks are looked up by similarity (the costly part).
            CROSS JOIN LATERAL (SELECT NOT EXISTS (
                SELECT 1 FROM {Term._meta.db_table} WHERE tenant_id = %s AND word = asked.word
            ) AS unknown) AS known
            CROSS JOIN LATERAL (
                SELECT word FROM {Term._meta.db_table}
                WHERE known.unknown AND tenant_id = %s AND word %% asked.word
                ORDER BY word <-> asked.word, word
                LIMIT {CORRECTIONS_PER_WORD + 1}
            ) AS term
        ),
        configs AS (SELECT unnest(%s::text[]) AS config),
        words AS (SELECT unnest(%s::text[]) AS word UNION SELECT term FROM close)
        SELECT 'close', asked, term, similarity::text FROM close
        UNION ALL
        SELECT 'word', config, word, plainto_tsquery(config::regconfig, word)::text FROM configs, words
        UNION ALL
        SELECT 'query', config, NULL, plainto_tsquery(config::regconfig, %s)::text FROM configs
        UNION ALL
        SELECT DISTINCT 'language', language, NULL, NULL FROM {Article._meta.db_table} WHERE tenant_id = %s
        {semantic_sql}
    """
    found: dict[str, list[tuple[str, float]]] = {}
    lexemes: dict[tuple[str, str], str] = {}
    all_words: dict[str, str] = {}
    languages: set[str] = set()
    model = ""
    with connection.cursor() as cursor:
        cursor.execute(sql, [asked, tenant.pk, tenant.pk, configs, typed, query, tenant.pk, semantic, tenant.pk])
        for kind, first, second, value in cursor.fetchall():
            if kind == "close":
                found.setdefault(first, []).append((second, float(value)))
            elif kind == "word":
                lexemes[(first, second)] = value
            elif kind == "query":
                all_words[first] = value
            elif kind == "semantic":
                model = first
            else:
                languages.add(first)
    corrections = {}
    for word, terms in found.items():
        close = [term for term, similarity in terms if similarity >= MIN_CORRECTION_SIMILARITY]
        if close:
            corrections[word] = close[:CORRECTIONS_PER_WORD]
    words = [*typed, *(term for close in corrections.values() for term in close)]
    any_word = {}
    for config in configs:
        parts = dict.fromkeys(lexemes.get((config, word), "") for word in words)
        any_word[config] = " | ".join(f"( {part} )" for part in parts if part)
    return _Readings(
        corrections=corrections, any_word=any_word, all_words=all_words, languages=languages, embeddings_model=model
    )


def query_corrections(*, tenant: Tenant, words: list[str]) -> dict[str, list[str]]:
    """{word: closest vocabulary terms} for the words (4+ letters) the vocabulary lacks."""
    return _readings(tenant=tenant, typed=words, query=" ".join(words), configs=[]).corrections


def _query_words(query: str) -> list[str]:
    """The query's words as typed (accents kept: the configuration folds them when it can)."""
    return list(dict.fromkeys(re.findall(r"[^\W_]+", query)))[:MAX_QUERY_WORDS]


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
    semantic: bool = True,
) -> list[SearchHit]:
    """The articles that best answer `query`, best first (see the module's docstring). Runs in the
    current tenant unless `tenant` is given; two queries — plus, when the tenant's chunks have
    embeddings and `semantic` is on, one embedding of the query and one similarity query, fused
    with the full-text ranking (falls back to full text alone whenever that fails)."""
    tenant = tenant or require_current_tenant()
    query = " ".join(query.split())[:MAX_QUERY_CHARS]
    typed = _query_words(query)
    if not typed:
        return []
    limit = max(1, min(int(limit), MAX_LIMIT))
    articles = article_list(tenant=tenant, published_only=published_only)
    if language:
        articles = articles.filter(language=language)
    if tags:
        articles = articles.filter(tags__overlap=[tag.strip().lower() for tag in tags])
    if categories:
        articles = articles.filter(category__in=categories)
    configs = [SEARCH_CONFIGS[code] for code in ([language] if language else SEARCH_CONFIGS)]
    readings = _readings(tenant=tenant, typed=typed, query=query, configs=configs, semantic=semantic)
    model = readings.embeddings_model
    query_vector = _query_embedding(tenant=tenant, query=query, model=model) if model else None
    if query_vector is None:
        return _text_hits(tenant=tenant, query=query, readings=readings, language=language, articles=articles,
                          limit=limit)  # fmt: skip
    pool = max(limit * SEMANTIC_POOL_FACTOR, SEMANTIC_MIN_POOL)
    text_hits = _text_hits(tenant=tenant, query=query, readings=readings, language=language, articles=articles,
                           limit=pool)  # fmt: skip
    similar = _similar_articles(
        tenant=tenant, articles=articles, vector=query_vector, model=readings.embeddings_model, limit=pool
    )
    if similar is None:
        return text_hits[:limit]
    return _fused(tenant=tenant, text_hits=text_hits, similar=similar, limit=limit)


def _text_hits(*, tenant: Tenant, query: str, readings: _Readings, language: str | None, articles, limit: int):
    """Full-text search with typo corrections (the module's docstring)."""
    languages = [language] if language else list(SEARCH_CONFIGS)
    # The match is one constant tsquery — every language's reading of the words, deduplicated — so
    # the GIN index serves it (per-language arms `language = … AND …`, or repeated lexemes that
    # inflate the row estimate, make PostgreSQL read every vector: ~10x slower at 5,000 articles).
    # An article matched only by another language's reading ranks by its own, so it sinks.
    # Only the readings of languages the tenant writes in: a Portuguese base is not searched for
    # the English reading of Portuguese words ("o", "de"), which only widens the scan.
    languages = [code for code in languages if code in readings.languages]
    union = dict.fromkeys(
        part for code in languages for part in readings.any_word[SEARCH_CONFIGS[code]].split(" | ") if part
    )
    if not union:
        return []  # only stop words
    matches_sql = "search_vector @@ %s::tsquery"
    match_params = [" | ".join(union)]

    def any_word(config):
        return "%s::tsquery", [readings.any_word[config]]

    def all_words(config):
        return "%s::tsquery", [readings.all_words[config]]

    any_sql, any_params = _per_language(languages, any_word)
    all_sql, all_params = _per_language(languages, all_words)
    rank_sql = f"COALESCE(ts_rank(search_vector, {any_sql}), 0) + COALESCE(ts_rank(search_vector, {all_sql}), 0)"
    headline_sql, headline_params = _per_language(
        languages,
        lambda config: (
            f"ts_headline('{config}'::regconfig, body, %s::tsquery, %s)",
            [readings.any_word[config], HEADLINE_OPTIONS],
        ),
    )

    # Candidates first, cheaply: the best full-text matches by one ts_rank. Only they get the full
    # score (a second ts_rank and the title's word similarity, ~0.1 ms a row): a common word can
    # match most of a large base.
    pool = max(limit * 10, CANDIDATES)
    text_matches = (
        articles.filter(RawSQL(matches_sql, match_params, output_field=BooleanField()))
        .annotate(
            text_rank=RawSQL(f"COALESCE(ts_rank(search_vector, {any_sql}), 0)", any_params, output_field=FloatField())
        )
        .order_by("-text_rank", "pk")
        .values("pk")[:pool]
    )
    title_similarity = Func(
        Value(text.fold(query)), folded(F("title")), function="word_similarity", output_field=FloatField()
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


def _query_embedding(*, tenant: Tenant, query: str, model: str) -> list[float] | None:
    """The query's embedding, or None on any refusal or failure of the provider (the monthly cap,
    a timeout…): search then ranks by full text alone, never failing for it. A query asked again
    within QUERY_EMBEDDING_CACHE_SECONDS reuses its vector (no new metered call)."""
    from ai.services import texts_embed
    from config.errors import ProsaError

    key = "knowledge:query-embedding:" + hashlib.sha256(f"{tenant.pk}\n{model}\n{query}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        with tenant_context(tenant):
            vectors = texts_embed(tenant=tenant, texts=[query])
    except ProsaError as exc:
        logger.info("knowledge search: no query embedding (%s), full text only", exc.code)
        return None
    if not vectors:
        return None
    cache.set(key, vectors[0], QUERY_EMBEDDING_CACHE_SECONDS)
    return vectors[0]


@functools.cache
def chunk_vector_column_exists(using: str = "default") -> bool:
    """Whether the chunks have pgvector's `embedding_vector` column (migration knowledge 0003 adds it
    only where the extension exists). Asked once per process and database alias: the schema only
    changes by migrations, after which the servers restart."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
            [ArticleChunk._meta.db_table, VECTOR_COLUMN],
        )
        return cursor.fetchone() is not None


def vector_storable(vector) -> bool:
    """Whether pgvector can hold `vector` (finite values, at most VECTOR_MAX_DIMENSIONS)."""
    return 0 < len(vector) <= VECTOR_MAX_DIMENSIONS and all(math.isfinite(value) for value in vector)


def _similar_articles(*, tenant: Tenant, articles: QuerySet, vector: list[float], model: str, limit: int):
    """[(article id, cosine similarity of its best chunk)], most similar first, among `articles`
    (the search's filters), or None when it takes longer than SEMANTIC_TIMEOUT_MS.

    With pgvector (chunk_vector_column_exists) the RESCORED_CHUNKS nearest chunks by pgvector's
    exact cosine distance are taken. Without it the vectors are float arrays, and an exact cosine in
    SQL costs ~0.6 ms a chunk at 1,536 dimensions. So: every chunk is ranked by the Hamming
    distance of its sign bits to the query's (bit_count of a XOR, microseconds), and only the
    RESCORED_CHUNKS nearest get the exact cosine. A tenant with fewer chunks than that gets exact
    results either way."""
    allowed_sql, allowed_params = articles.values("pk").query.sql_with_params()
    table = ArticleChunk._meta.db_table
    if chunk_vector_column_exists() and vector_storable(vector):
        sql, params = _similar_chunks_by_pgvector(
            tenant=tenant, table=table, allowed=(allowed_sql, allowed_params), vector=vector, model=model, limit=limit
        )
    else:
        sql, params = _similar_chunks_by_arrays(
            tenant=tenant, table=table, allowed=(allowed_sql, allowed_params), vector=vector, model=model, limit=limit
        )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # A local setting would outlive the savepoint inside a caller's transaction: restore it.
            cursor.execute("SELECT current_setting('statement_timeout')")
            [previous] = cursor.fetchone()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{SEMANTIC_TIMEOUT_MS}ms"])
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    # QueryCanceled: too slow this time; DataError: an old array pgvector refuses (NaN). Full text alone.
    except (OperationalError, DataError) as exc:
        logger.warning("knowledge search: similarity query gave up (%s)", type(exc).__name__)
        return None
    return [(article_id, float(similarity)) for article_id, similarity in rows]


def _similar_chunks_by_pgvector(*, tenant: Tenant, table: str, allowed, vector, model: str, limit: int):
    allowed_sql, allowed_params = allowed
    # A chunk written by a process that started before the column existed has only the array: it is
    # cast on the fly (the migration backfilled the older ones). The signs' length is the vector's
    # dimension without reading the (toasted) vector; other dimensions would make `<=>` fail.
    sql = f"""
        WITH near AS (
            SELECT chunk.article_id,
                   COALESCE(chunk.{VECTOR_COLUMN}, chunk.embedding::vector) <=> %s::float8[]::vector AS distance
            FROM {table} AS chunk
            WHERE chunk.tenant_id = %s AND chunk.embedding_model = %s AND chunk.embedding_signs IS NOT NULL
              AND length(chunk.embedding_signs) = %s AND chunk.article_id IN ({allowed_sql})
            ORDER BY distance, chunk.id
            LIMIT %s
        )
        SELECT article_id, MAX(1 - distance) AS similarity FROM near
        WHERE distance <> 'NaN'::float8 AND 1 - distance >= %s
        GROUP BY article_id
        ORDER BY similarity DESC, article_id
        LIMIT %s
    """
    params = [vector, tenant.pk, model, len(vector), *allowed_params, RESCORED_CHUNKS, MIN_SEMANTIC_SIMILARITY, limit]
    return sql, params


def _similar_chunks_by_arrays(*, tenant: Tenant, table: str, allowed, vector, model: str, limit: int):
    allowed_sql, allowed_params = allowed
    sql = f"""
        WITH near AS (
            SELECT chunk.article_id, chunk.embedding FROM {table} AS chunk
            WHERE chunk.tenant_id = %s AND chunk.embedding_model = %s AND chunk.embedding_signs IS NOT NULL
              AND length(chunk.embedding_signs) = %s AND chunk.article_id IN ({allowed_sql})
            ORDER BY bit_count(chunk.embedding_signs # %s::varbit), chunk.id
            LIMIT %s
        )
        SELECT article_id, MAX(similarity) AS similarity FROM (
            SELECT near.article_id, (
                SELECT SUM(a * b) / NULLIF(SQRT(SUM(a * a)) * SQRT(SUM(b * b)), 0)
                FROM unnest(near.embedding, %s::float8[]) AS pair(a, b)
            ) AS similarity
            FROM near
        ) AS scored
        WHERE similarity >= %s
        GROUP BY article_id
        ORDER BY similarity DESC, article_id
        LIMIT %s
    """
    params = [tenant.pk, model, len(vector), *allowed_params, text.vector_signs(vector), RESCORED_CHUNKS, vector,
              MIN_SEMANTIC_SIMILARITY, limit]  # fmt: skip
    return sql, params


def _fused(*, tenant: Tenant, text_hits: list[SearchHit], similar: list[tuple[int, float]], limit: int):
    """Reciprocal-rank fusion: each ranking gives an article 1 / (RRF_K + its rank). An article
    both rankings find beats one found by either alone; a synonym the words miss still shows."""
    scores: dict[int, float] = {}
    for rank, hit in enumerate(text_hits, start=1):
        scores[hit.article.pk] = scores.get(hit.article.pk, 0.0) + 1 / (RRF_K + rank)
    for rank, (article_id, _similarity) in enumerate(similar, start=1):
        scores[article_id] = scores.get(article_id, 0.0) + 1 / (RRF_K + rank)
    by_id = {hit.article.pk: hit for hit in text_hits}
    # Ties (one vote each) go to the words: a full-text match is the more explainable hit.
    text_rank = {hit.article.pk: rank for rank, hit in enumerate(text_hits)}
    best = sorted(scores, key=lambda pk: (-scores[pk], text_rank.get(pk, len(text_rank)), pk))[:limit]
    missing = [article_id for article_id in best if article_id not in by_id]
    if missing:
        found = Article.objects.filter(tenant=tenant, pk__in=missing).defer("search_vector")
        first_chunks = dict(
            ArticleChunk.objects.filter(tenant=tenant, article_id__in=missing, ordinal=0).values_list(
                "article_id", "text"
            )
        )
        for article in found:
            excerpt = " ".join(text.markdown_plain(first_chunks.get(article.pk, article.body)).split())
            by_id[article.pk] = SearchHit(article=article, score=0.0, headline=escape(excerpt[:HEADLINE_CHARS]))
    return [
        SearchHit(article=by_id[article_id].article, score=round(scores[article_id], 6),
                  headline=by_id[article_id].headline)
        for article_id in best if article_id in by_id
    ]  # fmt: skip


def _headline_html(headline: str | None) -> str:
    if not headline:
        return ""
    plain = text.markdown_plain(headline)
    return escape(" ".join(plain.split())).replace(_START, "<mark>").replace(_STOP, "</mark>")
