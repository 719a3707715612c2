"""Knowledge-base articles to ground suggested replies on (`knowledge.selectors.knowledge_search`,
published articles of the current tenant). No match: replies rest on the conversation alone."""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroundingArticle:
    id: int
    title: str
    excerpt: str
    score: float


def knowledge_for(
    *,
    query: str,
    language: str | None = None,
    limit: int = 3,
    tags: list[str] | None = None,
    categories: list[str] | None = None,
) -> list[GroundingArticle]:
    query = (query or "").strip()
    if not query:
        return []
    from knowledge.selectors import knowledge_search

    hits = knowledge_search(
        query=query[:500], limit=limit, language=language, published_only=True,
        tags=tags or None, categories=categories or None,
    )  # fmt: skip
    articles = []
    for hit in hits:
        article = hit.article
        # The article's own words, not the highlighted HTML excerpt made for people.
        excerpt = (article.body or "").strip()
        articles.append(
            GroundingArticle(id=article.pk, title=article.title, excerpt=excerpt[:1500], score=float(hit.score))
        )
    return articles
