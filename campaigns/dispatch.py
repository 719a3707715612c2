"""The sending engine: workers claim recipient rows and hand them to WhatsApp at the connection's pace.

Crash safety and the at-most-once choice
----------------------------------------
A worker claims a few `pending` rows in one statement (`UPDATE … SET status='sending' WHERE id IN
(SELECT … FOR UPDATE SKIP LOCKED)`, committed at once), so concurrent workers never hold the same
row, then sends them one by one and records each result (`sent` with the provider's message id, or
`failed` with the reason). If the worker dies between the claim and the record, the row stays
`sending`. A row `sending` for longer than CAMPAIGN_SENDING_STALE_SECONDS is settled by the next
worker: `sent` when its provider message id was recorded; back to `pending` when the worker never
started its call (`send_started_at`, stamped just before the call, is empty); otherwise `failed`
with code `interrupted`, **never resent** — WhatsApp may have accepted the message just before the crash and
offers no way to ask, so Prosa prefers losing at most one message per crashed worker to sending
anyone the same campaign twice. Each row's `idempotency_key` is the one send it may make.

Pause/cancel: workers re-read the campaign every CAMPAIGN_CONTROL_INTERVAL_SECONDS and hand back
(to `pending`) the rows they claimed but did not send. The sending window is checked as often; when
it closes the campaign records `next_run_at` and the beat job restarts it then.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx2
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import conf, events, services
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from campaigns.throttle import ConnectionThrottle, Pace
from config.redis import get_redis
from tenants.hours import is_open
from whatsapp.choices import MessageType, Provider
from whatsapp.providers import ProviderError, get_adapter
from whatsapp.providers.http import default_timeout
from whatsapp.templates import TemplateError, template_send_components

logger = logging.getLogger(__name__)

# Errors where WhatsApp certainly did not take the message: the row goes back to `pending`.
NOT_SENT_CODES = {"network_error", "rate_limited", "130429", "4", "80007", "131056"}
MAX_ATTEMPTS = 3
SLOT_TTL_SECONDS = 30

MAX_BATCH = 50
CLAIM_SQL = """
UPDATE campaigns_campaignrecipient
SET status = 'sending', claim_token = %s, claimed_at = %s, send_started_at = NULL, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM campaigns_campaignrecipient
    WHERE campaign_id = %s AND status = 'pending'
    ORDER BY id LIMIT %s
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


@dataclass
class DispatchResult:
    outcome: str  # done · budget · window · stopped · busy
    sent: int = 0
    failed: int = 0


def pace_for(campaign: Campaign) -> Pace:
    if campaign.connection.provider == Provider.EVOLUTION:
        return Pace(
            campaign.delay_min_ms / 1000,
            campaign.delay_max_ms / 1000,
            pause_every=campaign.pause_every,
            pause=float(campaign.pause_seconds),
        )
    return Pace.per_second(campaign.rate_per_second or conf.cloud_default_rate())


def _claim(campaign_id: int, size: int, token: uuid.UUID) -> list[int]:
    with db_connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, [token, timezone.now(), campaign_id, size])
        return sorted(row[0] for row in cursor.fetchall())


def _mine(pk, token: uuid.UUID):
    """The row while this worker still holds it (a row recovered from it is no longer `mine`)."""
    return CampaignRecipient.objects.filter(pk=pk, status=RecipientStatus.SENDING, claim_token=token)


def _heartbeat(ids: list[int], token: uuid.UUID) -> None:
    """Rows this worker holds stay fresh, so no other worker takes them for a dead worker's."""
    if ids:
        CampaignRecipient.objects.filter(pk__in=ids, status=RecipientStatus.SENDING, claim_token=token).update(
            claimed_at=timezone.now()
        )


def recipients_recover_stale(*, campaign: Campaign) -> int:
    """Settles rows left `sending` by a worker that died (see the module docstring)."""
    cutoff = timezone.now() - timedelta(seconds=conf.sending_stale_seconds())
    stale = CampaignRecipient.objects.filter(campaign=campaign, status=RecipientStatus.SENDING, claimed_at__lt=cutoff)
    recorded = stale.exclude(provider_message_id="").update(status=RecipientStatus.SENT)
    # Claimed but never handed to WhatsApp: safe to send.
    unattempted = stale.filter(send_started_at__isnull=True).update(
        status=RecipientStatus.PENDING, claimed_at=None, claim_token=None
    )
    interrupted = stale.filter(provider_message_id="").update(
        status=RecipientStatus.FAILED,
        error_code="interrupted",
        error_reason=_(
            "The sending worker stopped while handing this message to WhatsApp. It may or may not have "
            "arrived; it is not sent again, so that nobody gets it twice."
        ),
        failed_at=timezone.now(),
    )
    if recorded or unattempted or interrupted:
        logger.warning(
            "stale campaign rows settled",
            extra={"campaign_id": campaign.pk, "sent": recorded, "requeued": unattempted, "interrupted": interrupted},
        )
    return recorded + unattempted + interrupted


