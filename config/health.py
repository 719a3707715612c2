import logging

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # any driver error means "down" for a health check
        logger.warning("health check: database unreachable", exc_info=True)
        return False


def _redis_ok() -> bool:
    try:
        client = cache._cache.get_client(write=True)
        return bool(client.ping())
    except Exception:  # any client error means "down" for a health check
        logger.warning("health check: redis unreachable", exc_info=True)
        return False


def healthz(request):
    checks = {"database": _database_ok(), "redis": _redis_ok()}
    body = {"status": "ok" if all(checks.values()) else "error"}
    body.update({name: "ok" if ok else "down" for name, ok in checks.items()})
    return JsonResponse(body, status=200 if all(checks.values()) else 503)
