from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.permissions import IsTenantStaff
from campaigns import selectors, services
from campaigns.api import serializers as s
from campaigns.models import Campaign, RecipientStatus
from tenants.context import require_current_tenant


class CampaignViewSet(viewsets.ModelViewSet):
    """Campaigns of the workspace, for admins and supervisors: drafts are edited, then scheduled
    (now or at a time); a scheduled or running campaign is paused, resumed or cancelled."""

    queryset = Campaign.objects.none()  # the model, for the schema and the isolation sweep
    serializer_class = s.CampaignSerializer
    permission_classes = [IsTenantStaff]
    filter_backends = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        queryset = selectors.campaign_list(tenant=require_current_tenant())
        wanted = self.request.query_params.get("status")
        return queryset.filter(status=wanted) if wanted and self.action == "list" else queryset

    def _write_data(self, request, *, creating: bool) -> dict:
        serializer = s.CampaignWriteSerializer(data=request.data, creating=creating)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        relations = {"tags": data.pop("audience_tags", None), "contacts": data.pop("audience_contacts", None)}
        return {**data, **{key: value for key, value in relations.items() if value is not None}}

    @extend_schema(request=s.CampaignWriteSerializer, responses={201: s.CampaignSerializer})
    def create(self, request):
        data = self._write_data(request, creating=True)
        campaign = services.campaign_create(tenant=request.tenant, actor=request.user, **data)
        return Response(s.CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.CampaignWriteSerializer, responses=s.CampaignSerializer)
    def update(self, request, pk=None, partial=False):
        campaign = self.get_object()  # another tenant's campaign is a 404 before any body check
        data = self._write_data(request, creating=False)
        return Response(s.CampaignSerializer(services.campaign_update(campaign=campaign, **data)).data)

    @extend_schema(request=s.CampaignWriteSerializer, responses=s.CampaignSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def perform_destroy(self, instance):
        services.campaign_delete(campaign=instance)

    @extend_schema(request=s.CampaignScheduleSerializer, responses=s.ScheduleResultSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        campaign = self.get_object()
        serializer = s.CampaignScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        counts = services.campaign_schedule(campaign=campaign, at=serializer.validated_data.get("scheduled_at"))
        campaign.refresh_from_db()
        return Response({**counts, "campaign": s.CampaignSerializer(campaign).data})

    def _transition(self, service):
        campaign = service(campaign=self.get_object())
        return Response(s.CampaignSerializer(campaign).data)

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._transition(services.campaign_pause)

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._transition(services.campaign_resume)

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._transition(services.campaign_cancel)

    @extend_schema(
        parameters=[OpenApiParameter("bucket", str, enum=["minute", "hour", "day"])],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        bucket = request.query_params.get("bucket", "hour")
        return Response(selectors.campaign_stats(campaign=self.get_object(), bucket=bucket))

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=RecipientStatus.values)],
        responses=s.RecipientSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def recipients(self, request, pk=None):
        queryset = selectors.recipient_list(campaign=self.get_object(), status=request.query_params.get("status"))
        page = self.paginate_queryset(queryset)
        data = s.RecipientSerializer(page if page is not None else queryset, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(request=s.AudienceUploadSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"], url_path="audience-import", parser_classes=[MultiPartParser])
    def audience_import(self, request, pk=None):
        campaign = self.get_object()
        serializer = s.AudienceUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.campaign_audience_import(campaign=campaign, file=serializer.validated_data["file"]))