def _release(ids: list[int], token: uuid.UUID) -> None:
    if ids:
        CampaignRecipient.objects.filter(pk__in=ids, status=RecipientStatus.SENDING, claim_token=token).update(
            status=RecipientStatus.PENDING, claimed_at=None, claim_token=None, send_started_at=None
        )


def _mark_failed(recipient: CampaignRecipient, token: uuid.UUID, code: str, reason: str) -> None:
    _mine(recipient.pk, token).update(
        status=RecipientStatus.FAILED, error_code=code[:40], error_reason=reason, failed_at=timezone.now()
    )


def _send(adapter, campaign: Campaign, recipient: CampaignRecipient):
    payload = recipient.payload or {}
    if campaign.template_id:
        components = template_send_components(campaign.template, payload.get("values") or {})
        return adapter.send_template(recipient.to, campaign.template.name, campaign.template.language, components)
    text = payload.get("text", "")
    if campaign.media_url:
        return adapter.send_media(
            recipient.to, MessageType(campaign.media_type or MessageType.IMAGE), url=campaign.media_url, caption=text
        )
    return adapter.send_text(recipient.to, text)


# The two writes around every send, as plain statements: at 80 sends/s per worker pool, building
# the ORM's UPDATE cost more CPU than running it. Same rows as `_mine(...).update(...)`.
_RECIPIENTS = CampaignRecipient._meta.db_table
_MINE = "WHERE tenant_id = %s AND id = %s AND status = 'sending' AND claim_token = %s"
_STAMP_SQL = f"UPDATE {_RECIPIENTS} SET send_started_at = %s {_MINE}"  # noqa: S608 — no value interpolated
_SENT_SQL = f"UPDATE {_RECIPIENTS} SET status = %s, provider_message_id = %s, sent_at = %s {_MINE}"  # noqa: S608


def _update_mine(recipient: CampaignRecipient, token: uuid.UUID, statement: str, values: list) -> int:
    with db_connection.cursor() as cursor:
        cursor.execute(statement, [*values, recipient.tenant_id, recipient.pk, token])
        return cursor.rowcount


def send_one(adapter, campaign: Campaign, recipient: CampaignRecipient, token: uuid.UUID) -> bool:
    """Sends one claimed row and records the outcome. True when WhatsApp took it. A row this
    worker no longer holds (taken back as stale) is left alone: whoever holds it now sends it."""
    if recipient.contact.opted_out:
        _mark_failed(
            recipient, token, "opted_out", _("The contact opted out of campaigns before the message was sent.")
        )
        return False
    if not _update_mine(recipient, token, _STAMP_SQL, [timezone.now()]):
        return False
    try:
        result = _send(adapter, campaign, recipient)
    except TemplateError as exc:
        _mark_failed(recipient, token, "missing_variable", str(exc.detail))
        return False
    except ProviderError as exc:
        if exc.code in NOT_SENT_CODES and recipient.attempts < MAX_ATTEMPTS:
            _release([recipient.pk], token)
            return False
        _mark_failed(recipient, token, str(exc.code), exc.explanation)
        return False
    recorded = _update_mine(
        recipient, token, _SENT_SQL, [RecipientStatus.SENT.value, result.provider_message_id, timezone.now()]
    )
    if not recorded:
        # Settled as interrupted while WhatsApp was still answering (a call longer than the stale
        # limit): it did go out after all.
        CampaignRecipient.objects.filter(pk=recipient.pk, error_code="interrupted").update(
            status=RecipientStatus.SENT,
            error_code="",
            error_reason="",
            failed_at=None,
            provider_message_id=result.provider_message_id,
            sent_at=timezone.now(),
        )
    return True


