"""Knowledge search benchmark: `knowledge_search` over a seeded base of articles.

    python -m bench.knowledge_search [--articles 5000] [--runs 15] [--explain]

Seeds (once) tenant `kb-bench` with `--articles` published pt-BR articles: titles and bodies of
words drawn from an 8,000-word synthetic vocabulary with Zipf frequencies, one article in ten about
a help-desk topic ("prazo de entrega", "nota fiscal", …) and one paragraph in twenty mentioning one.
Then times each query `--runs` times in-process (the selector: typo correction + ranked full-text
query, both SQL statements) and prints p50/p95 and the top hit. `--explain` prints EXPLAIN ANALYZE
of the main statement of each query. Use a database of its own (see bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from knowledge import selectors, services  # noqa: E402
from knowledge.models import Article  # noqa: E402
from tenants.context import tenant_context  # noqa: E402
from tenants.models import Tenant  # noqa: E402

SLUG = "kb-bench"
TOPICS = [
    "prazo de entrega", "nota fiscal", "boleto vencido", "troca de produto", "cartão de crédito", "estorno",
    "cancelamento do pedido", "rastreio da entrega", "garantia", "senha de acesso",
]  # fmt: skip
QUERIES = [
    "entrega",
    "entega",
    "nota fiscal",
    "qual o prazo de entega do meu pedido?",
    "estorno no cartão de crédito",
    "garantai",
]


def seed(tenant: Tenant, count: int) -> None:
    rng = random.Random(11)
    syllables = "ba ca da fe ga li mo na pe ra sa ta vo xu lo ce ri ne to pu".split()
    vocabulary = sorted({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(8000)})
    rng.shuffle(vocabulary)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    articles, texts = [], []
    for _ in range(count):
        topic = rng.choice(TOPICS) if rng.random() < 0.1 else " ".join(rng.choices(vocabulary, weights, k=2))
        title = f"{topic} {' '.join(rng.sample(vocabulary, 2))}".capitalize()
        paragraphs = []
        for _paragraph in range(6):
            words = rng.choices(vocabulary, weights, k=70)
            if rng.random() < 0.05:
                words.insert(10, rng.choice(TOPICS))
            paragraphs.append(" ".join(words) + ".")
        articles.append(Article(tenant=tenant, title=title, body="\n\n".join(paragraphs), status="published"))
        texts.append(f"{title} {' '.join(paragraphs)}")
    Article.objects.bulk_create(articles, batch_size=500)
    services.terms_add(tenant=tenant, texts=texts)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_article")
        cursor.execute("ANALYZE knowledge_term")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    tenant, _created = Tenant.objects.get_or_create(slug=SLUG, defaults={"name": "Knowledge bench"})
    with tenant_context(tenant):
        if Article.objects.count() < args.articles:
            Article.objects.all().delete()
            started = time.perf_counter()
            seed(tenant, args.articles)
            print(f"seeded {args.articles} articles in {time.perf_counter() - started:.1f} s")
        print(f"{'query':<42} {'p50 ms':>8} {'p95 ms':>8}  top hit")
        for query in QUERIES:
            timings = []
            for _run in range(args.runs):
                started = time.perf_counter()
                hits = selectors.knowledge_search(query=query, limit=5)
                timings.append((time.perf_counter() - started) * 1000)
            p95 = statistics.quantiles(timings, n=20)[-1] if len(timings) > 1 else timings[0]
            top = hits[0].article.title if hits else "—"
            print(f"{query!r:<42} {statistics.median(timings):8.1f} {p95:8.1f}  {top}")
            if args.explain:
                with CaptureQueriesContext(connection) as captured:
                    selectors.knowledge_search(query=query, limit=5)
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + captured.captured_queries[-1]["sql"])
                    print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
