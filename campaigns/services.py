"""Writes of campaigns: drafts, audience, scheduling, pause/resume/cancel, and the hooks that
record what customers do (status webhooks, replies, stop words).

Sending itself is campaigns.dispatch (run by workers). Lifecycle:
draft → scheduled → running ⇄ paused → completed, and cancelled from any non-final state.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import random
import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from accounts.models import User
from campaigns import conf, events
from campaigns.exceptions import (
    AudienceFileInvalid,
    CampaignInvalid,
    CampaignNotEditable,
    CampaignStateConflict,
)
from campaigns.models import RECIPIENT_RANK, Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from config.batch import batch_memoized, in_batch
from crm.identity import contact_resolve_whatsapp
from crm.models import Contact, ContactFieldDefinition
from tenants.hours import DAYS, business_hours_validate, is_open
from tenants.models import Tenant
from tickets import events as ticket_events
from whatsapp.choices import DeliveryStatus, Provider
from whatsapp.models import MessageTemplate
from whatsapp.phone import normalize_phone
from whatsapp.templates import PLACEHOLDER

logger = logging.getLogger(__name__)

BUILTIN_VARIABLES = ("name", "first_name", "phone", "email")
EDITABLE_FIELDS = {
    "name",
    "connection",
    "template",
    "template_params",
    "text_variations",
    "media_url",
    "media_type",
    "audience_filter",
    "send_window",
    "rate_per_second",
    "delay_min_ms",
    "delay_max_ms",
    "pause_every",
    "pause_seconds",
}
CSV_PHONE_COLUMNS = ("phone", "number", "numero", "número", "telefone", "celular", "whatsapp")
CSV_NAME_COLUMNS = ("name", "nome")


class MissingVariable(Exception):
    def __init__(self, name: str):
        self.name = name
        super().__init__(name)


# --- per-contact variables ---------------------------------------------------------------


def contact_variables(contact: Contact) -> dict[str, str]:
    """`{{name}}`, `{{first_name}}`, `{{phone}}`, `{{email}}` and every custom field by its key."""
    name = contact.name or contact.profile_name or ""
    values = {str(k): "" if v is None else str(v) for k, v in (contact.custom_fields or {}).items()}
    values.update(
        name=name,
        first_name=name.split(" ", 1)[0] if name else "",
        phone=f"+{contact.phone}" if contact.phone else "",
        email=contact.email or "",
    )
    return values


def render_for_contact(text: str, variables: dict[str, str]) -> str:
    """Fills `{{var}}`; a variable the contact has no value for raises MissingVariable."""

    def replace(match):
        value = variables.get(match.group(1), "")
        if value == "":
            raise MissingVariable(match.group(1))
        return value

    return PLACEHOLDER.sub(replace, text)


def _expressions(campaign: Campaign) -> list[str]:
    if campaign.template_id:
        return [str(v) for params in (campaign.template_params or {}).values() for v in (params or {}).values()]
    return [str(v) for v in campaign.text_variations or []]


def recipient_payload(campaign: Campaign, contact: Contact) -> dict[str, Any]:
    """What this contact gets; raises MissingVariable."""
    variables = contact_variables(contact)
    if campaign.template_id:
        values = {
            kind: {name: render_for_contact(str(expr), variables) for name, expr in (params or {}).items()}
            for kind, params in (campaign.template_params or {}).items()
        }
        return {"values": values}
    index = random.randrange(len(campaign.text_variations))  # noqa: S311 (variety, not security)
    return {"text": render_for_contact(campaign.text_variations[index], variables), "variation": index}


# --- validation --------------------------------------------------------------------------


def campaign_validate(*, campaign: Campaign) -> None:
    """Everything that must hold before a campaign is scheduled; CampaignInvalid with `fields`."""
    errors: dict[str, list[str]] = {}
    connection = campaign.connection
    if campaign.template_id:
        template = campaign.template
        if connection.provider != Provider.CLOUD:
            errors.setdefault("template", []).append(_("Templates are sent through Cloud API connections only."))
        if template.connection_id != connection.pk:
            errors.setdefault("template", []).append(_("The template belongs to another connection."))
        if template.status != MessageTemplate.Status.APPROVED:
            errors.setdefault("template", []).append(_("Only templates approved by WhatsApp can be sent."))
        params = campaign.template_params or {}
        for kind, names in (template.variables or {}).items():
            missing = [name for name in names if not str((params.get(kind) or {}).get(name, "")).strip()]
            if missing:
                errors.setdefault("template_params", []).append(
                    _("Give a value for %(vars)s in the %(kind)s.")
                    % {"vars": ", ".join(f"{{{{{name}}}}}" for name in missing), "kind": kind}
                )
    else:
        if connection.provider == Provider.CLOUD:
            errors.setdefault("template", []).append(
                _("Cloud API connections can only start conversations with an approved template.")
            )
        if not [t for t in campaign.text_variations or [] if str(t).strip()]:
            errors.setdefault("text_variations", []).append(_("Write at least one text."))
        if campaign.media_url and not campaign.media_type:
            errors.setdefault("media_type", []).append(_("Say what kind of media the link is."))
    known = set(BUILTIN_VARIABLES) | set(
        ContactFieldDefinition.objects.filter(tenant_id=campaign.tenant_id).values_list("key", flat=True)
    )
    unknown = sorted({name for expr in _expressions(campaign) for name in PLACEHOLDER.findall(expr)} - known)
    if unknown:
        errors.setdefault("variables", []).append(
            _("Unknown variables: %(vars)s. Use name, first_name, phone, email or a contact field key.")
            % {"vars": ", ".join(f"{{{{{name}}}}}" for name in unknown)}
        )
    try:
        business_hours_validate(campaign.send_window or {})
    except DjangoValidationError as exc:
        errors["send_window"] = exc.messages
    if campaign.rate_per_second is not None and not (0 < campaign.rate_per_second <= conf.cloud_max_rate()):
        errors["rate_per_second"] = [
            _("Between 0 and %(max)s messages per second.") % {"max": f"{conf.cloud_max_rate():g}"}
        ]
    if campaign.delay_min_ms > campaign.delay_max_ms:
        errors["delay_min_ms"] = [_("The minimum delay must not exceed the maximum.")]
    if errors:
        raise CampaignInvalid(fields=errors)


# --- drafts ------------------------------------------------------------------------------


def _check_relations(campaign: Campaign) -> None:
    if campaign.connection.tenant_id != campaign.tenant_id:
        raise CampaignInvalid(fields={"connection": [_("Choose a connection of this company.")]})
    if campaign.template_id and campaign.template.tenant_id != campaign.tenant_id:
        raise CampaignInvalid(fields={"template": [_("Choose a template of this company.")]})


@transaction.atomic
def campaign_create(*, tenant: Tenant, actor: User | None, tags=(), contacts=(), **fields: Any) -> Campaign:
    unknown = fields.keys() - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"campaign_create() got unexpected fields {sorted(unknown)}")
    campaign = Campaign(tenant=tenant, created_by=actor, **fields)
    _check_relations(campaign)
    campaign.save()
    if tags:
        campaign.audience_tags.set(tags)
    if contacts:
        campaign.audience_contacts.set(contacts)
    events.campaign_updated(campaign)
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, tags=None, contacts=None, **changes: Any) -> Campaign:
    unknown = changes.keys() - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"campaign_update() got unexpected fields {sorted(unknown)}")
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignNotEditable()
    for key, value in changes.items():
        setattr(campaign, key, value)
    _check_relations(campaign)
    campaign.save()
    if tags is not None:
        campaign.audience_tags.set(tags)
    if contacts is not None:
        campaign.audience_contacts.set(contacts)
    events.campaign_updated(campaign)
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    if campaign.status in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
        raise CampaignStateConflict(_("Cancel the campaign before deleting it."))
    campaign.delete()


def _csv_rows(raw: bytes) -> tuple[str, str | None, list[dict[str, str]]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    phone_column = next((columns[c] for c in CSV_PHONE_COLUMNS if c in columns), None)
    if phone_column is None:
        raise AudienceFileInvalid()
    name_column = next((columns[c] for c in CSV_NAME_COLUMNS if c in columns), None)
    return phone_column, name_column, list(reader)


def campaign_audience_import(*, campaign: Campaign, file) -> dict[str, Any]:
    """Adds the numbers of a CSV (a phone column, optionally a name column) to a draft's explicit
    contacts, matching existing contacts by number (with and without Brazil's ninth digit) and
    creating the others. Rows with a number that is not a phone are reported, not fatal."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignNotEditable()
    phone_column, name_column, rows = _csv_rows(file.read())
    added, created, errors = [], 0, []
    with transaction.atomic():
        for line, row in enumerate(rows, start=2):
            phone = normalize_phone((row.get(phone_column) or "").strip())
            if phone is None:
                errors.append(
                    {"row": line, "detail": _("Not a phone number: %(value)s") % {"value": row.get(phone_column)}}
                )
                continue
            resolved = contact_resolve_whatsapp(tenant=campaign.tenant, wa_id=phone, phone=phone)
            contact = resolved.contact
            name = (row.get(name_column) or "").strip() if name_column else ""
            if name and not contact.name:
                contact.name = name[:200]
                contact.save(update_fields=["name", "updated_at"])
            created += resolved.created
            added.append(contact.pk)
        campaign.audience_contacts.add(*added)
    return {"rows": len(rows), "added": len(set(added)), "created": created, "errors": errors}


# --- audience ----------------------------------------------------------------------------


def _filter_query(spec: dict) -> Q | None:
    if not spec:
        return None
    if not isinstance(spec, dict) or spec.keys() - {
        "search",
        "created_after",
        "created_before",
        "custom_fields",
        "tags_all",
    }:
        raise CampaignInvalid(
            fields={
                "audience_filter": [_("Filter by search, created_after, created_before, custom_fields or tags_all.")]
            }
        )
    query = Q()
    if spec.get("search"):
        term = str(spec["search"]).strip()
        query &= Q(name__icontains=term) | Q(phone__contains=term) | Q(profile_name__icontains=term)
    for key, lookup in (("created_after", "created_at__date__gte"), ("created_before", "created_at__date__lte")):
        if spec.get(key):
            day = parse_date(str(spec[key]))
            if day is None:
                raise CampaignInvalid(fields={"audience_filter": [_("%(key)s must be a date.") % {"key": key}]})
            query &= Q(**{lookup: day})
    if spec.get("custom_fields"):
        if not isinstance(spec["custom_fields"], dict):
            raise CampaignInvalid(fields={"audience_filter": [_("custom_fields must be an object.")]})
        query &= Q(custom_fields__contains=spec["custom_fields"])
    if spec.get("tags_all"):
        for tag_id in spec["tags_all"]:
            query &= Q(pk__in=Contact.objects.filter(tags=tag_id).values("pk"))
    return query


def audience_queryset(*, campaign: Campaign):
    """The contacts the campaign would reach now: any of its tags ∪ its contacts ∪ its filter,
    without opted-out contacts and contacts without a number."""
    sources = []
    tag_ids = list(campaign.audience_tags.values_list("pk", flat=True))
    if tag_ids:
        sources.append(Q(pk__in=Contact.objects.filter(tags__in=tag_ids).values("pk")))
    if campaign.audience_contacts.exists():
        sources.append(Q(pk__in=campaign.audience_contacts.values("pk")))
    filter_query = _filter_query(campaign.audience_filter or {})
    if filter_query is not None:
        sources.append(filter_query)
    if not sources:
        return Contact.objects.none()
    query = sources[0]
    for source in sources[1:]:
        query |= source
    return Contact.objects.filter(query).filter(opted_out=False).exclude(wa_id="", phone="").order_by("pk")


def _materialize(campaign: Campaign) -> dict[str, int]:
    """One recipient row per contact of the audience; contacts missing a variable get a failed
    row saying which one (so the report shows them), the others a pending one."""
    now = timezone.now()
    rows, failed = [], 0
    for contact in audience_queryset(campaign=campaign).iterator(chunk_size=2000):
        row = CampaignRecipient(
            tenant_id=campaign.tenant_id, campaign=campaign, contact=contact, to=contact.wa_id or contact.phone
        )
        try:
            row.payload = recipient_payload(campaign, contact)
        except MissingVariable as missing:
            row.status = RecipientStatus.FAILED
            row.error_code = "missing_variable"
            row.error_reason = _("This contact has no value for {{%(name)s}}.") % {"name": missing.name}
            row.failed_at = now
            failed += 1
        rows.append(row)
    CampaignRecipient.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return {"recipients": len(rows), "missing_variables": failed}


# --- lifecycle ---------------------------------------------------------------------------


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update(of=("self",)).select_related("connection", "template").get(pk=campaign.pk)


def enqueue_workers(campaign: Campaign, *, eta: datetime | None = None) -> None:
    from campaigns.tasks import campaign_dispatch_task

    campaign_id, tenant_id, workers = campaign.pk, campaign.tenant_id, conf.dispatch_workers()

    def enqueue():
        for _slot in range(workers):
            campaign_dispatch_task.apply_async(kwargs={"campaign_id": campaign_id, "tenant_id": tenant_id}, eta=eta)

    transaction.on_commit(enqueue)


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, at: datetime | None = None) -> dict[str, int]:
    """Validates the draft, snapshots its audience and schedules it for `at` (None: now).
    Returns how many recipients it got and how many of them lack a variable."""
    campaign = _locked(campaign)
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignStateConflict(_("Only a draft can be scheduled."))
    campaign_validate(campaign=campaign)
    now = timezone.now()
    if at is not None and at < now - timedelta(minutes=1):
        raise CampaignInvalid(fields={"scheduled_at": [_("Choose a time in the future.")]})
    counts = _materialize(campaign)
    if counts["recipients"] == 0:
        raise CampaignInvalid(fields={"audience": [_("No contact to send to (opted-out contacts are left out).")]})
    campaign.scheduled_at = at or now
    campaign.status = CampaignStatus.SCHEDULED
    campaign.save(update_fields=["scheduled_at", "status", "updated_at"])
    if campaign.scheduled_at <= now:
        _start(campaign, now=now)
    else:
        enqueue_workers(campaign, eta=campaign.scheduled_at)
    events.campaign_updated(campaign)
    return counts


