from django.db import transaction
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.permissions import IsTenantMember, IsTenantStaff
from crm import selectors, services
from crm.api import serializers as s
from crm.api.filters import ContactFilter
from crm.models import Contact, ContactFieldDefinition, ContactImport, Tag
from tenants.context import require_current_tenant


class ContactViewSet(viewsets.ModelViewSet):
    """Contacts of the workspace. Every member reads, creates and edits them; admins and
    supervisors delete, export (the filtered list as CSV) and import (a CSV file) them."""

    queryset = Contact.objects.none()  # the model, for the schema and the isolation sweep
    serializer_class = s.ContactSerializer
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = ContactFilter
    ordering_fields = ["name", "created_at", "updated_at", "last_message_at"]
    ordering = ["name", "id"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.contact_list(tenant=require_current_tenant())

    def get_permissions(self):
        if self.action in ("destroy", "export", "import_csv"):
            return [IsTenantStaff()]
        return [IsTenantMember()]

    def _write_data(self, request, *, creating: bool) -> dict:
        serializer = s.ContactWriteSerializer(data=request.data, context={"creating": creating})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=s.ContactWriteSerializer, responses={201: s.ContactSerializer})
    def create(self, request):
        data = self._write_data(request, creating=True)
        contact = services.contact_create(tenant=request.tenant, **data)
        return Response(s.ContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ContactWriteSerializer, responses=s.ContactSerializer)
    def update(self, request, pk=None, partial=False):
        contact = self.get_object()  # another tenant's contact is a 404 before any body check
        data = self._write_data(request, creating=False)
        return Response(s.ContactSerializer(services.contact_update(contact=contact, **data)).data)

    @extend_schema(request=s.ContactWriteSerializer, responses=s.ContactSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def perform_destroy(self, instance):
        services.contact_delete(contact=instance)

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV of the filtered contacts.")}
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        rows = services.contacts_csv_rows(
            tenant=request.tenant,
            queryset=queryset,
            definitions=list(selectors.contact_field_list(tenant=request.tenant)),
        )
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
        return response

    @extend_schema(request=s.ContactImportUploadSerializer, responses={202: s.ContactImportSerializer})
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_csv(self, request):
        serializer = s.ContactImportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            contact_import = services.contact_import_start(
                tenant=request.tenant, file=serializer.validated_data["file"], actor=request.user
            )
        return Response(s.ContactImportSerializer(contact_import).data, status=status.HTTP_202_ACCEPTED)


class _StaffWritesViewSet(viewsets.ModelViewSet):
    """Every member reads; admins and supervisors write."""

    lookup_value_regex = r"\d+"

    def get_permissions(self):
        if self.action in ("list", "retrieve"):
            return [IsTenantMember()]
        return [IsTenantStaff()]


class TagViewSet(_StaffWritesViewSet):
    queryset = Tag.objects.none()
    serializer_class = s.TagSerializer
    filter_backends = [SearchFilter, OrderingFilter]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return selectors.tag_list(tenant=require_current_tenant())

    def perform_create(self, serializer):
        serializer.instance = services.tag_create(tenant=self.request.tenant, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.tag_update(tag=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.tag_delete(tag=instance)


class ContactFieldDefinitionViewSet(_StaffWritesViewSet):
    queryset = ContactFieldDefinition.objects.none()
    serializer_class = s.ContactFieldDefinitionSerializer
    filter_backends = []
    pagination_class = None  # a handful per tenant; forms need them all

    def get_queryset(self):
        return selectors.contact_field_list(tenant=require_current_tenant())

    def perform_create(self, serializer):
        serializer.instance = services.contact_field_create(tenant=self.request.tenant, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.contact_field_update(definition=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.contact_field_delete(definition=instance)


class ContactImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Progress and per-row errors of CSV imports (start one with POST /contacts/import)."""

    queryset = ContactImport.objects.none()
    serializer_class = s.ContactImportSerializer
    permission_classes = [IsTenantStaff]
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["status"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.contact_import_list(tenant=require_current_tenant())
