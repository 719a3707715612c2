"""Writes on the knowledge base: articles and their versions, usage, imports, chunks.

The API, the admin and the importer all go through these functions, so every change of an
article's title or body leaves a version, refreshes its passages (chunks) and adds its words to
the vocabulary the search corrects typos with.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Max
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from config.errors import ProsaError
from knowledge import selectors, text
from knowledge.exceptions import InvalidArticle, InvalidEmbedding, InvalidImportFile
from knowledge.models import Article, ArticleChunk, ArticleVersion, Language, Term
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)

ARTICLE_FIELDS = frozenset({"title", "body", "tags", "category", "language", "status"})
VERSIONED_FIELDS = frozenset({"title", "body"})
MAX_TAGS = 30
IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_ARTICLES = 2000
MARKDOWN_SUFFIXES = {".md", ".markdown", ".txt"}
_TERMS_BATCH = 1000


# --- Validation ------------------------------------------------------------------------------


def tags_clean(tags: Iterable[str] | str | None) -> list[str]:
    """Tags as stored: trimmed, lower case, unique, in the order given. A text is split on , ; |."""
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = re.split(r"[;,|]", tags)
    cleaned = list(dict.fromkeys(tag.strip().lower() for tag in tags if isinstance(tag, str) and tag.strip()))
    errors = []
    if len(cleaned) > MAX_TAGS:
        errors.append(_("At most %(count)d tags.") % {"count": MAX_TAGS})
    if any(len(tag) > 60 for tag in cleaned):
        errors.append(_("A tag has at most 60 characters."))
    if errors:
        raise InvalidArticle(fields={"tags": errors})
    return cleaned


def _language_clean(value: str | None) -> str:
    value = (value or "").strip().lower().replace("_", "-")
    aliases = {"pt": Language.PT_BR, "pt-br": Language.PT_BR, "en": Language.EN, "en-us": Language.EN,
               "es": Language.ES, "es-es": Language.ES}  # fmt: skip
    if value not in aliases:
        raise InvalidArticle(fields={"language": [_("Use pt-br, en or es.")]})
    return aliases[value]


def _check(article: Article) -> None:
    errors: dict[str, list[str]] = {}
    article.title = (article.title or "").strip()
    article.category = (article.category or "").strip()
    if not article.title:
        errors["title"] = [_("An article needs a title.")]
    elif len(article.title) > 200:
        errors["title"] = [_("A title has at most 200 characters.")]
    if len(article.category) > 80:
        errors["category"] = [_("A category has at most 80 characters.")]
    if article.status not in Article.Status.values:
        errors["status"] = [_("Use draft or published.")]
    if errors:
        raise InvalidArticle(fields=errors)


# --- Articles ----------------------------------------------------------------------------------


def article_create(
    *,
    tenant: Tenant,
    actor: User | None,
    title: str,
    body: str = "",
    tags: Iterable[str] | str | None = None,
    category: str = "",
    language: str = Language.PT_BR,
    status: str = Article.Status.DRAFT,
) -> Article:
    """A new article and its version 1."""
    article = Article(
        tenant=tenant,
        title=title,
        body=body or "",
        tags=tags_clean(tags),
        category=category or "",
        language=_language_clean(language),
        status=status,
        created_by=actor,
        updated_by=actor,
    )
    _check(article)
    with transaction.atomic():
        article.save()
        _version_add(article=article, actor=actor, number=1)
        _text_changed(article)
        _embed_on_commit(article)
    return _refreshed(article)


def article_update(
    *, article: Article, actor: User | None, restored_from: int | None = None, **changes: Any
) -> Article:
    """Changes the given fields; a change of title or body adds a version."""
    unknown = set(changes) - ARTICLE_FIELDS
    if unknown:
        raise TypeError(f"article_update() got unexpected fields: {sorted(unknown)}")
    if "tags" in changes:
        changes["tags"] = tags_clean(changes["tags"])
    if "language" in changes:
        changes["language"] = _language_clean(changes["language"])
    if "body" in changes:
        changes["body"] = changes["body"] or ""
    with transaction.atomic():
        # The row lock orders concurrent saves of one article, so version numbers never collide.
        locked = Article.objects.select_for_update().get(pk=article.pk)
        before = {name: getattr(locked, name) for name in VERSIONED_FIELDS}
        for name, value in changes.items():
            setattr(locked, name, value)
        _check(locked)
        text_changed = any(getattr(locked, name) != before[name] for name in VERSIONED_FIELDS)
        if not changes:
            return _refreshed(locked)
        locked.updated_by = actor
        locked.save(update_fields=[*changes, "updated_by", "updated_at"])
        if text_changed:
            number = (locked.versions.aggregate(last=Max("number"))["last"] or 0) + 1
            _version_add(article=locked, actor=actor, number=number, restored_from=restored_from)
        if text_changed or "category" in changes:
            _text_changed(locked)
        if text_changed or "category" in changes or "status" in changes:
            _embed_on_commit(locked)
    return _refreshed(locked)


def article_delete(*, article: Article) -> None:
    article.delete()  # versions and chunks go with it (CASCADE)


def article_version_restore(*, version: ArticleVersion, actor: User | None) -> Article:
    """Puts a version's title and body back; the result is a new version (history is never
    rewritten), which says which one it restored."""
    return article_update(
        article=version.article, actor=actor, restored_from=version.number, title=version.title, body=version.body
    )


def articles_set_status(*, articles: Iterable[Article], status: str, actor: User | None) -> int:
    """Publishes or unpublishes articles (the admin's bulk actions). Returns how many changed."""
    changed = 0
    for article in articles:
        if article.status != status:
            article_update(article=article, actor=actor, status=status)
            changed += 1
    return changed


def article_use(*, article: Article) -> Article:
    """An agent (or an AI agent) used the article in a conversation."""
    now = timezone.now()
    Article.objects.filter(pk=article.pk).update(usage_count=F("usage_count") + 1, last_used_at=now)
    article.refresh_from_db(fields=["usage_count", "last_used_at"])
    return article


def _refreshed(article: Article) -> Article:
    return Article.objects.defer("search_vector").select_related("created_by", "updated_by").get(pk=article.pk)


def _version_add(*, article: Article, actor: User | None, number: int, restored_from: int | None = None) -> None:
    ArticleVersion.objects.create(
        tenant_id=article.tenant_id,
        article=article,
        number=number,
        title=article.title,
        body=article.body,
        restored_from=restored_from,
        created_by=actor,
    )


def _text_changed(article: Article) -> None:
    """Refreshes what search derives from the text: the passages and the vocabulary."""
    passages = text.markdown_passages(article.body)
    ArticleChunk.objects.filter(article=article).delete()
    ArticleChunk.objects.bulk_create(
        ArticleChunk(tenant_id=article.tenant_id, article=article, ordinal=ordinal, text=passage)
        for ordinal, passage in enumerate(passages)
    )
    terms_add(tenant=article.tenant, texts=[article.title, article.category, text.markdown_plain(article.body)])


def terms_add(*, tenant: Tenant, texts: Sequence[str]) -> None:
    """Adds the words of `texts` to the tenant's vocabulary (the existing ones are kept)."""
    found = text.words(" ".join(texts))
    for start in range(0, len(found), _TERMS_BATCH):
        Term.objects.bulk_create(
            [Term(tenant_id=tenant.pk, word=word) for word in found[start : start + _TERMS_BATCH]],
            ignore_conflicts=True,
        )


# --- Chunks and embeddings (filled by the AI app) ------------------------------------------------


def article_chunk_set_embedding(*, chunk: ArticleChunk, embedding: Sequence[float], model: str) -> ArticleChunk:
    """Stores a chunk's vector. A chunk rebuilt meanwhile (its article changed while the provider
    answered) is left alone: the vector was of the old text."""
    # Finite values only: a NaN makes every cosine NaN, which PostgreSQL sorts above any number.
    if not embedding or not all(
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) for value in embedding
    ):
        raise InvalidEmbedding()
    chunk.embedding = [float(value) for value in embedding]
    chunk.embedding_model = model
    chunk.embedding_signs = text.vector_signs(chunk.embedding)
    if not selectors.chunk_vector_column_exists():
        ArticleChunk.objects.filter(pk=chunk.pk, text=chunk.text).update(
            embedding=chunk.embedding, embedding_model=model, embedding_signs=chunk.embedding_signs
        )
        return chunk
    # With pgvector (migration knowledge 0003) the same UPDATE also writes the `vector` copy search
    # ranks by; the column is not on the model (it may not exist), hence raw SQL.
    storable = selectors.vector_storable(chunk.embedding)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {ArticleChunk._meta.db_table}
            SET embedding = %s, embedding_model = %s, embedding_signs = %s::varbit,
                {selectors.VECTOR_COLUMN} = %s::float8[]::vector
            WHERE id = %s AND tenant_id = %s AND text = %s
            """,
            [chunk.embedding, model, chunk.embedding_signs, chunk.embedding if storable else None, chunk.pk,
             chunk.tenant_id, chunk.text],
        )  # fmt: skip
    return chunk


def chunk_embedding_text(chunk: ArticleChunk) -> str:
    """What is embedded for a chunk: its article's title, then the passage (a passage alone often
    lacks the subject the title names)."""
    return f"{chunk.article.title}\n\n{chunk.text}"


EMBED_BATCH = 64  # chunks per provider request
EMBED_PER_RUN = 2000  # chunks per task run (the next run continues)


def article_chunks_embed(*, tenant: Tenant, article_ids: list[int] | None = None, limit: int = EMBED_PER_RUN) -> int:
    """Embeds the published articles' chunks that lack a vector of the tenant's embeddings model
    (all of them, or those of `article_ids`), EMBED_BATCH per metered request. Without a model it
    does nothing; it stops at the first refusal or failure of the provider (cap, rate, outage):
    the periodic run tries again. Returns how many chunks it embedded."""
    from ai.services import texts_embed

    model = selectors.embeddings_model(tenant=tenant)
    if not model:
        return 0
    done = 0
    with tenant_context(tenant):
        while done < limit:
            chunks = list(
                selectors.article_chunks_without_embedding(
                    tenant=tenant, model=model, limit=min(EMBED_BATCH, limit - done), article_ids=article_ids
                )
            )
            if not chunks:
                break
            try:
                vectors = texts_embed(tenant=tenant, texts=[chunk_embedding_text(chunk) for chunk in chunks])
            except ProsaError as exc:
                logger.warning("knowledge embeddings: tenant=%s stopped (%s)", tenant.pk, exc.code)
                break
            if len(vectors) != len(chunks):
                break  # a blank chunk slipped through: the provider skipped it; never loop on it
            try:
                for chunk, vector in zip(chunks, vectors, strict=True):
                    article_chunk_set_embedding(chunk=chunk, embedding=vector, model=model)
            except InvalidEmbedding:
                logger.warning("knowledge embeddings: tenant=%s got an invalid vector from %s", tenant.pk, model)
                break
            done += len(chunks)
    return done


def _embed_on_commit(article: Article) -> None:
    """After the transaction, when the tenant has an embeddings model: embed the published
    article's new chunks in the background (search works without them meanwhile). An import of
    many articles queues one task, not one per article (knowledge.tasks.chunks_embed_soon)."""
    if article.status != Article.Status.PUBLISHED or not selectors.embeddings_model(tenant=article.tenant):
        return
    from knowledge.tasks import chunks_embed_soon

    tenant_id = article.tenant_id
    transaction.on_commit(lambda: chunks_embed_soon(tenant_id=tenant_id))


# --- Import -----------------------------------------------------------------------------------


@dataclass
class ImportResult:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {"file", "row", "detail", "fields"}

    def as_dict(self) -> dict:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "errors": self.errors,
        }


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _csv_rows(raw: bytes, *, name: str) -> list[dict[str, str]]:
    content = _decode(raw)
    header_line = content.split("\n", 1)[0]
    delimiter = max(";,\t", key=header_line.count)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = [column.strip().lower() for column in next(reader)]
        if "title" not in header:
            missing = _("%(file)s: missing column: title.") % {"file": name}
            raise InvalidImportFile(_("The file needs a “title” column."), fields={"file": [missing]})
        return [dict(zip(header, values, strict=False)) for values in reader if any(value.strip() for value in values)]
    except StopIteration:
        raise InvalidImportFile(fields={"file": [_("%(file)s is empty.") % {"file": name}]}) from None
    except csv.Error as exc:
        raise InvalidImportFile(fields={"file": [f"{name}: {exc}"]}) from None


def _file_articles(file, *, language: str, category: str) -> list[dict[str, str]]:
    """The articles a file holds: a CSV one per row, a Markdown file one."""
    name = PurePath(getattr(file, "name", "") or "file").name
    if getattr(file, "size", 0) > IMPORT_MAX_BYTES:
        raise InvalidImportFile(_("The file is too large (at most 5 MB)."), fields={"file": [name]})
    raw = file.read()
    suffix = PurePath(name).suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(raw, name=name)
        return [{"language": language, "category": category, **{k: v for k, v in row.items() if v}} for row in rows]
    if suffix in MARKDOWN_SUFFIXES:
        title, body = text.markdown_title(_decode(raw))
        return [{"title": title or PurePath(name).stem.replace("-", " ").replace("_", " "), "body": body,
                 "language": language, "category": category}]  # fmt: skip
    raise InvalidImportFile(fields={"file": [_("%(file)s: use .csv, .md or .txt files.") % {"file": name}]})


def articles_import(
    *,
    tenant: Tenant,
    actor: User | None,
    files: Sequence,
    language: str = Language.PT_BR,
    category: str = "",
    status: str = Article.Status.DRAFT,
) -> ImportResult:
    """Imports CSV files (columns title, body, tags, category, language, status) and Markdown files
    (title from the first heading, else the file name). An article whose title (any case) and
    language already exist is updated — a new version when its text changed — not duplicated.
    Unreadable files reject the whole import; invalid rows are reported and skipped."""
    language = _language_clean(language)
    per_file = [(PurePath(getattr(file, "name", "") or "file").name, _file_articles(file, language=language,
                 category=category)) for file in files]  # fmt: skip
    total = sum(len(rows) for _name, rows in per_file)
    if total > IMPORT_MAX_ARTICLES:
        raise InvalidImportFile(_("At most %(count)d articles per import.") % {"count": IMPORT_MAX_ARTICLES})
    result = ImportResult()
    with transaction.atomic():
        articles = Article.objects.filter(tenant=tenant).defer("search_vector").annotate(lower_title=Lower("title"))
        existing = {(article.lower_title, article.language): article for article in articles}
        for name, rows in per_file:
            for row_number, row in enumerate(rows, start=2 if name.lower().endswith(".csv") else 1):
                try:
                    _import_one(tenant=tenant, actor=actor, row=row, status=status, existing=existing, result=result)
                except InvalidArticle as exc:
                    result.errors.append({"file": name, "row": row_number, "detail": str(exc.detail),
                                          "fields": exc.fields})  # fmt: skip
    logger.info(
        "knowledge import: tenant=%s created=%d updated=%d errors=%d",
        tenant.pk, len(result.created), len(result.updated), len(result.errors),
    )  # fmt: skip
    return result


def _import_one(*, tenant, actor, row: dict, status: str, existing: dict, result: ImportResult) -> None:
    values = {
        "title": (row.get("title") or "").strip(),
        "body": row.get("body") or "",
        "tags": row.get("tags") or "",
        "category": row.get("category") or "",
        "language": _language_clean(row.get("language")),
        "status": (row.get("status") or status).strip().lower(),
    }
    values["tags"] = tags_clean(values["tags"])
    found = existing.get((values["title"].lower(), values["language"]))
    if found is None:
        article = article_create(tenant=tenant, actor=actor, **values)
        existing[(article.title.lower(), article.language)] = article
        result.created.append(article.pk)
        return
    values["title"] = found.title  # matched regardless of case: the base keeps its own spelling
    changes = {name: value for name, value in values.items() if getattr(found, name) != value}
    if not changes:
        result.unchanged.append(found.pk)
        return
    article = article_update(article=found, actor=actor, **changes)
    existing[(article.title.lower(), article.language)] = article
    result.updated.append(article.pk)
