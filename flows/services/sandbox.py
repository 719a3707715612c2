"""The test console: a simulated customer plays a flow; nothing is sent or stored."""

from __future__ import annotations

import random
from datetime import datetime

from django.utils import timezone, translation

from flows import selectors
from flows.engine import Effects, Engine, Inbound
from flows.exceptions import VersionNotFound
from flows.models import Flow, FlowRun, FlowVersion
from tenants.hours import is_open
from tenants.models import Tenant

# --- the sandbox (test console) ------------------------------------------------------------------


class SandboxEffects(Effects):
    """A simulated customer: nothing is sent or written; what the flow would do is recorded."""

    def __init__(self, *, tenant: Tenant, contact: dict | None = None):
        contact = contact or {}
        self.tenant = tenant
        self.contact = {
            "name": contact.get("name", ""),
            "phone": contact.get("phone", ""),
            "email": contact.get("email", ""),
            "fields": dict(contact.get("fields") or {}),
        }
        self.tags = {str(tag).lower() for tag in contact.get("tags") or []}
        self.ticket_info = {"protocol": 0, "queue": ""}
        self.supports_interactive = bool(contact.get("interactive", False))
        self.replies: list[dict] = []
        self.traces: list[dict] = []

    def send(self, **content):
        self.replies.append({"type": "message", **{key: value for key, value in content.items() if value}})

    def can_send_freeform(self):
        return True

    def contact_set(self, *, target, name, value):
        self.replies.append({"type": "contact_set", "target": target, "name": name, "value": value})

    def tag(self, *, name, add):
        self.replies.append({"type": "tag", "name": name, "action": "add" if add else "remove"})

    def handoff(self, *, queue_id, user_id):
        self.replies.append({"type": "handoff", "queue_id": queue_id, "user_id": user_id})

    def close(self, *, send_farewell):
        self.replies.append({"type": "close"})

    def release(self):
        pass

    def schedule_timer(self, *, at):
        self.replies.append({"type": "wait", "until": at.isoformat()})

    def business_hours_open(self, *, at):
        return is_open(self.tenant.business_hours, self.tenant.timezone, at)

    def flow_version(self, *, flow_id):
        return selectors.flow_published_version(flow_id=flow_id)

    def trace(self, **fields):
        self.traces.append(fields)


def flow_test(
    *,
    flow: Flow,
    state: dict | None = None,
    text: str | None = None,
    reply_id: str = "",
    fire_timer: bool = False,
    contact: dict | None = None,
    number: int | None = None,
    seed: int | None = None,
) -> dict:
    """One turn of the test console: no `state` starts a run of version `number` (the latest by
    default), `text` is what the simulated customer writes, `fire_timer` ends a wait at once.
    Returns the bot's replies, the trace and the `state` to send with the next turn."""
    state = state or {}
    now = timezone.now()
    if state.get("flow_version"):
        version = FlowVersion.objects.select_related("flow").filter(pk=state["flow_version"]).first()
        if version is None:
            raise VersionNotFound()
    else:
        version = selectors.flow_version_get(flow=flow, number=number)
    run = FlowRun(
        tenant=flow.tenant,
        flow=version.flow,
        flow_version=version,
        status=state.get("status", FlowRun.Status.RUNNING),
        awaiting=state.get("awaiting", ""),
        current_node=state.get("current_node", ""),
        variables=dict(state.get("variables") or {}),
        retries=int(state.get("retries") or 0),
        started_at=now,
    )
    if state.get("wait_until"):
        run.wait_until = datetime.fromisoformat(state["wait_until"])
    effects = SandboxEffects(tenant=flow.tenant, contact=contact)
    engine = Engine(run=run, effects=effects, now=now, rng=random.Random(seed) if seed is not None else None)
    with translation.override(flow.tenant.language):
        if not state:
            engine.start(text=text or "")
        elif text is not None and run.is_active:
            engine.receive(Inbound(text=text, reply_id=reply_id))
        if fire_timer and run.is_active and run.awaiting == FlowRun.Awaiting.TIMER:
            engine.now = run.wait_until or now
            engine.resume_timer()
    return {
        "replies": effects.replies,
        "trace": effects.traces,
        "status": run.status,
        "state": {
            "flow_version": run.flow_version.pk,
            "status": run.status,
            "awaiting": run.awaiting,
            "current_node": run.current_node,
            "variables": run.variables,
            "retries": run.retries,
            "wait_until": run.wait_until.isoformat() if run.wait_until else None,
        },
    }
