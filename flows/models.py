"""Flows: versioned bot graphs, their runs on tickets and the trace of every executed node.

A `Flow` says when it starts (its trigger); what it does is the graph of its published
`FlowVersion`. A `FlowRun` is one flow's conversation with one ticket and holds everything the
engine needs to continue after a restart or on another worker: the current node, the variables,
the retry counter, the timer and the id of the last customer message it consumed.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.models import TenantOwned


class Flow(TenantOwned):
    class Trigger(models.TextChoices):
        NEW_TICKET = "new_ticket", _("New ticket (on a connection or queue)")
        KEYWORD = "keyword", _("Keyword")
        QUEUE_MENU_OPTION = "queue_menu_option", _("Queue menu option")
        CAMPAIGN_REPLY = "campaign_reply", _("Reply to a campaign")
        INACTIVITY = "inactivity", _("Customer inactivity")
        MANUAL = "manual", _("Only from another flow")

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    trigger_type = models.CharField(_("trigger"), max_length=24, choices=Trigger.choices, default=Trigger.MANUAL)
    # Per trigger: new_ticket {"connections": [ids], "queues": [ids]} · keyword {"keywords": [...],
    # "match": "exact|contains|regex"} · queue_menu_option {"queues": [ids]} · campaign_reply
    # {"campaigns": [ids]} · inactivity {"minutes": N}. Empty lists mean "any". See docs/FLOWS.md.
    trigger_config = models.JSONField(_("trigger settings"), default=dict, blank=True)
    # Lower runs first when several flows' triggers match the same message.
    priority = models.PositiveIntegerField(_("priority"), default=100)
    is_active = models.BooleanField(_("active"), default=False)
    published_version = models.ForeignKey(
        "FlowVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("published version"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("flow")
        verbose_name_plural = _("flows")
        ordering = ["priority", "name", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="flows_flow_unique_name")]
        indexes = [models.Index(fields=["tenant", "is_active", "trigger_type"], name="flows_flow_trigger")]

    def __str__(self) -> str:
        return self.name


class FlowVersion(TenantOwned):
    """One saved graph of a flow. Versions are immutable once published; editing makes a new draft."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions", verbose_name=_("flow"))
    number = models.PositiveIntegerField(_("number"))
    graph = models.JSONField(_("graph"), default=dict)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("flow version")
        verbose_name_plural = _("flow versions")
        ordering = ["flow", "-number"]
        constraints = [models.UniqueConstraint(fields=["flow", "number"], name="flows_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.flow} v{self.number}"


class FlowRun(TenantOwned):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        WAITING = "waiting", _("Waiting")
        FINISHED = "finished", _("Finished")
        HANDED_OVER = "handed_over", _("Handed over to a person")
        FAILED = "failed", _("Failed")

    class Awaiting(models.TextChoices):
        NOTHING = "", _("Nothing")
        INPUT = "input", _("The customer's answer")
        TIMER = "timer", _("A timer")

    ACTIVE = (Status.RUNNING, Status.WAITING)

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="flow_runs", verbose_name=_("ticket")
    )
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="runs", verbose_name=_("flow"))
    flow_version = models.ForeignKey(
        FlowVersion, on_delete=models.RESTRICT, related_name="runs", verbose_name=_("flow version")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    awaiting = models.CharField(_("waiting for"), max_length=8, choices=Awaiting.choices, blank=True)
    current_node = models.CharField(_("current node"), max_length=64, blank=True)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    retries = models.PositiveSmallIntegerField(_("retries at the current node"), default=0)
    wait_until = models.DateTimeField(_("wait until"), null=True, blank=True)
    step_count = models.PositiveIntegerField(_("steps executed"), default=0)
    # The id of the latest customer message this run consumed: each one is processed exactly once.
    last_message_id = models.BigIntegerField(_("last message processed"), default=0)
    trigger = models.CharField(_("trigger"), max_length=24, blank=True)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("flow run")
        verbose_name_plural = _("flow runs")
        ordering = ["-started_at", "-id"]
        constraints = [
            # A ticket talks to one flow at a time.
            models.UniqueConstraint(
                fields=["ticket"],
                condition=Q(status__in=["running", "waiting"]),
                name="flows_run_one_active_per_ticket",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "ticket", "-started_at"], name="flows_run_ticket"),
            models.Index(
                fields=["wait_until"], condition=Q(status="waiting", awaiting="timer"), name="flows_run_timer_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.flow} on ticket {self.ticket_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class FlowTrace(TenantOwned):
    """One executed node of a run: what went in, what came out (summaries, never secrets)."""

    run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="traces", verbose_name=_("run"))
    node_id = models.CharField(_("node"), max_length=64)
    node_type = models.CharField(_("node type"), max_length=32)
    input = models.JSONField(_("input"), default=dict, blank=True)
    output = models.JSONField(_("output"), default=dict, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("flow trace")
        verbose_name_plural = _("flow traces")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["tenant", "run", "at"], name="flows_trace_run")]

    def __str__(self) -> str:
        return f"{self.node_type} {self.node_id}"
