from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import IsTenantMember, IsTenantStaff
from config.errors import NotFound
from flows import selectors, services
from flows.api import serializers as s
from flows.models import Flow, FlowRun
from tenants.context import require_current_tenant


class FlowViewSet(viewsets.ModelViewSet):
    """Bot flows of the workspace, for admins and supervisors: the flow and its trigger, versions
    of its graph (save a draft, validate, publish, roll back) and a test console."""

    queryset = Flow.objects.none()  # the model, for the schema and the isolation sweep
    serializer_class = s.FlowSerializer
    permission_classes = [IsTenantStaff]
    filter_backends = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.flow_list(tenant=require_current_tenant())

    def _data(self, request, *, creating: bool) -> dict:
        serializer = s.FlowWriteSerializer(data=request.data, creating=creating)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(request=s.FlowWriteSerializer, responses={201: s.FlowSerializer})
    def create(self, request):
        data = self._data(request, creating=True)
        flow = services.flow_create(tenant=request.tenant, actor=request.user, **data)
        return Response(s.FlowSerializer(flow).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.FlowWriteSerializer, responses=s.FlowSerializer)
    def update(self, request, pk=None, partial=False):
        flow = self.get_object()
        data = self._data(request, creating=False)
        return Response(s.FlowSerializer(services.flow_update(flow=flow, **data)).data)

    @extend_schema(request=s.FlowWriteSerializer, responses=s.FlowSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def perform_destroy(self, instance):
        services.flow_delete(flow=instance)

    @extend_schema(methods=["get"], request=None, responses=s.FlowVersionSerializer(many=True))
    @extend_schema(methods=["post"], request=s.GraphSerializer, responses={201: s.FlowVersionSerializer})
    @action(detail=True, methods=["get", "post"])
    def versions(self, request, pk=None):
        """GET: the versions, newest first. POST: save a graph as the draft (the latest version
        while unpublished, else a new version). Drafts may be invalid; publishing checks."""
        flow = self.get_object()
        if request.method == "GET":
            versions = selectors.flow_version_list(flow=flow).select_related("flow")
            return Response(s.FlowVersionSerializer(versions, many=True).data)
        serializer = s.GraphSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.flow_version_save(flow=flow, graph=serializer.validated_data["graph"], actor=request.user)
        return Response(s.FlowVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.VersionNumberSerializer, responses=s.FlowSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        flow = self.get_object()
        serializer = s.VersionNumberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.flow_publish(flow=flow, number=serializer.validated_data.get("number"))
        return Response(s.FlowSerializer(flow).data)

    @extend_schema(request=s.VersionNumberSerializer, responses=s.FlowSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        flow = self.get_object()
        serializer = s.VersionNumberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.flow_rollback(flow=flow, number=serializer.validated_data.get("number"))
        return Response(s.FlowSerializer(flow).data)

    @extend_schema(request=s.ValidateSerializer, responses=s.ValidationResultSerializer)
    @action(detail=True, methods=["post"])
    def validate(self, request, pk=None):
        flow = self.get_object()
        serializer = s.ValidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        graph = serializer.validated_data.get("graph")
        if graph is None:
            latest = selectors.flow_version_list(flow=flow).first()
            graph = latest.graph if latest else {}
        errors = services.flow_validate(flow=flow, graph=graph)
        return Response({"valid": not errors, "errors": errors})

    @extend_schema(request=s.TestTurnSerializer, responses=s.TestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """One turn of a simulated conversation: nothing is sent to WhatsApp or stored (HTTP
        request nodes do call their URLs). Send back the returned `state` with the next turn."""
        flow = self.get_object()
        serializer = s.TestTurnSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.flow_test(
            flow=flow,
            state=data.get("state"),
            text=data.get("text"),
            reply_id=data.get("reply_id", ""),
            fire_timer=data.get("fire_timer", False),
            contact=data.get("contact"),
            number=data.get("number"),
            seed=data.get("seed"),
        )
        return Response(result)


@extend_schema(
    parameters=[OpenApiParameter("ticket", OpenApiTypes.INT, description="Runs of this ticket (agents: required).")]
)
class FlowRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs of flows on tickets with the trace of their executed nodes, newest first. Admins and
    supervisors see every run; agents the runs of a ticket they can see."""

    queryset = FlowRun.objects.none()
    serializer_class = s.FlowRunSerializer
    permission_classes = [IsTenantMember]
    filter_backends = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        from tickets import selectors as ticket_selectors

        tenant = require_current_tenant()
        user = self.request.user
        role = ticket_selectors.role_of(user=user)
        ticket_id = self.request.query_params.get("ticket")
        if ticket_id is not None and not ticket_id.isdigit():
            raise NotFound()
        runs = selectors.flow_run_list(tenant=tenant, ticket_id=int(ticket_id) if ticket_id else None)
        if role in ticket_selectors.STAFF_ROLES:
            return runs
        visible = ticket_selectors.ticket_list_for_user(user=user, role=role).values("pk")
        return runs.filter(ticket_id__in=visible)
