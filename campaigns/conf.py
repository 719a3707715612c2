"""Campaign settings, each overridable in Django settings (and so from the environment there)."""

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


def cloud_default_rate() -> float:
    """Messages per second per Cloud connection when the campaign does not say."""
    return float(_get("CAMPAIGN_CLOUD_RATE_PER_SECOND", 20.0))


def cloud_max_rate() -> float:
    """Meta's throughput ceiling for a number (80/s by default, up to 1,000 when upgraded)."""
    return float(_get("CAMPAIGN_CLOUD_MAX_RATE_PER_SECOND", 1000.0))


def stop_words() -> list[str]:
    return list(_get("CAMPAIGN_STOP_WORDS", ["SAIR", "PARAR", "STOP", "CANCELAR", "DESCADASTRAR", "UNSUBSCRIBE"]))


def dispatch_workers() -> int:
    """How many workers may send one campaign at once (the per-connection throttle paces them all)."""
    return int(_get("CAMPAIGN_DISPATCH_WORKERS", 2))


def dispatch_budget_seconds() -> float:
    """A dispatch task hands over to a fresh one after this long, so no task runs for hours."""
    return float(_get("CAMPAIGN_DISPATCH_BUDGET_SECONDS", 50.0))


def control_interval_seconds() -> float:
    """How often a sending worker re-reads the campaign (pause/cancel take effect within this)."""
    return float(_get("CAMPAIGN_CONTROL_INTERVAL_SECONDS", 1.0))


def sending_stale_seconds() -> float:
    """A row still `sending` after this long belongs to a worker that died (never resent)."""
    return float(_get("CAMPAIGN_SENDING_STALE_SECONDS", 120.0))


def reply_window_days() -> int:
    """A customer message this soon after a campaign message counts as its reply."""
    return int(_get("CAMPAIGN_REPLY_WINDOW_DAYS", 7))
