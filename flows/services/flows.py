"""Flows and their versions: create, edit, validate, publish, roll back."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, User
from flows import schema, selectors
from flows.exceptions import FlowInvalid, FlowNameTaken, FlowNotPublished, NoEarlierVersion
from flows.models import Flow, FlowRun, FlowVersion
from tenants.models import Tenant
from tickets.models import Queue, Ticket

EMPTY_GRAPH = {
    "nodes": [{"id": "start", "type": "start", "data": {}, "position": {"x": 40, "y": 40}}],
    "edges": [],
}


# --- flows and versions --------------------------------------------------------------------------

FLOW_FIELDS = {"name", "description", "trigger_type", "trigger_config", "priority", "is_active"}


def _ids(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, int) and not isinstance(item, bool) for item in value)


def trigger_config_clean(*, trigger_type: str, config: Any) -> dict:
    """The trigger's settings, checked (FlowInvalid with `fields={"trigger_config": {key: [..]}}`)."""
    import re

    if not isinstance(config, dict):
        raise FlowInvalid(fields={"trigger_config": [_("Must be an object.")]})
    errors: dict[str, list[str]] = {}
    allowed = {"connections"} | {
        Flow.Trigger.NEW_TICKET: {"queues"},
        Flow.Trigger.KEYWORD: {"keywords", "match"},
        Flow.Trigger.QUEUE_MENU_OPTION: {"queues"},
        Flow.Trigger.CAMPAIGN_REPLY: {"campaigns"},
        Flow.Trigger.INACTIVITY: {"minutes"},
    }.get(trigger_type, set())
    for key in config.keys() - allowed:
        errors[key] = [_("Not a setting of this trigger.")]
    for key in ("connections", "queues", "campaigns"):
        if key in config and not _ids(config[key]):
            errors[key] = [_("Must be a list of ids.")]
    if trigger_type == Flow.Trigger.KEYWORD:
        keywords = config.get("keywords")
        if (
            not isinstance(keywords, list)
            or not keywords
            or not all(isinstance(k, str) and k.strip() for k in keywords)
        ):
            errors["keywords"] = [_("Give at least one keyword.")]
        elif config.get("match", "exact") == "regex":
            for keyword in keywords:
                try:
                    re.compile(keyword)
                except re.error as exc:
                    errors["keywords"] = [_("Not a valid regular expression: %(error)s") % {"error": exc}]
        if config.get("match", "exact") not in ("exact", "contains", "regex"):
            errors["match"] = [_("Must be exact, contains or regex.")]
    if trigger_type == Flow.Trigger.INACTIVITY:
        minutes = config.get("minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 60 * 24 * 30:
            errors["minutes"] = [_("Must be a number of minutes between 1 and 43200.")]
    if errors:
        raise FlowInvalid(fields={"trigger_config": errors})
    return config


def _ensure_name_free(*, tenant: Tenant, name: str, exclude_id: int | None = None) -> None:
    if Flow.objects.filter(tenant=tenant, name__iexact=name.strip()).exclude(pk=exclude_id).exists():
        raise FlowNameTaken(fields={"name": [str(FlowNameTaken.default_detail)]})


def flow_create(*, tenant: Tenant, actor: User | None, graph: dict | None = None, **values: Any) -> Flow:
    unknown = values.keys() - FLOW_FIELDS
    if unknown:
        raise TypeError(f"flow_create() got unexpected fields {sorted(unknown)}")
    values["trigger_config"] = trigger_config_clean(
        trigger_type=values.get("trigger_type", Flow.Trigger.MANUAL), config=values.get("trigger_config") or {}
    )
    if values.get("is_active"):
        raise FlowNotPublished()
    _ensure_name_free(tenant=tenant, name=values.get("name", ""))
    with transaction.atomic():
        flow = Flow.objects.create(tenant=tenant, **values)
        FlowVersion.objects.create(
            tenant=tenant, flow=flow, number=1, graph=graph if graph is not None else EMPTY_GRAPH, created_by=actor
        )
    return flow


def flow_update(*, flow: Flow, **changes: Any) -> Flow:
    unknown = changes.keys() - FLOW_FIELDS
    if unknown:
        raise TypeError(f"flow_update() got unexpected fields {sorted(unknown)}")
    if "name" in changes and changes["name"] != flow.name:
        _ensure_name_free(tenant=flow.tenant, name=changes["name"], exclude_id=flow.pk)
    for field, value in changes.items():
        setattr(flow, field, value)
    if "trigger_type" in changes or "trigger_config" in changes:
        flow.trigger_config = trigger_config_clean(trigger_type=flow.trigger_type, config=flow.trigger_config)
    if flow.is_active and flow.published_version_id is None:
        raise FlowNotPublished()
    flow.save()
    return flow


def flow_delete(*, flow: Flow) -> None:
    """Deletes the flow, its versions and runs; tickets it was talking to go back to people."""
    with transaction.atomic():
        active = FlowRun.objects.filter(flow=flow, status__in=FlowRun.ACTIVE).values_list("ticket_id", flat=True)
        Ticket.objects.filter(pk__in=list(active)).update(is_bot=False, updated_at=timezone.now())
        flow.delete()


def flow_version_save(*, flow: Flow, graph: dict, actor: User | None) -> FlowVersion:
    """Stores an edited graph: the latest version while it is a draft, else a new draft version.
    Drafts may be invalid (the editor saves work in progress); publishing validates."""
    if not isinstance(graph, dict):
        raise FlowInvalid(fields={"graph": {"graph": [_("A graph is an object with nodes and edges.")]}})
    with transaction.atomic():
        Flow.objects.select_for_update().filter(pk=flow.pk).exists()  # versions are numbered in turn
        latest = flow.versions.order_by("-number").first()
        if latest is not None and latest.published_at is None:
            latest.graph = graph
            latest.created_by = actor
            latest.save(update_fields=["graph", "created_by"])
            return latest
        number = (latest.number if latest else 0) + 1
        return FlowVersion.objects.create(tenant=flow.tenant, flow=flow, number=number, graph=graph, created_by=actor)


def flow_validate(*, flow: Flow, graph: Any) -> dict[str, list[str]]:
    """Errors per node id (see flows.schema) plus the references the schema cannot check: the
    flows, queues and people a node names must exist in the flow's tenant."""
    errors = schema.graph_validate(graph)
    if errors.get(schema.GRAPH_ERRORS) and not isinstance(graph, dict):
        return errors
    nodes = [node for node in (graph or {}).get("nodes", []) if isinstance(node, dict)]
    flow_ids, queue_ids, user_ids = set(), set(), set()
    for node in nodes:
        data = node.get("data") if isinstance(node.get("data"), dict) else {}
        if node.get("type") == "go_to_flow" and isinstance(data.get("flow_id"), int):
            flow_ids.add(data["flow_id"])
        if node.get("type") == "handoff":
            if isinstance(data.get("queue_id"), int):
                queue_ids.add(data["queue_id"])
            if isinstance(data.get("user_id"), int):
                user_ids.add(data["user_id"])
    known_flows = set(Flow.objects.filter(pk__in=flow_ids).values_list("pk", flat=True)) if flow_ids else set()
    known_queues = set(Queue.objects.filter(pk__in=queue_ids).values_list("pk", flat=True)) if queue_ids else set()
    known_users = (
        set(
            Membership.objects.filter(tenant=flow.tenant, user_id__in=user_ids, is_active=True).values_list(
                "user_id", flat=True
            )
        )
        if user_ids
        else set()
    )
    for node in nodes:
        data = node.get("data") if isinstance(node.get("data"), dict) else {}
        node_id = str(node.get("id"))
        if node.get("type") == "go_to_flow" and data.get("flow_id") is not None:
            if data["flow_id"] not in known_flows:
                errors.setdefault(node_id, []).append(_("The flow %(id)s does not exist.") % {"id": data["flow_id"]})
        if node.get("type") == "handoff":
            if data.get("queue_id") is not None and data["queue_id"] not in known_queues:
                errors.setdefault(node_id, []).append(_("The queue %(id)s does not exist.") % {"id": data["queue_id"]})
            if data.get("user_id") is not None and data["user_id"] not in known_users:
                errors.setdefault(node_id, []).append(
                    _("The user %(id)s is not an active member.") % {"id": data["user_id"]}
                )
    return errors


def flow_publish(*, flow: Flow, number: int | None = None) -> FlowVersion:
    """Publishes a version (the latest by default) once its graph is valid: new runs use it; runs
    already going finish on the version they started with."""
    with transaction.atomic():
        locked = Flow.objects.select_for_update().get(pk=flow.pk)
        version = selectors.flow_version_get(flow=locked, number=number)
        errors = flow_validate(flow=locked, graph=version.graph)
        if errors:
            raise FlowInvalid(fields={"graph": errors})
        if version.published_at is None:
            version.published_at = timezone.now()
            version.save(update_fields=["published_at"])
        locked.published_version = version
        locked.save(update_fields=["published_version", "updated_at"])
    flow.published_version = version
    return version


def flow_rollback(*, flow: Flow, number: int | None = None) -> FlowVersion:
    """Publishes an earlier published version again: `number`, or the one published before the
    current one."""
    with transaction.atomic():
        locked = Flow.objects.select_for_update(of=("self",)).select_related("published_version").get(pk=flow.pk)
        published = locked.versions.filter(published_at__isnull=False)
        if number is not None:
            version = published.filter(number=number).first()
        else:
            current = locked.published_version.number if locked.published_version else None
            earlier = published.filter(number__lt=current) if current is not None else published.none()
            version = earlier.order_by("-number").first()
        if version is None:
            raise NoEarlierVersion()
        locked.published_version = version
        locked.save(update_fields=["published_version", "updated_at"])
    flow.published_version = version
    return version
