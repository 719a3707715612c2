"""Who may call the AI now: a per-member rate limit (Redis) and the tenant's monthly cap (its
plan's `max_ai_requests_per_month`, counted from the usage rows); and the record of every call."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from ai.exceptions import AIQuotaExceeded, AIRateLimited
from ai.models import AIUsage
from config.redis import get_redis

RATE_WINDOW_SECONDS = 60


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current month (UTC): caps reset then."""
    now = now or timezone.now()
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def usage_rate_check(*, tenant_id: int, user_id: int | None) -> None:
    """Counts this request in the member's current minute; refuses past AI_USER_RATE_PER_MINUTE.

    A fixed window per minute (INCR + EXPIRE in one MULTI), shared by every web process."""
    if user_id is None:
        return
    limit = settings.AI_USER_RATE_PER_MINUTE
    now = int(time.time())
    window = now // RATE_WINDOW_SECONDS
    key = f"prosa:ai:rate:{tenant_id}:{user_id}:{window}"
    pipe = get_redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, RATE_WINDOW_SECONDS * 2)
    count, _ = pipe.execute()
    if int(count) > limit:
        raise AIRateLimited(retry_after=RATE_WINDOW_SECONDS - now % RATE_WINDOW_SECONDS)


def requests_this_month(*, tenant) -> int:
    return AIUsage.all_tenants.filter(tenant=tenant, succeeded=True, created_at__gte=month_start()).count()


def usage_quota_check(*, tenant) -> None:
    """Refuses once the month's successful calls reach the plan's cap. Two calls racing at the
    last unit may both pass: the cap can be overshot by the number of concurrent calls."""
    if requests_this_month(tenant=tenant) >= tenant.max_ai_requests_per_month:
        raise AIQuotaExceeded()


def usage_record(
    *,
    tenant,
    user,
    feature: str,
    model: str,
    ticket=None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    latency_ms: int = 0,
    error_code: str = "",
) -> AIUsage:
    return AIUsage.objects.create(
        tenant=tenant,
        user=user,
        ticket=ticket,
        feature=feature,
        model=model[:120],
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=latency_ms,
        succeeded=not error_code,
        error_code=error_code[:40],
    )


def usage_summary(*, tenant) -> dict:
    """This month's use: requests used and remaining, tokens, and per feature."""
    since = month_start()
    rows = (
        AIUsage.objects.filter(created_at__gte=since)
        .values("feature")
        .annotate(
            requests=Count("pk", filter=Q(succeeded=True)),
            failed=Count("pk", filter=Q(succeeded=False)),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
        )
        .order_by("feature")
    )
    by_feature = [
        {
            "feature": row["feature"],
            "requests": row["requests"],
            "failed": row["failed"],
            "prompt_tokens": row["prompt_tokens"] or 0,
            "completion_tokens": row["completion_tokens"] or 0,
        }
        for row in rows
    ]
    used = sum(row["requests"] for row in by_feature)
    limit = tenant.max_ai_requests_per_month
    return {
        "month": since.strftime("%Y-%m"),
        "limit": limit,
        "used": used,
        "remaining": max(0, limit - used),
        "prompt_tokens": sum(row["prompt_tokens"] for row in by_feature),
        "completion_tokens": sum(row["completion_tokens"] for row in by_feature),
        "by_feature": by_feature,
        "rate_limit_per_minute": settings.AI_USER_RATE_PER_MINUTE,
    }
