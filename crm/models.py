from django.conf import settings
from django.db import models
from django.db.models import F, Q, TextField, Value
from django.db.models.functions import Concat
from django.utils.translation import gettext_lazy as _

from config.folding import folded
from tenants.models import TenantOwned, unindexed_tenant_field


class Tag(TenantOwned):
    """A label for contacts and tickets (and later deals)."""

    name = models.CharField(_("name"), max_length=60)
    color = models.CharField(_("color"), max_length=7, default="#64748b")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="crm_tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class ContactFieldDefinition(TenantOwned):
    """A custom field the tenant defines for its contacts (values live in Contact.custom_fields)."""

    class FieldType(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        BOOLEAN = "boolean", _("Yes/no")
        CHOICE = "choice", _("Choice")

    key = models.SlugField(_("key"), max_length=60)
    label = models.CharField(_("label"), max_length=120)
    field_type = models.CharField(_("type"), max_length=16, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("contact field")
        verbose_name_plural = _("contact fields")
        ordering = ["order", "label"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="crm_contactfield_unique_key")]

    def __str__(self) -> str:
        return self.label


class Contact(TenantOwned):
    """A customer. `wa_id` is the provider's chat identity (Cloud wa_id / Evolution JID user part);
    `phone` is E.164 digits when known. Brazilian numbers are matched with and without the mobile
    ninth digit by the services, so one person never becomes two contacts."""

    # Every index of contacts starts with the tenant; one of its own only made PostgreSQL's choice
    # for a search close enough to walk every contact of the tenant instead of the trigram indexes.
    tenant = unindexed_tenant_field()

    name = models.CharField(_("name"), max_length=200, blank=True)
    phone = models.CharField(_("phone (E.164 digits)"), max_length=20, blank=True)
    wa_id = models.CharField(_("WhatsApp id"), max_length=128, blank=True)
    profile_name = models.CharField(_("WhatsApp profile name"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True)
    avatar = models.ImageField(_("avatar"), upload_to="contacts/avatars/", blank=True)
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, related_name="contacts", blank=True, verbose_name=_("tags"))
    opted_out = models.BooleanField(_("opted out of campaigns"), default=False)
    notes = models.TextField(_("notes"), blank=True)
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # What the contact search compares (crm.selectors.contact_search): name, profile name and
    # e-mail, folded, kept by PostgreSQL. Stored, so that checking a trigram index's candidates
    # reads it instead of folding each contact's text again (651 contacts: 7.4–8.6 → 1.5 ms).
    search_text = models.GeneratedField(
        expression=folded(
            Concat(F("name"), Value(" "), F("profile_name"), Value(" "), F("email"), output_field=TextField())
        ),
        output_field=TextField(),
        db_persist=True,
    )

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "wa_id"], condition=~Q(wa_id=""), name="crm_contact_unique_wa_id"
            ),
            models.UniqueConstraint(
                fields=["tenant", "phone"], condition=~Q(phone=""), name="crm_contact_unique_phone"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="crm_contact_tenant_created"),
            # The contact search's trigram indexes start with the tenant (btree_gin): migrations
            # 0005 and 0008 (SQL only). 0007 dropped the tenant-less ones, which every search
            # passed over and every new contact paid for.
        ]

    def __str__(self) -> str:
        return self.name or self.profile_name or (f"+{self.phone}" if self.phone else self.wa_id)

    @property
    def display_name(self) -> str:
        return str(self)


class ContactImport(TenantOwned):
    """A CSV import of contacts, processed by a task; its progress is visible while it runs."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    file = models.FileField(_("file"), upload_to="contact-imports/")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("processed rows"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    errors = models.JSONField(_("errors by row"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact import")
        verbose_name_plural = _("contact imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.get_status_display()})"


# --- Sales: pipelines, stages, deals, activities ----------------------------------------------


class Pipeline(TenantOwned):
    """A sales funnel: ordered stages a deal moves through. One per tenant is the default (created
    with the tenant), where deals land when no stage is given."""

    name = models.CharField(_("name"), max_length=120)
    is_default = models.BooleanField(_("default"), default=False)
    order = models.PositiveIntegerField(_("order"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=Q(is_default=True), name="crm_pipeline_one_default"),
        ]

    def __str__(self) -> str:
        return self.name


class Stage(TenantOwned):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages", verbose_name=_("pipeline"))
    name = models.CharField(_("name"), max_length=120)
    order = models.PositiveIntegerField(_("order"), default=0)
    color = models.CharField(_("color"), max_length=7, default="#64748b")
    probability = models.PositiveSmallIntegerField(_("win probability (%)"), default=0)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline_id", "order", "id"]
        indexes = [models.Index(fields=["tenant", "pipeline", "order"], name="crm_stage_pipeline_order")]

    def __str__(self) -> str:
        return self.name


class DealLabel(TenantOwned):
    """A label for deals ("hot", "enterprise"), apart from contact tags: sellers label deals
    without changing how contacts are segmented for campaigns."""

    name = models.CharField(_("name"), max_length=60)
    color = models.CharField(_("color"), max_length=7, default="#64748b")

    class Meta:
        verbose_name = _("deal label")
        verbose_name_plural = _("deal labels")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="crm_deallabel_unique_name")]

    def __str__(self) -> str:
        return self.name


class Deal(TenantOwned):
    """A sale in progress (a lead until it is qualified — the stage says which). The pipeline is
    the stage's."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    title = models.CharField(_("title"), max_length=200)
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="deals", verbose_name=_("contact")
    )
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals", verbose_name=_("stage"))
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(_("currency"), max_length=3, default="BRL")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("owner"),
    )  # fmt: skip
    source = models.CharField(_("source"), max_length=60, blank=True)
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    lost_reason = models.CharField(_("lost reason"), max_length=300, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    labels = models.ManyToManyField(DealLabel, related_name="deals", blank=True, verbose_name=_("labels"))
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    # BANT qualification
    budget = models.DecimalField(_("budget"), max_digits=14, decimal_places=2, null=True, blank=True)
    authority = models.CharField(_("authority (decision maker)"), max_length=200, blank=True)
    need = models.TextField(_("need"), blank=True)
    timeline = models.CharField(_("timeline"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "stage", "status"], name="crm_deal_stage_status"),
            models.Index(fields=["tenant", "contact"], name="crm_deal_contact"),
            models.Index(fields=["tenant", "owner", "status"], name="crm_deal_owner_status"),
        ]

    def __str__(self) -> str:
        return self.title


