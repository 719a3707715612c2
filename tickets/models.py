"""The conversation domain: queues, tickets (atendimentos), their messages and history."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, Tag
from tenants.models import TenantOwned, unindexed_tenant_field
from whatsapp.choices import DeliveryStatus, MessageType
from whatsapp.models import Connection


class TenantSequence(TenantOwned):
    """Per-tenant counters (ticket protocol numbers), advanced atomically by services."""

    name = models.CharField(max_length=40)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="tickets_sequence_unique")]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class Queue(TenantOwned):
    """A fila: a team and a topic that tickets wait in until an agent accepts them."""

    class AutoAssignment(models.TextChoices):
        OFF = "off", _("Off")
        ROUND_ROBIN = "round_robin", _("Round-robin")
        LEAST_BUSY = "least_busy", _("Least busy")

    name = models.CharField(_("name"), max_length=80)
    color = models.CharField(_("color"), max_length=7, default="#2563eb")
    greeting_message = models.TextField(_("greeting message"), blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="queues", blank=True, verbose_name=_("members")
    )
    menu_order = models.PositiveIntegerField(_("order in the menu"), default=0)
    auto_assignment = models.CharField(
        _("auto-assignment"), max_length=16, choices=AutoAssignment.choices, default=AutoAssignment.OFF
    )
    max_open_per_agent = models.PositiveIntegerField(_("open tickets per agent (0 = no cap)"), default=0)
    # The round-robin cursor: the member who got this queue's latest automatic assignment.
    last_assigned_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    # {"mon": [["08:00", "18:00"]], ...} in the tenant's timezone; empty = the tenant's hours.
    business_hours = models.JSONField(_("business hours"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("queue")
        verbose_name_plural = _("queues")
        ordering = ["menu_order", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="tickets_queue_unique_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from tenants.hours import business_hours_validate

        try:
            business_hours_validate(self.business_hours)
        except ValidationError as exc:
            raise ValidationError({"business_hours": exc.messages}) from None


class Ticket(TenantOwned):
    """One conversation with a contact on a connection, from first message to close."""

    tenant = unindexed_tenant_field()

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        OPEN = "open", _("In progress")
        CLOSED = "closed", _("Closed")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    protocol = models.PositiveBigIntegerField(_("protocol"))
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("contact"))
    connection = models.ForeignKey(
        Connection, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("connection")
    )
    queue = models.ForeignKey(
        Queue, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets", verbose_name=_("queue")
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    priority = models.CharField(_("priority"), max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    tags = models.ManyToManyField(Tag, related_name="tickets", blank=True, verbose_name=_("tags"))
    is_bot = models.BooleanField(_("handled by a bot"), default=False)
    unread_count = models.PositiveIntegerField(_("unread messages"), default=0)
    # Denormalized for the ticket list (no per-row query): the latest message's time and preview.
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    last_message_preview = models.CharField(_("last message"), max_length=200, blank=True)
    # The customer's last message: opens the Cloud API's 24-hour customer-service window.
    last_inbound_at = models.DateTimeField(_("customer's last message at"), null=True, blank=True)
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    rating = models.PositiveSmallIntegerField(_("satisfaction rating"), null=True, blank=True)
    awaiting_rating = models.BooleanField(default=False)
    menu_attempts = models.PositiveSmallIntegerField(default=0)
    out_of_hours_notified = models.BooleanField(default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-last_message_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "protocol"], name="tickets_ticket_unique_protocol"),
            # One conversation at a time per contact and number: a new message joins it.
            models.UniqueConstraint(
                fields=["contact", "connection"],
                condition=~Q(status="closed"),
                name="tickets_ticket_one_active_per_contact",
            ),
        ]
        # Each list tab walks one of these in its order (newest activity first) and stops at the page.
        indexes = [
            models.Index(fields=["tenant", "-last_message_at", "-id"], name="tickets_ticket_recent"),
            models.Index(fields=["tenant", "status", "-last_message_at", "-id"], name="tickets_ticket_status_recent"),
            models.Index(
                fields=["tenant", "assignee", "status", "-last_message_at", "-id"],
                name="tickets_ticket_assignee_recent",
            ),
            models.Index(fields=["tenant", "queue", "status"], name="tickets_ticket_queue"),
            models.Index(fields=["tenant", "updated_at"], name="tickets_ticket_updated"),
        ]

    def __str__(self) -> str:
        return f"#{self.protocol} {self.contact}"


class Message(TenantOwned):
    """A message of a ticket, in or out. Inbound messages are unique per connection and provider
    id, so a redelivered webhook adds nothing; outbound ones get their provider id when sent."""

    tenant = unindexed_tenant_field()

    class Direction(models.TextChoices):
        INBOUND = "inbound", _("From the customer")
        OUTBOUND = "outbound", _("To the customer")

    class SenderType(models.TextChoices):
        CONTACT = "contact", _("Contact")
        AGENT = "agent", _("Agent")
        BOT = "bot", _("Bot")
        SYSTEM = "system", _("System")
        PHONE = "phone", _("Sent from the phone")

    class MediaStatus(models.TextChoices):
        NONE = "none", _("No media")
        PENDING = "pending", _("Downloading")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="messages")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    sender_type = models.CharField(max_length=16, choices=SenderType.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_internal_note = models.BooleanField(default=False)
    type = models.CharField(max_length=24, choices=MessageType.choices, default=MessageType.TEXT)
    text = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=160, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_title = models.CharField(max_length=200, blank=True)
    error_detail = models.TextField(blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    quoted = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    quoted_provider_id = models.CharField(max_length=160, blank=True)
    # Reactions to this message, by who reacted: {"contact": "👍", "user:7": "❤️"}.
    reactions = models.JSONField(default=dict, blank=True)
    media_file = models.FileField(upload_to="", max_length=300, blank=True)
    media_status = models.CharField(max_length=16, choices=MediaStatus.choices, default=MediaStatus.NONE)
    media_ref = models.CharField(max_length=200, blank=True)
    media_mime = models.CharField(max_length=120, blank=True)
    media_size = models.PositiveBigIntegerField(null=True, blank=True)
    media_sha256 = models.CharField(max_length=64, blank=True)
    media_filename = models.CharField(max_length=255, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    # Type-specific content: shared contacts, interactive replies, location names, unknown raw payloads.
    payload = models.JSONField(default=dict, blank=True)
    sent_at = models.DateTimeField(_("time"), help_text=_("When it was sent (provider time for inbound)."))
    # Set when the sender edited or deleted it for everyone; earlier texts stay in payload["edits"].
    edited_at = models.DateTimeField(_("edited at"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="tickets_message_unique_provider_id",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "ticket", "sent_at", "id"], name="tickets_message_ticket_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.type} #{self.pk}"


# The words of a message as the search sees them (tickets 0008's `tickets_search_words`): the text
# without accents (config.folding.ACCENTED, as the contact search), split by PostgreSQL's `simple`
# text search parser (words, numbers, e-mail addresses, URLs and their parts), lower case, each cut
# to this many characters.
SEARCH_WORD_LENGTH = 60


class MessageWord(TenantOwned):
    """A word of a message's text: the ticket search's index (tickets.selectors.ticket_search_q).

    Written by the database, never by Python: a trigger on `tickets_message` (tickets 0008) adds
    the words of every inserted message, whoever inserts it (the inbound pipeline's SQL, the ORM,
    COPY), and those of each new text of an edit; the earlier text stays findable, as it stays in
    the message's history. The primary key is the whole row, tenant and word first, so "the
    tenant's tickets with a word starting with …" is a range of one index read without the table
    (an index-only scan): a common word's 12.8k messages cost 4 ms where the trigram index on the
    messages' text, which had to read each message to learn its ticket, cost 40–55 ms."""

    pk = models.CompositePrimaryKey("tenant_id", "word", "ticket_id", "message_id")
    tenant = unindexed_tenant_field(db_constraint=False)
    # Byte order ("C"), so that a prefix (`LIKE 'cancel%'`) is a range of the key.
    word = models.CharField(max_length=SEARCH_WORD_LENGTH, db_collation="C")
    # No constraints or indexes of their own: tickets and messages are never deleted but with their
    # tenant, and a check per word would cost each inbound message ten of them.
    ticket = models.ForeignKey(
        Ticket, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="search_words"
    )
    message = models.ForeignKey(
        Message, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )

    class Meta:
        verbose_name = _("message word")
        verbose_name_plural = _("message words")

    def __str__(self) -> str:
        return self.word


