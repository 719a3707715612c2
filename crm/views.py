"""The CRM inside the inbox: the Kanban board of deals (/inbox/crm/) and the contact panel's deals
and tasks. Server-rendered; the board moves cards with HTML5 drag and drop (static/crm/board.js)
posting to `deal_move`. Every write goes through the services."""

from __future__ import annotations

from django import forms
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from crm import selectors_sales, services_agenda, services_sales
from crm.models import Contact, Deal, Stage
from tickets.views.base import _form_error, inbox_view

DATETIME_LOCAL = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class DealForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Title"))
    value = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False, label=_("Value"))
    stage = forms.IntegerField(required=False, min_value=1)
    contact = forms.IntegerField(required=False, min_value=1)


class TaskForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Title"))
    # A datetime-local input: read in the tenant's time zone (inbox_view activates it).
    due_at = forms.DateTimeField(input_formats=DATETIME_LOCAL, label=_("Due"))


class MoveForm(forms.Form):
    stage = forms.IntegerField(min_value=1)


def _valid(form_class, request) -> dict:
    form = form_class(request.POST)
    if not form.is_valid():
        raise _form_error(form)
    return form.cleaned_data


# --- the board ------------------------------------------------------------------------------


def _board_context(request, pipeline_id=None) -> dict:
    tenant = request.tenant
    pipelines = list(selectors_sales.pipeline_list(tenant=tenant))
    if not pipelines:
        pipelines = [services_sales.pipeline_default_get_or_create(tenant=tenant)]
    pipeline = next((p for p in pipelines if str(p.pk) == str(pipeline_id)), None)
    pipeline = pipeline or next((p for p in pipelines if p.is_default), pipelines[0])
    return {
        "pipelines": pipelines,
        "pipeline": pipeline,
        "columns": selectors_sales.deal_board(tenant=tenant, pipeline=pipeline),
    }


@require_GET
@inbox_view
def board(request):
    return render(request, "crm/board.html", _board_context(request, request.GET.get("pipeline")))


@require_POST
@inbox_view
def deal_create(request):
    """A deal from the board's quick form (in the column's stage) or the contact panel."""
    data = _valid(DealForm, request)
    stage = get_object_or_404(Stage.objects.all(), pk=data["stage"]) if data.get("stage") else None
    contact = get_object_or_404(Contact.objects.all(), pk=data["contact"]) if data.get("contact") else None
    deal = services_sales.deal_create(
        tenant=request.tenant,
        actor=request.user,
        title=data["title"],
        value=data.get("value") or 0,
        stage=stage,
        contact=contact,
    )
    if contact is not None and request.POST.get("panel"):
        return _contact_panel(request, contact)
    return render(request, "crm/_deal_card.html", {"deal": deal}, status=201)


@require_POST
@inbox_view
def deal_move(request, deal_id):
    deal = get_object_or_404(Deal.objects.all(), pk=deal_id)
    stage = get_object_or_404(Stage.objects.all(), pk=_valid(MoveForm, request)["stage"])
    deal = services_sales.deal_move(deal=deal, stage=stage, actor=request.user)
    return render(request, "crm/_deal_card.html", {"deal": deal})


# --- the contact panel ----------------------------------------------------------------------


def _contact_panel(request, contact: Contact, status: int = 200):
    context = {
        "contact": contact,
        "now": timezone.now(),
        "deals": list(selectors_sales.deals_of_contact(contact=contact)[:20]),
        "tasks": list(selectors_sales.tasks_of_contact(contact=contact, user=request.user, role=request.role)[:20]),
    }
    return render(request, "crm/_contact_crm_body.html", context, status=status)


@require_GET
@inbox_view
def contact_panel(request, contact_id):
    return _contact_panel(request, get_object_or_404(Contact.objects.all(), pk=contact_id))


@require_POST
@inbox_view
def contact_task_create(request, contact_id):
    contact = get_object_or_404(Contact.objects.all(), pk=contact_id)
    data = _valid(TaskForm, request)
    services_agenda.task_create(
        tenant=request.tenant, actor=request.user, title=data["title"], due_at=data["due_at"], contact=contact
    )
    return _contact_panel(request, contact)


@require_POST
@inbox_view
def task_complete(request, task_id):
    tasks = selectors_sales.task_list_for_user(tenant=request.tenant, user=request.user, role=request.role)
    task = get_object_or_404(tasks, pk=task_id)
    services_agenda.task_complete(task=task, actor=request.user)
    if task.contact_id:
        return _contact_panel(request, task.contact)
    return render(request, "crm/_task_done.html", {"task": task})
