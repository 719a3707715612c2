"""Writes of the sales pipeline: pipelines and their stages, deal labels, deals and their timeline.

Every change of a deal's stage or status records a `DealActivity` in the same transaction, so the
timeline is never out of step with the deal, and is announced (`deal.created` / `deal.updated`)
after commit.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Membership, User
from crm import events
from crm.exceptions import (
    DealClosed,
    DealLabelExists,
    DealNotClosed,
    DefaultPipelineRequired,
    InvalidActivityType,
    InvalidReference,
    LostReasonRequired,
    PipelineInUse,
)
from crm.models import Contact, Deal, DealActivity, DealLabel, Pipeline, Stage
from tenants.models import Tenant

ActivityType = DealActivity.Type

DEFAULT_STAGE_COLORS = ["#64748b", "#0ea5e9", "#f59e0b", "#8b5cf6"]

DEAL_FIELDS = frozenset(
    {
        "title", "contact", "stage", "value", "currency", "owner", "source", "expected_close_date", "labels",
        "custom_fields", "budget", "authority", "need", "timeline",
    }
)  # fmt: skip


def _default_stage_names() -> list[str]:
    return [_("New"), _("Qualified"), _("Proposal"), _("Negotiation")]


# --- Pipelines and stages -----------------------------------------------------------------------


def pipeline_default_get_or_create(*, tenant: Tenant) -> Pipeline:
    """The tenant's default pipeline, created with its standard stages (in the tenant's language)
    the first time it is needed. Safe against two callers at once (one default per tenant)."""
    pipeline = Pipeline.objects.filter(tenant=tenant, is_default=True).first()
    if pipeline is not None:
        return pipeline
    with translation.override(tenant.language):
        name, stages = _("Sales pipeline"), _default_stage_names()
    try:
        with transaction.atomic():
            pipeline = Pipeline.objects.create(tenant=tenant, name=name, is_default=True)
            Stage.objects.bulk_create(
                Stage(tenant=tenant, pipeline=pipeline, name=stage, order=order, color=color)
                for order, (stage, color) in enumerate(zip(stages, DEFAULT_STAGE_COLORS, strict=True))
            )
    except IntegrityError:  # created meanwhile by someone else
        pipeline = Pipeline.objects.get(tenant=tenant, is_default=True)
    return pipeline


@transaction.atomic
def pipeline_create(*, tenant: Tenant, name: str, order: int = 0, stages: list[str] | None = None) -> Pipeline:
    pipeline = Pipeline.objects.create(tenant=tenant, name=name.strip(), order=order)
    for position, stage in enumerate(stages or []):
        Stage.objects.create(tenant=tenant, pipeline=pipeline, name=stage.strip(), order=position)
    return pipeline


@transaction.atomic
def pipeline_update(*, pipeline: Pipeline, **changes: Any) -> Pipeline:
    for field in ("name", "order"):
        if field in changes:
            setattr(pipeline, field, changes[field])
    if changes.get("is_default") and not pipeline.is_default:
        Pipeline.objects.filter(tenant_id=pipeline.tenant_id, is_default=True).update(is_default=False)
        pipeline.is_default = True
    pipeline.save()
    return pipeline


@transaction.atomic
def pipeline_delete(*, pipeline: Pipeline) -> None:
    if pipeline.is_default:
        raise DefaultPipelineRequired()
    if Deal.objects.filter(stage__pipeline=pipeline).exists():
        raise PipelineInUse()
    pipeline.delete()


@transaction.atomic
def stage_create(
    *, pipeline: Pipeline, name: str, order: int | None = None, color: str | None = None, probability: int = 0
) -> Stage:
    if order is None:
        order = (Stage.objects.filter(pipeline=pipeline).aggregate(last=Max("order"))["last"] or -1) + 1
    stage = Stage(tenant_id=pipeline.tenant_id, pipeline=pipeline, name=name.strip(), order=order)
    stage.probability = probability
    if color:
        stage.color = color
    stage.save()
    return stage


@transaction.atomic
def stage_update(*, stage: Stage, **changes: Any) -> Stage:
    for field in ("name", "order", "color", "probability", "pipeline"):
        if field in changes and changes[field] is not None:
            setattr(stage, field, changes[field])
    stage.save()
    return stage


@transaction.atomic
def stage_delete(*, stage: Stage) -> None:
    try:
        stage.delete()
    except ProtectedError:
        raise PipelineInUse() from None


# --- Labels -------------------------------------------------------------------------------------


def _label_save(label: DealLabel) -> DealLabel:
    label.name = label.name.strip()
    clash = DealLabel.objects.filter(tenant_id=label.tenant_id, name__iexact=label.name).exclude(pk=label.pk)
    if clash.exists():
        raise DealLabelExists(fields={"name": [str(DealLabelExists.default_detail)]})
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError:
        raise DealLabelExists(fields={"name": [str(DealLabelExists.default_detail)]}) from None
    return label


def deal_label_create(*, tenant: Tenant, name: str, color: str | None = None) -> DealLabel:
    label = DealLabel(tenant=tenant, name=name)
    if color:
        label.color = color
    return _label_save(label)


def deal_label_update(*, label: DealLabel, **changes: Any) -> DealLabel:
    for field in ("name", "color"):
        if field in changes:
            setattr(label, field, changes[field])
    return _label_save(label)


def deal_label_delete(*, label: DealLabel) -> None:
    label.delete()


# --- Deals --------------------------------------------------------------------------------------


def member_check(*, tenant: Tenant, user: User | None, field: str) -> User | None:
    """`user` must be an active member of the tenant (None passes: nobody)."""
    if user is None:
        return None
    if not Membership.objects.filter(tenant=tenant, user=user, is_active=True).exists():
        raise InvalidReference(fields={field: [_("Not a member of this workspace.")]})
    return user


def _record(deal: Deal, type_: str, actor: User | None, text: str = "", **data) -> DealActivity:
    return DealActivity.objects.create(
        tenant_id=deal.tenant_id, deal=deal, type=type_, actor=actor, text=text, data=data, occurred_at=timezone.now()
    )


def _refreshed(deal: Deal) -> Deal:
    from crm.selectors_sales import deal_list

    return deal_list(tenant=deal.tenant).get(pk=deal.pk)


def _announce(deal: Deal, event_type: str) -> Deal:
    deal = _refreshed(deal)
    events.deal_event(deal, event_type)
    return deal


def _stage_from(tenant: Tenant, stage: Stage | None) -> Stage:
    if stage is not None:
        return stage
    pipeline = pipeline_default_get_or_create(tenant=tenant)
    first = Stage.objects.filter(pipeline=pipeline).order_by("order", "id").first()
    if first is None:
        first = stage_create(pipeline=pipeline, name=_("New"))
    return first


def deal_create(
    *,
    tenant: Tenant,
    actor: User | None,
    title: str,
    stage: Stage | None = None,
    contact: Contact | None = None,
    owner: User | None = None,
    value: Decimal | int = 0,
    currency: str = "BRL",
    source: str = "",
    expected_close_date: date | None = None,
    labels: list[DealLabel] | None = None,
    custom_fields: dict | None = None,
    budget: Decimal | None = None,
    authority: str = "",
    need: str = "",
    timeline: str = "",
) -> Deal:
    """A new open deal, in `stage` or the first stage of the default pipeline; the owner defaults
    to whoever creates it."""
    member_check(tenant=tenant, user=owner, field="owner")
    with transaction.atomic():
        deal = Deal.objects.create(
            tenant=tenant,
            title=title.strip(),
            stage=_stage_from(tenant, stage),
            contact=contact,
            owner=owner if owner is not None else actor,
            value=value,
            currency=currency.upper(),
            source=source,
            expected_close_date=expected_close_date,
            custom_fields=custom_fields or {},
            budget=budget,
            authority=authority,
            need=need,
            timeline=timeline,
            created_by=actor,
        )
        if labels:
            deal.labels.set(labels)
        _record(deal, ActivityType.CREATED, actor, stage_id=deal.stage_id, stage=deal.stage.name)
        return _announce(deal, "deal.created")


def _move(deal: Deal, stage: Stage, actor: User | None) -> bool:
    if stage.pk == deal.stage_id:
        return False
    if deal.status != Deal.Status.OPEN:
        raise DealClosed()
    previous = deal.stage
    deal.stage = stage
    _record(
        deal,
        ActivityType.STAGE_CHANGE,
        actor,
        from_stage_id=previous.pk,
        from_stage=previous.name,
        to_stage_id=stage.pk,
        to_stage=stage.name,
    )
    return True


def _locked(deal: Deal) -> Deal:
    return Deal.objects.select_for_update(of=("self",)).select_related("stage").get(pk=deal.pk)


def deal_update(*, deal: Deal, actor: User | None, **changes: Any) -> Deal:
    """Changes any of DEAL_FIELDS; a new stage is a move (recorded on the timeline); `labels`
    replaces the labels."""
    unknown = set(changes) - DEAL_FIELDS
    if unknown:
        raise TypeError(f"unknown deal fields: {sorted(unknown)}")
    if "owner" in changes:
        member_check(tenant=deal.tenant, user=changes["owner"], field="owner")
    with transaction.atomic():
        deal = _locked(deal)
        if "stage" in changes:
            _move(deal, changes.pop("stage"), actor)
        labels = changes.pop("labels", None)
        if "currency" in changes:
            changes["currency"] = changes["currency"].upper()
        for field, value in changes.items():
            setattr(deal, field, value)
        deal.save()
        if labels is not None:
            deal.labels.set(labels)
        return _announce(deal, "deal.updated")


def deal_move(*, deal: Deal, stage: Stage, actor: User | None) -> Deal:
    """The board's drag and drop: the deal goes to `stage` (of any pipeline)."""
    with transaction.atomic():
        deal = _locked(deal)
        if not _move(deal, stage, actor):
            return _refreshed(deal)
        deal.save(update_fields=["stage", "updated_at"])
        return _announce(deal, "deal.updated")


