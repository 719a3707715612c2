"""`/api/v1/whatsapp/templates/`: Cloud API message templates (synced from Meta, submitted here)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import IsTenantMember, IsTenantStaff
from config.api.fields import TenantRelatedField
from tenants.context import require_current_tenant
from whatsapp import templates
from whatsapp.choices import Provider
from whatsapp.models import Connection, MessageTemplate


class MessageTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageTemplate
        fields = [
            "id", "connection", "name", "language", "category", "status", "components", "variables",
            "provider_template_id", "rejected_reason", "synced_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class TemplateSubmitSerializer(serializers.Serializer):
    connection = TenantRelatedField(model=Connection)
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=16)
    category = serializers.ChoiceField(choices=MessageTemplate.Category.choices)
    components = serializers.ListField(child=serializers.DictField(), min_length=1)


class TemplateSyncSerializer(serializers.Serializer):
    connection = TenantRelatedField(model=Connection, required=False, help_text="Empty: every Cloud connection.")


class TemplatePreviewSerializer(serializers.Serializer):
    values = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField(allow_blank=True)),
        required=False,
        help_text='Per component and placeholder: {"body": {"1": "Ana"}}. Missing ones use the examples.',
    )


class MessageTemplateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Every member reads and previews templates; admins and supervisors sync them from Meta and
    submit new ones for approval. Filters: `connection`, `status`, `category`, `language`, `name`."""

    queryset = MessageTemplate.objects.none()
    serializer_class = MessageTemplateSerializer
    filter_backends = []
    lookup_value_regex = r"\d+"

    def get_permissions(self):
        if self.action in ("list", "retrieve", "preview"):
            return [IsTenantMember()]
        return [IsTenantStaff()]

    def get_queryset(self):
        queryset = templates.template_list(tenant=require_current_tenant())
        if self.action != "list":
            return queryset
        params = self.request.query_params
        for name in ("connection", "status", "category", "language"):
            if params.get(name):
                queryset = queryset.filter(**{name: params[name]})
        if params.get("name"):
            queryset = queryset.filter(name__icontains=params["name"])
        return queryset

    @extend_schema(request=TemplateSubmitSerializer, responses={201: MessageTemplateSerializer})
    def create(self, request):
        serializer = TemplateSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = templates.template_submit(**serializer.validated_data)
        return Response(MessageTemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TemplateSyncSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"])
    def sync(self, request):
        serializer = TemplateSyncSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = serializer.validated_data.get("connection")
        if connection is not None:
            connections = [connection]
        else:
            connections = list(Connection.objects.filter(provider=Provider.CLOUD).exclude(waba_id=""))
        return Response({str(c.pk): templates.templates_sync(connection=c) for c in connections})

    @extend_schema(request=TemplatePreviewSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        template = self.get_object()
        serializer = TemplatePreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(templates.template_render(template.components, serializer.validated_data.get("values")))
