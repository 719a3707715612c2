"""The knowledge base inside the inbox (mounted at /inbox/knowledge/): the contact panel's search
box lists published articles; "Insert" puts one into the composer (static/inbox/inbox.js) and
counts the use here."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from knowledge import selectors, services
from tickets.views.base import inbox_view

INBOX_RESULTS = 5


@require_GET
@inbox_view
def inbox_search(request):
    query = request.GET.get("q", "").strip()
    hits = selectors.knowledge_search(tenant=request.tenant, query=query, limit=INBOX_RESULTS) if query else []
    return render(request, "knowledge/_inbox_results.html", {"hits": hits, "query": query})


@require_POST
@inbox_view
def inbox_use(request, article_id):
    article = get_object_or_404(selectors.article_list(tenant=request.tenant, published_only=True), pk=article_id)
    services.article_use(article=article)
    return HttpResponse(status=204)