class _Slot:
    """At most CAMPAIGN_DISPATCH_WORKERS workers per campaign: Redis keys with a short TTL, refreshed
    while the worker lives, so a killed worker's slot frees itself."""

    def __init__(self, campaign_id: int):
        self.redis = get_redis()
        self.token = uuid.uuid4().hex
        self.key = None
        for index in range(conf.dispatch_workers()):
            key = f"prosa:campaign:{campaign_id}:slot:{index}"
            if self.redis.set(key, self.token, nx=True, ex=SLOT_TTL_SECONDS):
                self.key = key
                break

    def refresh(self) -> None:
        if self.key:
            self.redis.expire(self.key, SLOT_TTL_SECONDS)

    def release(self) -> None:
        if self.key and self.redis.get(self.key) == self.token.encode():
            self.redis.delete(self.key)


def _control(campaign: Campaign) -> str | None:
    """None to go on; otherwise why to stop (status changed, or the window closed)."""
    status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    if status != CampaignStatus.RUNNING:
        return "stopped"
    now = timezone.now()
    if not is_open(campaign.send_window or None, campaign.tenant.timezone, now):
        next_open = services.window_next_open(campaign.send_window, campaign.tenant.timezone, now)
        Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.RUNNING).update(next_run_at=next_open)
        return "window"
    return None


def _finish_if_done(campaign: Campaign) -> bool:
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.RUNNING:
            return False
        busy = CampaignRecipient.objects.filter(
            campaign=campaign, status__in=(RecipientStatus.PENDING, RecipientStatus.SENDING)
        ).exists()
        if busy:
            return False
        locked.status = CampaignStatus.COMPLETED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at", "updated_at"])
        events.campaign_updated(locked)
    return True


def _wait_for_slot(
    throttle: ConnectionThrottle, campaign: Campaign, control_every: float, slot: _Slot, held: list[int], token
) -> str | None:
    """Sleeps until the booked slot, re-reading the campaign during long waits (Evolution's pauses)."""
    deadline = time.monotonic() + throttle.reserve()
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(remaining, control_every))
        if deadline - time.monotonic() > 0:
            slot.refresh()
            _heartbeat(held, token)
            stop = _control(campaign)
            if stop:
                return stop
    return None


def campaign_dispatch(*, campaign_id: int, budget_seconds: float | None = None) -> DispatchResult:
    """Sends a running campaign's pending rows until none is left, the campaign stops, the window
    closes, or `budget_seconds` pass (the caller then starts a fresh worker)."""
    budget = conf.dispatch_budget_seconds() if budget_seconds is None else budget_seconds
    campaign = Campaign.objects.select_related("connection", "template", "tenant").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != CampaignStatus.RUNNING:
        return DispatchResult("stopped")
    slot = _Slot(campaign.pk)
    if slot.key is None:
        return DispatchResult("busy")
    result = DispatchResult("done")
    started = time.monotonic()
    throttle = ConnectionThrottle(campaign.connection_id, pace_for(campaign))
    # Claim about one second of sending at a time (a single row for Evolution's slow pace).
    evolution = campaign.connection.provider == Provider.EVOLUTION
    batch_size = 1 if evolution else min(MAX_BATCH, max(1, round(1 / throttle.pace.max_interval)))
    token = uuid.uuid4()
    control_every = conf.control_interval_seconds()
    try:
        recipients_recover_stale(campaign=campaign)
        with httpx2.Client(timeout=default_timeout()) as client:
            adapter = get_adapter(campaign.connection, http_client=client)
            last_control = 0.0
            while True:
                if time.monotonic() - started > budget:
                    result.outcome = "budget"
                    break
                stop = _control(campaign)
                last_control = time.monotonic()
                if stop:
                    result.outcome = stop
                    break
                ids = _claim(campaign.pk, batch_size, token)
                if not ids:
                    _finish_if_done(campaign)
                    break
                rows = {r.pk: r for r in CampaignRecipient.objects.select_related("contact").filter(pk__in=ids)}
                for index, pk in enumerate(ids):
                    if time.monotonic() - last_control >= control_every:
                        slot.refresh()
                        _heartbeat(ids[index:], token)
                        stop = _control(campaign)
                        last_control = time.monotonic()
                    if not stop:
                        stop = _wait_for_slot(throttle, campaign, control_every, slot, ids[index:], token)
                    if stop:
                        _release(ids[index:], token)
                        result.outcome = stop
                        break
                    if send_one(adapter, campaign, rows[pk], token):
                        result.sent += 1
                    else:
                        result.failed += 1
                events.campaign_progress(campaign)
                if result.outcome != "done":
                    break
    finally:
        slot.release()
    return result
