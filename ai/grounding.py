"""Knowledge-base articles to ground suggested replies on.

The search lives in the `knowledge` app (`knowledge.selectors.knowledge_search`), built apart from
this one; until it exists, or when it fails to import, there is simply no grounding (an empty list)
and replies are grounded on the conversation alone.
"""

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


def knowledge_for(*, query: str, language: str | None = None, limit: int = 3) -> list[GroundingArticle]:
    query = (query or "").strip()
    if not query:
        return []
    try:
        from knowledge.selectors import knowledge_search
    except ImportError:
        return []
    hits = knowledge_search(query=query[:500], limit=limit, language=language, published_only=True)
    articles = []
    for hit in hits:
        article = hit.article
        body = getattr(article, "body", "") or ""
        excerpt = (getattr(hit, "headline", "") or "").strip() or body[:800]
        articles.append(
            GroundingArticle(id=article.pk, title=article.title, excerpt=excerpt[:1500], score=float(hit.score))
        )
    return articles
