"""API of the sales pipeline (/api/v1/crm/…), tasks, meetings and escalations. Thin: validate,
call one service or selector, render."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.response import Response

from accounts.permissions import IsTenantMember, IsTenantStaff
from crm import selectors_sales as selectors
from crm import services_agenda, services_escalations, services_sales
from crm.api import sales_serializers as s
from crm.api.sales_filters import ActivityFilter, DealFilter, EscalationFilter, MeetingFilter, StageFilter, TaskFilter
from crm.models import Deal, DealActivity, DealLabel, Escalation, Meeting, Pipeline, Stage, Task
from tenants.context import require_current_tenant


def _role(request) -> str:
    return request.membership.role


def _valid(serializer_class, request, **context):
    serializer = serializer_class(data=request.data, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _StaffWrites:
    """Every member reads; admins and supervisors write."""

    lookup_value_regex = r"\d+"

    def get_permissions(self):
        if self.action in ("list", "retrieve"):
            return [IsTenantMember()]
        return [IsTenantStaff()]


class PipelineViewSet(_StaffWrites, viewsets.ModelViewSet):
    """Pipelines with their stages in order. `stage_names` on create makes the stages."""

    queryset = Pipeline.objects.none()
    serializer_class = s.PipelineSerializer
    filter_backends = [SearchFilter]
    search_fields = ["name"]

    def get_queryset(self):
        return selectors.pipeline_list(tenant=require_current_tenant())

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        stages = data.pop("stage_names", None)
        is_default = data.pop("is_default", False)
        pipeline = services_sales.pipeline_create(tenant=self.request.tenant, stages=stages, **data)
        if is_default:
            pipeline = services_sales.pipeline_update(pipeline=pipeline, is_default=True)
        serializer.instance = selectors.pipeline_list(tenant=self.request.tenant).get(pk=pipeline.pk)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("stage_names", None)
        pipeline = services_sales.pipeline_update(pipeline=serializer.instance, **data)
        serializer.instance = selectors.pipeline_list(tenant=self.request.tenant).get(pk=pipeline.pk)

    def perform_destroy(self, instance):
        services_sales.pipeline_delete(pipeline=instance)


class StageViewSet(_StaffWrites, viewsets.ModelViewSet):
    queryset = Stage.objects.none()
    serializer_class = s.StageSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = StageFilter

    def get_queryset(self):
        return selectors.stage_list(tenant=require_current_tenant())

    def perform_create(self, serializer):
        serializer.instance = services_sales.stage_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services_sales.stage_update(stage=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services_sales.stage_delete(stage=instance)


class DealLabelViewSet(_StaffWrites, viewsets.ModelViewSet):
    queryset = DealLabel.objects.none()
    serializer_class = s.DealLabelSerializer
    filter_backends = [SearchFilter, OrderingFilter]
    search_fields = ["name"]
    ordering_fields = ["name"]

    def get_queryset(self):
        return selectors.deal_label_list(tenant=require_current_tenant())

    def perform_create(self, serializer):
        serializer.instance = services_sales.deal_label_create(tenant=self.request.tenant, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services_sales.deal_label_update(label=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services_sales.deal_label_delete(label=instance)


class DealViewSet(viewsets.ModelViewSet):
    """Deals of the workspace (every member works them; admins and supervisors delete). Stage
    changes and won/lost are recorded on the deal's timeline (`GET …/timeline`)."""

    queryset = Deal.objects.none()
    serializer_class = s.DealSerializer
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = DealFilter
    ordering_fields = ["updated_at", "created_at", "value", "expected_close_date", "title"]
    ordering = ["-updated_at", "-id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.deal_list(tenant=require_current_tenant())

    def get_permissions(self):
        if self.action == "destroy":
            return [IsTenantStaff()]
        return [IsTenantMember()]

    def _respond(self, deal, code=status.HTTP_200_OK):
        return Response(s.DealSerializer(deal).data, status=code)

    @extend_schema(request=s.DealWriteSerializer, responses={201: s.DealSerializer})
    def create(self, request):
        data = _valid(s.DealWriteSerializer, request, creating=True)
        deal = services_sales.deal_create(tenant=request.tenant, actor=request.user, **data)
        return self._respond(deal, status.HTTP_201_CREATED)

    @extend_schema(request=s.DealWriteSerializer, responses=s.DealSerializer)
    def update(self, request, pk=None, partial=False):
        deal = self.get_object()
        data = _valid(s.DealWriteSerializer, request)
        return self._respond(services_sales.deal_update(deal=deal, actor=request.user, **data))

    @extend_schema(request=s.DealWriteSerializer, responses=s.DealSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def perform_destroy(self, instance):
        services_sales.deal_delete(deal=instance)

    @extend_schema(request=s.DealMoveSerializer, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        deal = self.get_object()
        data = _valid(s.DealMoveSerializer, request)
        return self._respond(services_sales.deal_move(deal=deal, stage=data["stage"], actor=request.user))

    @extend_schema(request=None, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def win(self, request, pk=None):
        return self._respond(services_sales.deal_win(deal=self.get_object(), actor=request.user))

    @extend_schema(request=s.DealLoseSerializer, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def lose(self, request, pk=None):
        deal = self.get_object()
        data = _valid(s.DealLoseSerializer, request)
        return self._respond(services_sales.deal_lose(deal=deal, actor=request.user, reason=data["reason"]))

    @extend_schema(request=None, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._respond(services_sales.deal_reopen(deal=self.get_object(), actor=request.user))

    @extend_schema(responses=s.ActivitySerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        activities = selectors.deal_timeline(deal=self.get_object())
        page = self.paginate_queryset(activities)
        return self.get_paginated_response(s.ActivitySerializer(page, many=True).data)


class ActivityViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Timeline entries of deals (`?deal=` for one deal). Members add notes, calls and meetings;
    stage and status changes are recorded by the deal actions."""

    queryset = DealActivity.objects.none()
    serializer_class = s.ActivitySerializer
    permission_classes = [IsTenantMember]
    filter_backends = [DjangoFilterBackend]
    filterset_class = ActivityFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.activity_list(tenant=require_current_tenant())

    def perform_create(self, serializer):
        serializer.instance = services_sales.activity_add(actor=self.request.user, **serializer.validated_data)


class TaskViewSet(viewsets.ModelViewSet):
    """Tasks: agents see those assigned to or created by them; admins and supervisors all.
    `GET /tasks/overdue` lists the open ones past due."""

    queryset = Task.objects.none()
    serializer_class = s.TaskSerializer
    permission_classes = [IsTenantMember]
    filter_backends = [DjangoFilterBackend, SearchFilter, OrderingFilter]
    filterset_class = TaskFilter
    search_fields = ["title", "notes"]
    ordering_fields = ["due_at", "created_at"]
    ordering = ["done", "due_at", "id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.task_list_for_user(
            tenant=require_current_tenant(), user=self.request.user, role=_role(self.request)
        )

    def _respond(self, task, code=status.HTTP_200_OK):
        return Response(s.TaskSerializer(task).data, status=code)

    @extend_schema(request=s.TaskWriteSerializer, responses={201: s.TaskSerializer})
    def create(self, request):
        data = _valid(s.TaskWriteSerializer, request, creating=True)
        return self._respond(
            services_agenda.task_create(tenant=request.tenant, actor=request.user, **data), status.HTTP_201_CREATED
        )

    @extend_schema(request=s.TaskWriteSerializer, responses=s.TaskSerializer)
    def update(self, request, pk=None, partial=False):
        task = self.get_object()
        data = _valid(s.TaskWriteSerializer, request)
        return self._respond(services_agenda.task_update(task=task, actor=request.user, **data))

    @extend_schema(request=s.TaskWriteSerializer, responses=s.TaskSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def perform_destroy(self, instance):
        services_agenda.task_delete(task=instance)

    @action(detail=False, methods=["get"])
    def overdue(self, request):
        tasks = selectors.task_overdue(self.filter_queryset(self.get_queryset()))
        page = self.paginate_queryset(tasks)
        return self.get_paginated_response(s.TaskSerializer(page, many=True).data)

    @extend_schema(request=None, responses=s.TaskSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self._respond(services_agenda.task_complete(task=self.get_object(), actor=request.user))

    @extend_schema(request=None, responses=s.TaskSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._respond(services_agenda.task_reopen(task=self.get_object(), actor=request.user))


class MeetingViewSet(viewsets.ModelViewSet):
    """Meetings with contacts (agents: the ones they organize). The contact is reminded over
    WhatsApp before the start and told when it is cancelled or moved; a message that could not be
    sent shows in `failure_code`/`failure_detail`."""

    queryset = Meeting.objects.none()
    serializer_class = s.MeetingSerializer
    permission_classes = [IsTenantMember]
    filter_backends = [DjangoFilterBackend, SearchFilter, OrderingFilter]
    filterset_class = MeetingFilter
    search_fields = ["title", "contact__name", "location"]
    ordering_fields = ["starts_at", "created_at"]
    ordering = ["starts_at", "id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.meeting_list_for_user(
            tenant=require_current_tenant(), user=self.request.user, role=_role(self.request)
        )

    def _respond(self, meeting, code=status.HTTP_200_OK):
        return Response(s.MeetingSerializer(meeting).data, status=code)

    @extend_schema(request=s.MeetingWriteSerializer, responses={201: s.MeetingSerializer})
    def create(self, request):
        data = _valid(s.MeetingWriteSerializer, request, creating=True)
        meeting = services_agenda.meeting_create(tenant=request.tenant, actor=request.user, **data)
        return self._respond(meeting, status.HTTP_201_CREATED)

    @extend_schema(request=s.MeetingWriteSerializer, responses=s.MeetingSerializer)
    def update(self, request, pk=None, partial=False):
        meeting = self.get_object()
        data = _valid(s.MeetingWriteSerializer, request)
        return self._respond(services_agenda.meeting_update(meeting=meeting, actor=request.user, **data))

    @extend_schema(request=s.MeetingWriteSerializer, responses=s.MeetingSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def perform_destroy(self, instance):
        services_agenda.meeting_delete(meeting=instance)

    @extend_schema(request=None, responses=s.MeetingSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._respond(services_agenda.meeting_cancel(meeting=self.get_object(), actor=request.user))

    @extend_schema(request=s.MeetingRescheduleSerializer, responses=s.MeetingSerializer)
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        meeting = self.get_object()
        data = _valid(s.MeetingRescheduleSerializer, request)
        return self._respond(
            services_agenda.meeting_reschedule(meeting=meeting, actor=request.user, starts_at=data["starts_at"])
        )


class EscalationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Agents escalate tickets they see and follow their escalations; admins and supervisors see
    all, take and resolve them."""

    queryset = Escalation.objects.none()
    serializer_class = s.EscalationSerializer
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = EscalationFilter
    ordering_fields = ["created_at", "priority"]
    ordering = ["-created_at", "-id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.escalation_list_for_user(
            tenant=require_current_tenant(), user=self.request.user, role=_role(self.request)
        )

    def get_permissions(self):
        if self.action in ("take", "resolve"):
            return [IsTenantStaff()]
        return [IsTenantMember()]

    def _respond(self, escalation, code=status.HTTP_200_OK):
        return Response(s.EscalationSerializer(escalation).data, status=code)

    @extend_schema(request=s.EscalationCreateSerializer, responses={201: s.EscalationSerializer})
    def create(self, request):
        data = _valid(s.EscalationCreateSerializer, request)
        escalation = services_escalations.escalation_create(actor=request.user, **data)
        return self._respond(escalation, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.EscalationSerializer)
    @action(detail=True, methods=["post"])
    def take(self, request, pk=None):
        return self._respond(services_escalations.escalation_take(escalation=self.get_object(), actor=request.user))

    @extend_schema(request=s.EscalationResolveSerializer, responses=s.EscalationSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        escalation = self.get_object()
        data = _valid(s.EscalationResolveSerializer, request)
        return self._respond(
            services_escalations.escalation_resolve(escalation=escalation, actor=request.user, note=data["note"])
        )