def _close(deal: Deal, status: str, actor: User | None, reason: str = "") -> Deal:
    with transaction.atomic():
        deal = _locked(deal)
        if deal.status != Deal.Status.OPEN:
            raise DealClosed()
        deal.status, deal.lost_reason, deal.closed_at = status, reason, timezone.now()
        deal.save(update_fields=["status", "lost_reason", "closed_at", "updated_at"])
        _record(deal, ActivityType.STATUS_CHANGE, actor, reason, from_status=Deal.Status.OPEN, to_status=status)
        return _announce(deal, "deal.updated")


def deal_win(*, deal: Deal, actor: User | None) -> Deal:
    return _close(deal, Deal.Status.WON, actor)


def deal_lose(*, deal: Deal, actor: User | None, reason: str) -> Deal:
    reason = (reason or "").strip()
    if not reason:
        raise LostReasonRequired(fields={"reason": [str(LostReasonRequired.default_detail)]})
    return _close(deal, Deal.Status.LOST, actor, reason)


def deal_reopen(*, deal: Deal, actor: User | None) -> Deal:
    with transaction.atomic():
        deal = _locked(deal)
        if deal.status == Deal.Status.OPEN:
            raise DealNotClosed()
        previous = deal.status
        deal.status, deal.lost_reason, deal.closed_at = Deal.Status.OPEN, "", None
        deal.save(update_fields=["status", "lost_reason", "closed_at", "updated_at"])
        _record(deal, ActivityType.STATUS_CHANGE, actor, from_status=previous, to_status=Deal.Status.OPEN)
        return _announce(deal, "deal.updated")


@transaction.atomic
def deal_delete(*, deal: Deal) -> None:
    events.deal_deleted(deal)
    deal.delete()


@transaction.atomic
def activity_add(
    *, deal: Deal, actor: User | None, type: str, text: str = "", occurred_at=None, data: dict | None = None
) -> DealActivity:
    """A note, call or meeting written on the deal's timeline by a person."""
    if type not in DealActivity.MANUAL_TYPES:
        raise InvalidActivityType(fields={"type": [str(InvalidActivityType.default_detail)]})
    activity = DealActivity.objects.create(
        tenant_id=deal.tenant_id,
        deal=deal,
        type=type,
        text=text.strip(),
        data=data or {},
        actor=actor,
        occurred_at=occurred_at or timezone.now(),
    )
    Deal.objects.filter(pk=deal.pk).update(updated_at=timezone.now())
    return activity