class DealActivity(TenantOwned):
    """One entry of a deal's timeline. Notes, calls and meetings are written by people; the others
    are recorded by the services when the deal changes."""

    class Type(models.TextChoices):
        NOTE = "note", _("Note")
        CALL = "call", _("Call")
        MEETING = "meeting", _("Meeting")
        CREATED = "created", _("Created")
        STAGE_CHANGE = "stage_change", _("Stage change")
        STATUS_CHANGE = "status_change", _("Status change")

    MANUAL_TYPES = (Type.NOTE, Type.CALL, Type.MEETING)

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="activities", verbose_name=_("deal"))
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    text = models.TextField(_("text"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("by"),
    )  # fmt: skip
    occurred_at = models.DateTimeField(_("when"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("deal activity")
        verbose_name_plural = _("deal activities")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["tenant", "deal", "occurred_at"], name="crm_activity_deal_time")]

    def __str__(self) -> str:
        return f"{self.get_type_display()} #{self.pk}"


# --- Agenda: tasks and meetings ---------------------------------------------------------------


class Task(TenantOwned):
    """Something a member must do by a time, optionally about a contact, deal or ticket. Its
    assignee is reminded once, at `remind_at` (the due time unless given)."""

    title = models.CharField(_("title"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    due_at = models.DateTimeField(_("due at"))
    remind_at = models.DateTimeField(_("remind at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True, editable=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("assignee"),
    )  # fmt: skip
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="tasks", verbose_name=_("contact")
    )
    deal = models.ForeignKey(
        Deal, on_delete=models.CASCADE, null=True, blank=True, related_name="tasks", verbose_name=_("deal")
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        verbose_name=_("ticket"),
    )  # fmt: skip
    done = models.BooleanField(_("done"), default=False)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["done", "due_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "assignee", "done", "due_at"], name="crm_task_assignee_due"),
            models.Index(
                fields=["tenant", "remind_at"], condition=Q(done=False, reminded_at=None), name="crm_task_reminder_due"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Meeting(TenantOwned):
    """A meeting with a contact. The contact is reminded over WhatsApp `remind_minutes_before`
    the start (once) and told when it is cancelled or moved; a message that cannot be sent leaves
    its reason in `failure_code`/`failure_detail`."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")

    title = models.CharField(_("title"), max_length=200)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="meetings", verbose_name=_("contact"))
    deal = models.ForeignKey(
        Deal, on_delete=models.SET_NULL, null=True, blank=True, related_name="meetings", verbose_name=_("deal")
    )
    organizer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("organizer"),
    )  # fmt: skip
    starts_at = models.DateTimeField(_("starts at"))
    duration_minutes = models.PositiveIntegerField(_("duration (minutes)"), default=30)
    location = models.CharField(_("location or link"), max_length=500, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    remind_minutes_before = models.PositiveIntegerField(_("remind the contact (minutes before)"), default=60)
    reminder_sent_at = models.DateTimeField(_("reminder sent at"), null=True, blank=True, editable=False)
    failure_code = models.CharField(_("last failure"), max_length=40, blank=True, editable=False)
    failure_detail = models.CharField(_("last failure detail"), max_length=300, blank=True, editable=False)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "starts_at"], name="crm_meeting_starts"),
            models.Index(
                fields=["tenant", "starts_at"],
                condition=Q(status="scheduled", reminder_sent_at=None),
                name="crm_meeting_reminder_due",
            ),
        ]

    def __str__(self) -> str:
        return self.title


# --- Escalations ------------------------------------------------------------------------------


class Escalation(TenantOwned):
    """An agent asks the supervisors for help with a ticket. It is offered to the least busy
    supervisor (`assigned_to`); any supervisor may take it; it ends resolved, with a note."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        TAKEN = "taken", _("Taken")
        RESOLVED = "resolved", _("Resolved")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    ACTIVE_STATUSES = (Status.OPEN, Status.TAKEN)

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="escalations", verbose_name=_("ticket")
    )
    reason = models.TextField(_("reason"))
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("raised by"),
    )  # fmt: skip
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("supervisor"),
    )  # fmt: skip
    taken_at = models.DateTimeField(_("taken at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("resolved by"),
    )  # fmt: skip
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution_note = models.TextField(_("resolution note"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(status__in=["open", "taken"]), name="crm_escalation_one_active"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status", "assigned_to"], name="crm_escalation_status")]

    def __str__(self) -> str:
        return f"escalation #{self.pk}"
