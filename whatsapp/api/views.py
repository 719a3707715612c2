from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Role
from accounts.permissions import IsTenantAdmin, IsTenantMember
from tenants.context import require_current_tenant
from whatsapp import selectors, services
from whatsapp.api import serializers as s
from whatsapp.models import Connection


class ConnectionViewSet(viewsets.ModelViewSet):
    """WhatsApp connections of the workspace. Admins manage them; supervisors read their settings;
    agents read the summary (name, provider, status, number). Credentials are write-only."""

    queryset = Connection.objects.none()  # the model, for the schema and the isolation sweep
    serializer_class = s.ConnectionSerializer
    filter_backends = []
    pagination_class = None  # a few per tenant (plan limit)
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.connection_list(tenant=require_current_tenant())

    def get_permissions(self):
        if self.action in ("list", "retrieve"):
            return [IsTenantMember()]
        return [IsTenantAdmin()]

    def get_serializer_class(self):
        role = getattr(getattr(self.request, "membership", None), "role", None)
        if role == Role.AGENT:
            return s.ConnectionSummarySerializer
        if role == Role.ADMIN and self.action == "retrieve":
            return s.ConnectionDetailSerializer
        return s.ConnectionSerializer

    def _write_data(self, request, *, creating: bool) -> dict:
        serializer = s.ConnectionWriteSerializer(data=request.data, context={"creating": creating})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=s.ConnectionWriteSerializer, responses={201: s.ConnectionDetailSerializer})
    def create(self, request):
        data = self._write_data(request, creating=True)
        connection = services.connection_create(tenant=request.tenant, **data)
        return Response(s.ConnectionDetailSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ConnectionWriteSerializer, responses=s.ConnectionDetailSerializer)
    def update(self, request, pk=None, partial=False):
        connection = self.get_object()  # another tenant's connection is a 404 before any body check
        data = self._write_data(request, creating=False)
        connection = services.connection_update(connection=connection, **data)
        return Response(s.ConnectionDetailSerializer(connection).data)

    @extend_schema(request=s.ConnectionWriteSerializer, responses=s.ConnectionDetailSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def perform_destroy(self, instance):
        services.connection_delete(connection=instance)

    @extend_schema(request=None, responses=s.ConnectionTestSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        return Response(services.connection_test(connection=self.get_object()))

    @extend_schema(request=None, responses=s.ConnectionQRCodeSerializer)
    @action(detail=True, methods=["post"])
    def qrcode(self, request, pk=None):
        return Response(services.connection_qrcode(connection=self.get_object()))

    @extend_schema(request=None, responses=s.ConnectionDetailSerializer)
    @action(detail=True, methods=["post"])
    def logout(self, request, pk=None):
        connection = services.connection_logout(connection=self.get_object())
        return Response(s.ConnectionDetailSerializer(connection).data)
