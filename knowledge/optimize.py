"""The AI's "optimize" of the knowledge base, and the review queue it fills (ArticleProposal).

`knowledge_optimize` asks the tenant's chat model for (a) clearer rewrites of published articles,
(b) merges of articles that look duplicated (titles alike by trigrams, or first passages nearly
parallel when embeddings exist) and (c) new articles from recently closed tickets whose customer
question the base could not answer (knowledge.selectors.unanswered_tickets). Every call goes
through ai.services' metered path (409 without AI, 429 at the caps); a run stops at the first
refusal or provider failure and keeps what it proposed so far.

Nothing reaches agents or customers until a person accepts a proposal (`proposal_accept`): a
rewrite becomes a new version of its article, a merge a new version of the kept article and the
duplicates unpublished (back to draft), a draft a new draft article. Publishing is the reviewer's
choice (`publish=True`); a published article being rewritten stays published.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from ai import prompts
from ai import selectors as ai_selectors
from ai import services as ai_services
from ai.exceptions import AIBadResponse, AINothingToProcess, AIProviderError, AIQuotaExceeded, AIRateLimited
from ai.models import Feature
from knowledge import selectors, services
from knowledge.exceptions import InvalidArticle, ProposalNotPending, ProposalStale
from knowledge.models import Article, ArticleProposal
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)

KINDS = tuple(ArticleProposal.Kind.values)
REWRITES_PER_RUN = 3
MERGES_PER_RUN = 3
DRAFTS_PER_RUN = 5
DRAFT_TICKETS_WINDOW_DAYS = 7
DRAFT_TICKETS_EXAMINED = 50
ARTICLE_CHARS = 6000  # longer articles are not rewritten (nor merged above twice this together)
# Metered as "compose / rewrite": optimize writes articles the way compose rewrites messages.
FEATURE = Feature.COMPOSE


class _Stop(Exception):
    """The provider refused or failed: end the run, keep what was proposed."""


def _ask(*, tenant: Tenant, actor: User | None, messages: list[dict], ticket=None) -> tuple[dict, str]:
    try:
        completion, usage = ai_services._call(
            tenant=tenant, user=actor, ticket=ticket, feature=FEATURE,
            model_of=ai_services._chat_model, request=ai_services._chat(messages, temperature=0.2, max_tokens=2000),
        )  # fmt: skip
    except AIBadResponse:
        return {}, ""
    except (AIProviderError, AIQuotaExceeded, AIRateLimited) as exc:
        logger.warning("knowledge optimize: tenant=%s stopped (%s)", tenant.pk, exc.code)
        raise _Stop() from exc
    try:
        return ai_services._json_object(completion.text), usage.model
    except AIBadResponse:
        return {}, usage.model


def _article_fields(answer: dict) -> tuple[str, str, str] | None:
    title = str(answer.get("title") or "").strip()[:200]
    body = str(answer.get("body") or "").strip()
    if not title or not body:
        return None
    return title, body, str(answer.get("reason") or "").strip()[:2000]


def knowledge_optimize_request(
    *, tenant: Tenant, actor: User, kinds: list[str] | None = None, article_ids: list[int] | None = None
) -> None:
    """Queues an optimize run (a worker calls the provider) once the caller's transaction commits.
    409 `ai_not_configured` at once without AI, rather than a run that would fail."""
    from knowledge.tasks import knowledge_optimize_task  # the task module imports this one

    ai_selectors.ai_settings_require()
    tenant_id, actor_id = tenant.pk, actor.pk
    transaction.on_commit(
        lambda: knowledge_optimize_task.delay(
            tenant_id=tenant_id, actor_id=actor_id, kinds=kinds, article_ids=article_ids
        )
    )


def knowledge_optimize(
    *,
    tenant: Tenant,
    actor: User | None,
    kinds: list[str] | tuple[str, ...] | None = None,
    article_ids: list[int] | None = None,
) -> list[ArticleProposal]:
    """Runs the AI over the base and stores its proposals (pending). 409 `ai_not_configured`
    without AI. Returns the new proposals."""
    with tenant_context(tenant):
        ai_selectors.ai_settings_require()
        kinds = [kind for kind in (kinds or KINDS) if kind in KINDS]
        proposals: list[ArticleProposal] = []
        try:
            if ArticleProposal.Kind.REWRITE in kinds:
                proposals += _propose_rewrites(tenant=tenant, actor=actor, article_ids=article_ids)
            if ArticleProposal.Kind.MERGE in kinds:
                proposals += _propose_merges(tenant=tenant, actor=actor)
            if ArticleProposal.Kind.DRAFT in kinds:
                proposals += _propose_drafts(tenant=tenant, actor=actor)
        except _Stop:
            pass
    logger.info("knowledge optimize: tenant=%s proposals=%d", tenant.pk, len(proposals))
    return proposals


def _propose_rewrites(*, tenant, actor, article_ids) -> list[ArticleProposal]:
    proposals = []
    candidates = selectors.rewrite_candidates(
        tenant=tenant, limit=REWRITES_PER_RUN, max_body_chars=ARTICLE_CHARS, article_ids=article_ids
    )
    for article in candidates:
        messages = prompts.article_rewrite(title=article.title, body=article.body, language=article.language)
        answer, model = _ask(tenant=tenant, actor=actor, messages=messages)
        fields = _article_fields(answer)
        if fields is None or answer.get("unchanged") or (fields[0], fields[1]) == (article.title, article.body):
            continue
        title, body, reason = fields
        with transaction.atomic():
            proposal = ArticleProposal.objects.create(
                tenant=tenant, kind=ArticleProposal.Kind.REWRITE, title=title, body=body, reason=reason,
                article=article, base_version=selectors.article_latest_version(article=article),
                language=article.language, model=model,
            )  # fmt: skip
        proposals.append(proposal)
    return proposals


def _propose_merges(*, tenant, actor) -> list[ArticleProposal]:
    proposals = []
    for kept_id, duplicate_id in selectors.duplicate_candidates(tenant=tenant, limit=MERGES_PER_RUN):
        kept = Article.objects.get(pk=kept_id)
        duplicate = Article.objects.get(pk=duplicate_id)
        if len(kept.body) + len(duplicate.body) > 2 * ARTICLE_CHARS:
            continue  # a merge of cut texts would lose the rest
        messages = prompts.articles_merge(
            articles=[(kept.title, kept.body), (duplicate.title, duplicate.body)], language=kept.language
        )
        answer, model = _ask(tenant=tenant, actor=actor, messages=messages)
        fields = _article_fields(answer)
        if answer.get("duplicate") is not True or fields is None:
            continue
        title, body, reason = fields
        with transaction.atomic():
            proposal = ArticleProposal.objects.create(
                tenant=tenant, kind=ArticleProposal.Kind.MERGE, title=title, body=body, reason=reason,
                article=kept, base_version=selectors.article_latest_version(article=kept),
                language=kept.language, model=model,
            )  # fmt: skip
            proposal.source_articles.set([duplicate])
        proposals.append(proposal)
    return proposals


def _propose_drafts(*, tenant, actor) -> list[ArticleProposal]:
    proposals = []
    since = timezone.now() - timedelta(days=DRAFT_TICKETS_WINDOW_DAYS)
    found = selectors.unanswered_tickets(tenant=tenant, since=since, limit=DRAFTS_PER_RUN,
                                         examine=DRAFT_TICKETS_EXAMINED)  # fmt: skip
    for ticket, _question in found:
        try:
            conversation = ai_services._conversation_or_refuse(ticket, include_notes=False)
        except AINothingToProcess:
            continue
        messages = prompts.article_from_conversation(conversation=conversation, language=tenant.language)
        answer, model = _ask(tenant=tenant, actor=actor, messages=messages, ticket=ticket)
        fields = _article_fields(answer)
        if answer.get("useful") is False or fields is None:
            continue
        title, body, reason = fields
        with transaction.atomic():
            proposal = ArticleProposal.objects.create(
                tenant=tenant, kind=ArticleProposal.Kind.DRAFT, title=title, body=body, reason=reason,
                language=services._language_clean(tenant.language), model=model,
            )  # fmt: skip
            proposal.source_tickets.set([ticket])
        proposals.append(proposal)
    return proposals


# --- Review ------------------------------------------------------------------------------------


def _locked_pending(proposal: ArticleProposal) -> ArticleProposal:
    locked = ArticleProposal.objects.select_for_update().get(pk=proposal.pk)
    if locked.status != ArticleProposal.Status.PENDING:
        raise ProposalNotPending()
    return locked


def _check_not_stale(proposal: ArticleProposal) -> None:
    if proposal.base_version is None:
        return
    if selectors.article_latest_version(article=proposal.article) != proposal.base_version:
        raise ProposalStale()


def proposal_accept(
    *,
    proposal: ArticleProposal,
    actor: User | None,
    publish: bool = False,
    title: str | None = None,
    body: str | None = None,
) -> ArticleProposal:
    """Applies the proposal (the reviewer may correct its title and body first). `publish` also
    publishes the resulting article; without it a draft stays a draft and a published article
    stays published with its new version."""
    with transaction.atomic():
        locked = _locked_pending(proposal)
        title = locked.title if title is None else title
        body = locked.body if body is None else body
        status = {"status": Article.Status.PUBLISHED} if publish else {}
        if locked.kind == ArticleProposal.Kind.DRAFT:
            result = services.article_create(
                tenant=locked.tenant, actor=actor, title=title, body=body, language=locked.language,
                status=Article.Status.PUBLISHED if publish else Article.Status.DRAFT,
            )  # fmt: skip
        else:
            if locked.article is None:
                raise InvalidArticle(fields={"article": ["The article of this proposal was deleted."]})
            _check_not_stale(locked)
            result = services.article_update(article=locked.article, actor=actor, title=title, body=body, **status)
            if locked.kind == ArticleProposal.Kind.MERGE:
                services.articles_set_status(
                    articles=locked.source_articles.exclude(pk=result.pk), status=Article.Status.DRAFT, actor=actor
                )
        locked.status = ArticleProposal.Status.ACCEPTED
        locked.title, locked.body = title, body
        locked.result_article = result
        locked.reviewed_by, locked.reviewed_at = actor, timezone.now()
        locked.save(update_fields=["status", "title", "body", "result_article", "reviewed_by", "reviewed_at"])
    return locked


def proposal_reject(*, proposal: ArticleProposal, actor: User | None, note: str = "") -> ArticleProposal:
    """Declines the proposal; it stays in the queue's history (and the optimizer does not propose
    the same merge again)."""
    with transaction.atomic():
        locked = _locked_pending(proposal)
        locked.status = ArticleProposal.Status.REJECTED
        locked.review_note = (note or "").strip()[:2000]
        locked.reviewed_by, locked.reviewed_at = actor, timezone.now()
        locked.save(update_fields=["status", "review_note", "reviewed_by", "reviewed_at"])
    return locked