class TicketEvent(TenantOwned):
    """The history of a ticket: who did what and when."""

    class Type(models.TextChoices):
        CREATED = "created", _("Created")
        ACCEPTED = "accepted", _("Accepted")
        TRANSFERRED = "transferred", _("Transferred")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")
        PRIORITY_CHANGED = "priority_changed", _("Priority changed")
        TAGGED = "tagged", _("Tag added")
        UNTAGGED = "untagged", _("Tag removed")
        QUEUE_CHOSEN = "queue_chosen", _("Queue chosen by the customer")
        AUTO_ASSIGNED = "auto_assigned", _("Assigned automatically")
        RATED = "rated", _("Rated")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=24, choices=Type.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "ticket", "created_at"], name="tickets_event_ticket_time")]

    def __str__(self) -> str:
        return f"{self.get_type_display()} on ticket {self.ticket_id}"


class QuickReply(TenantOwned):
    """A canned answer typed as `/shortcut`; `{{name}}`, `{{protocol}}`, `{{agent}}` are filled in."""

    shortcut = models.SlugField(_("shortcut"), max_length=40)
    text = models.TextField(_("text"))
    media_file = models.FileField(_("media"), upload_to="quick-replies/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("quick reply")
        verbose_name_plural = _("quick replies")
        ordering = ["shortcut"]
        constraints = [models.UniqueConstraint(fields=["tenant", "shortcut"], name="tickets_quickreply_unique")]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class ScheduledMessage(TenantOwned):
    """A message to send to a ticket's contact at a later time (cancellable until then)."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="scheduled_messages")
    text = models.TextField(_("text"))
    send_at = models.DateTimeField(_("send at"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("scheduled message")
        verbose_name_plural = _("scheduled messages")
        ordering = ["send_at"]
        indexes = [models.Index(fields=["status", "send_at"], name="tickets_scheduled_due")]

    def __str__(self) -> str:
        return f"{self.ticket} at {self.send_at:%Y-%m-%d %H:%M}"