def _start(campaign: Campaign, *, now: datetime) -> None:
    campaign.status = CampaignStatus.RUNNING
    campaign.started_at = campaign.started_at or now
    campaign.next_run_at = None
    campaign.save(update_fields=["status", "started_at", "next_run_at", "updated_at"])
    enqueue_workers(campaign)


@transaction.atomic
def campaign_start_if_due(*, campaign_id: int, now: datetime | None = None) -> bool:
    """A scheduled campaign whose time came starts running (beat, or the ETA task)."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None or campaign.status != CampaignStatus.SCHEDULED or campaign.scheduled_at > now:
        return False
    _start(campaign, now=now)
    events.campaign_updated(campaign)
    return True


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Workers notice within CAMPAIGN_CONTROL_INTERVAL_SECONDS and hand back what they hold."""
    campaign = _locked(campaign)
    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
        raise CampaignStateConflict(_("Only a running or scheduled campaign can be paused."))
    campaign.status = CampaignStatus.PAUSED
    campaign.save(update_fields=["status", "updated_at"])
    events.campaign_updated(campaign)
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    campaign = _locked(campaign)
    if campaign.status != CampaignStatus.PAUSED:
        raise CampaignStateConflict(_("Only a paused campaign can be resumed."))
    now = timezone.now()
    if campaign.scheduled_at and campaign.scheduled_at > now:
        campaign.status = CampaignStatus.SCHEDULED
        campaign.save(update_fields=["status", "updated_at"])
    else:
        _start(campaign, now=now)
    events.campaign_updated(campaign)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stops for good; recipients not yet sent stay `pending` (reported as not sent)."""
    campaign = _locked(campaign)
    if campaign.is_terminal or campaign.status == CampaignStatus.DRAFT:
        raise CampaignStateConflict(_("Only a scheduled, running or paused campaign can be cancelled."))
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = timezone.now()
    campaign.save(update_fields=["status", "finished_at", "updated_at"])
    events.campaign_updated(campaign)
    return campaign


# --- the sending window ------------------------------------------------------------------


def window_next_open(schedule: dict | None, tz_name: str, after: datetime) -> datetime | None:
    """The first moment at or after `after` inside the window (None: the window never opens)."""
    if is_open(schedule, tz_name, after):
        return after
    zone = ZoneInfo(tz_name)
    local = after.astimezone(zone)
    candidates = []
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        for start, _end in (schedule or {}).get(DAYS[day.weekday()]) or []:
            hours, minutes = (int(part) for part in start.split(":"))
            if hours == 24:
                continue
            moment = datetime(day.year, day.month, day.day, hours, minutes, tzinfo=zone)
            if moment > after and is_open(schedule, tz_name, moment):
                candidates.append(moment)
    return min(candidates) if candidates else None


# --- what customers do -------------------------------------------------------------------

_FROM_DELIVERY = {
    DeliveryStatus.SENT: RecipientStatus.SENT,
    DeliveryStatus.DELIVERED: RecipientStatus.DELIVERED,
    DeliveryStatus.READ: RecipientStatus.READ,
    DeliveryStatus.PLAYED: RecipientStatus.READ,
    DeliveryStatus.FAILED: RecipientStatus.FAILED,
}


def recipient_status_apply(*, connection, update) -> CampaignRecipient | None:
    """A status webhook for a message no ticket knows may be a campaign's: move the recipient's
    status forward (never back; `failed` only before delivery) and stamp when."""
    status = _FROM_DELIVERY.get(update.status)
    if status is None or not update.provider_message_id:
        return None
    recipient = (
        CampaignRecipient.objects.select_for_update(of=("self",))
        .select_related("campaign")
        .filter(provider_message_id=update.provider_message_id, campaign__connection_id=connection.pk)
        .first()
    )
    if recipient is None:
        return None
    current, at, fields = recipient.status, update.timestamp or timezone.now(), []
    if status == RecipientStatus.FAILED:
        if current not in (RecipientStatus.SENDING, RecipientStatus.SENT):
            return None
        recipient.status, recipient.failed_at = status, at
        recipient.error_code = update.error_code[:40]
        recipient.error_reason = "\n\n".join(part for part in (update.explanation, update.error_detail) if part)
        fields += ["status", "failed_at", "error_code", "error_reason"]
    elif current != RecipientStatus.FAILED:
        # Each step is stamped even when it arrives after a later one (read before delivered).
        stamps = {RecipientStatus.DELIVERED: ["delivered_at"], RecipientStatus.READ: ["delivered_at", "read_at"]}
        for field in stamps.get(status, []):
            if getattr(recipient, field) is None:
                setattr(recipient, field, at)
                fields.append(field)
        if RECIPIENT_RANK[status] > RECIPIENT_RANK[current]:
            recipient.status = status
            fields.append("status")
    if not fields:
        return None
    recipient.save(update_fields=fields)
    events.campaign_progress(recipient.campaign)
    return recipient


def _normalized(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Z0-9 ]", "", folded.upper()).strip()


def is_stop_word(text: str) -> bool:
    return _normalized(text) in _normalized_stop_words(tuple(conf.stop_words()))


@functools.lru_cache(maxsize=4)
def _normalized_stop_words(words: tuple[str, ...]) -> frozenset[str]:
    """Normalized once per setting value, not for every received message."""
    return frozenset(_normalized(word) for word in words)


_REPLIED_TO_STATUSES = [RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ, RecipientStatus.REPLIED]
_LATEST_CAMPAIGN_MESSAGE_SQL = (
    f"SELECT r.id FROM {CampaignRecipient._meta.db_table} r "  # noqa: S608 — no value is interpolated
    f"JOIN {Campaign._meta.db_table} c ON c.id = r.campaign_id "
    "WHERE r.tenant_id = %s AND r.contact_id = %s AND c.connection_id = %s AND r.sent_at >= %s "
    "AND r.status = ANY(%s) ORDER BY r.sent_at DESC LIMIT 1 FOR UPDATE OF r"
)


_ANY_CAMPAIGN_MESSAGE_SQL = (
    f"SELECT EXISTS (SELECT 1 FROM {CampaignRecipient._meta.db_table} r "  # noqa: S608 — no value is interpolated
    f"JOIN {Campaign._meta.db_table} c ON c.id = r.campaign_id "
    "WHERE r.tenant_id = %s AND c.connection_id = %s AND r.sent_at >= %s AND r.status = ANY(%s))"
)


def _campaign_messages_sent_since(*, tenant_id: int, connection_id: int, since: datetime) -> bool:
    """Whether the connection sent any campaign message since `since` — asked once per inbound
    batch (config.batch), so the usual message of a batch, on a connection without a recent
    campaign, costs no query for it."""

    def read() -> bool:
        with db_connection.cursor() as cursor:
            cursor.execute(_ANY_CAMPAIGN_MESSAGE_SQL, [tenant_id, connection_id, since, _replied_to_statuses()])
            return cursor.fetchone()[0]

    return batch_memoized(("campaigns.sent_since", tenant_id, connection_id), read)


def _replied_to_statuses() -> list[str]:
    return [str(status) for status in _REPLIED_TO_STATUSES]


def _latest_campaign_message_locked(*, ticket, since: datetime) -> int | None:
    """The id of the latest campaign message to the ticket's contact on its connection sent since
    `since`, locked. Plain SQL: it runs for every customer message, and almost always finds nothing."""
    if in_batch() and not _campaign_messages_sent_since(
        tenant_id=ticket.tenant_id, connection_id=ticket.connection_id, since=since
    ):
        return None
    with db_connection.cursor() as cursor:
        cursor.execute(
            _LATEST_CAMPAIGN_MESSAGE_SQL,
            [ticket.tenant_id, ticket.contact_id, ticket.connection_id, since, _replied_to_statuses()],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def campaign_reply_apply(*, ticket, message) -> bool:
    """Runs on each customer message (tickets.routing, inside its transaction). Marks the latest
    campaign message to this contact on this connection as replied; a stop word ("SAIR", "PARAR",
    "STOP"…, CAMPAIGN_STOP_WORDS) opts the contact out of campaigns and tells them so.
    Returns True when the message was a stop word (routing then does nothing else with it)."""
    since = timezone.now() - timedelta(days=conf.reply_window_days())
    recipient_id = _latest_campaign_message_locked(ticket=ticket, since=since)
    recipient = (
        CampaignRecipient.objects.select_related("campaign").get(pk=recipient_id) if recipient_id is not None else None
    )
    stop = is_stop_word(message.text)
    if recipient is not None:
        fields = []
        if recipient.status != RecipientStatus.REPLIED:
            recipient.status = RecipientStatus.REPLIED
            recipient.replied_at = message.sent_at or timezone.now()
            fields += ["status", "replied_at"]
            message._first_reply_to_campaign = recipient.campaign_id  # flows' campaign_reply trigger
        if stop and recipient.opted_out_at is None:
            recipient.opted_out_at = timezone.now()
            fields.append("opted_out_at")
        if fields:
            recipient.save(update_fields=fields)
            events.campaign_progress(recipient.campaign)
    if not stop:
        return False
    contact = ticket.contact
    if not contact.opted_out:
        Contact.objects.filter(pk=contact.pk).update(opted_out=True, updated_at=timezone.now())
        contact.opted_out = True
        ticket_events.contact_updated(contact)
    from tickets.services import system_message_send

    with translation.override(ticket.tenant.language):
        system_message_send(
            ticket=ticket,
            text=_("Done: you will not receive our campaign messages any more. You can still write to us here."),
        )
    logger.info("contact opted out by stop word", extra={"contact_id": contact.pk})
    return True
