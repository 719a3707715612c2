"""Agent assist under /api/v1/ai/: each route finds the object the caller may see (404 otherwise,
another tenant's included), then calls one service. Without a provider every feature answers 409
`ai_not_configured`; past the limits 429 `ai_rate_limited` / `ai_quota_exceeded`."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsTenantAdmin, IsTenantMember, IsTenantStaff
from ai import metering, selectors, services
from ai.api import serializers as s
from ai.models import AIAgent, AISettings, TicketInsight
from config.errors import NotFound
from crm.models import Deal
from crm.selectors_sales import deal_list
from tenants.context import require_current_tenant
from tickets.models import Message, Ticket
from tickets.selectors import inbox_message_get, ticket_get_for_user


def _role(request) -> str:
    return request.membership.role


def _body(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _TicketAssist(GenericAPIView):
    queryset = Ticket.objects.none()  # the model, for the schema and the isolation sweep
    permission_classes = [IsTenantMember]

    def ticket(self) -> Ticket:
        return ticket_get_for_user(ticket_id=self.kwargs["pk"], user=self.request.user, role=_role(self.request))


class TicketSummarizeView(_TicketAssist):
    """Summarize the ticket's conversation; the summary is stored on the ticket's insight."""

    serializer_class = s.TicketInsightSerializer

    @extend_schema(request=None, responses=s.TicketInsightSerializer)
    def post(self, request, pk):
        insight = services.ticket_summarize(ticket=self.ticket(), actor=request.user)
        return Response(s.TicketInsightSerializer(insight).data)


class TicketClassifyView(_TicketAssist):
    """The customer's sentiment and one of the workspace's ticket categories, stored on the insight."""

    serializer_class = s.TicketInsightSerializer

    @extend_schema(request=None, responses=s.TicketInsightSerializer)
    def post(self, request, pk):
        insight = services.ticket_classify(ticket=self.ticket(), actor=request.user)
        return Response(s.TicketInsightSerializer(insight).data)


class TicketSuggestRepliesView(_TicketAssist):
    """Three replies for the agent, grounded on the conversation and the knowledge base."""

    serializer_class = s.SuggestedRepliesSerializer

    @extend_schema(request=None, responses=s.SuggestedRepliesSerializer)
    def post(self, request, pk):
        suggestions = services.ticket_suggest_replies(ticket=self.ticket(), actor=request.user)
        return Response(s.SuggestedRepliesSerializer(suggestions).data)


class MessageTranscribeView(GenericAPIView):
    """Transcribe a voice note of a ticket the caller may see; the text is stored with the message."""

    queryset = Message.objects.none()
    serializer_class = s.MessageTranscriptSerializer
    permission_classes = [IsTenantMember]

    @extend_schema(request=None, responses=s.MessageTranscriptSerializer)
    def post(self, request, pk):
        message = inbox_message_get(message_id=pk, user=request.user, role=_role(request))
        transcript = services.message_transcribe(message=message, actor=request.user)
        return Response(s.MessageTranscriptSerializer(transcript).data)


class DealQualifyView(GenericAPIView):
    """Fill the deal's BANT fields from the contact's conversations, with the quotes as evidence."""

    queryset = Deal.objects.none()
    serializer_class = s.DealQualificationSerializer
    permission_classes = [IsTenantMember]

    @extend_schema(request=None, responses=s.DealQualificationSerializer)
    def post(self, request, pk):
        deal = deal_list(tenant=require_current_tenant()).filter(pk=pk).first()
        if deal is None:
            raise NotFound()
        qualification = services.deal_qualify(deal=deal, actor=request.user)
        return Response(s.DealQualificationSerializer(qualification).data)


class ComposeView(APIView):
    """Rewrite a draft: more formal, friendlier, shorter, corrected, or translated (pt-BR, en, es)."""

    permission_classes = [IsTenantMember]

    @extend_schema(request=s.ComposeSerializer, responses=s.ComposeResultSerializer)
    def post(self, request):
        data = _body(s.ComposeSerializer, request)
        text = services.text_compose(
            tenant=require_current_tenant(),
            actor=request.user,
            text=data["text"],
            action=data["action"],
            target_language=data.get("target_language"),
        )
        return Response({"text": text})


class UsageView(APIView):
    """This month's AI requests: used and remaining in the plan, tokens, and per feature."""

    permission_classes = [IsTenantMember]

    @extend_schema(responses=s.UsageSerializer)
    def get(self, request):
        tenant = require_current_tenant()
        found = selectors.ai_settings_get()
        usage = {**metering.usage_summary(tenant=tenant), "configured": bool(found and found.is_configured)}
        return Response(s.UsageSerializer(usage).data)


class SettingsView(APIView):
    """The workspace's AI provider. Every member reads whether AI is configured; admins change it
    (the API key is write-only)."""

    def get_permissions(self):
        return [IsTenantMember()] if self.request.method == "GET" else [IsTenantAdmin()]

    def _respond(self, found):
        return Response(s.AISettingsSerializer(found or AISettings()).data)

    @extend_schema(responses=s.AISettingsSerializer)
    def get(self, request):
        return self._respond(selectors.ai_settings_get())

    @extend_schema(request=s.AISettingsWriteSerializer, responses=s.AISettingsSerializer)
    def put(self, request):
        data = _body(s.AISettingsWriteSerializer, request)
        return self._respond(services.ai_settings_save(tenant=require_current_tenant(), **data))


class SettingsTestView(APIView):
    """Admins check the saved provider settings with one tiny, metered chat call."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(request=None, responses=s.AIConnectionTestSerializer)
    def post(self, request):
        result = services.ai_settings_test(tenant=require_current_tenant(), actor=request.user)
        return Response(s.AIConnectionTestSerializer(result).data)


class TicketInsightFilter(filters.FilterSet):
    sentiment = filters.MultipleChoiceFilter(choices=TicketInsight.Sentiment.choices)
    category = filters.CharFilter(field_name="category", lookup_expr="iexact")
    ticket = filters.NumberFilter(field_name="ticket_id")

    class Meta:
        model = TicketInsight
        fields = ["sentiment", "category", "ticket"]


class TicketInsightViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """What the AI said about the tickets the caller may see; filter by sentiment and category."""

    queryset = TicketInsight.objects.none()
    serializer_class = s.TicketInsightSerializer
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = TicketInsightFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.insight_list_for_user(user=self.request.user, role=_role(self.request))


class AIAgentViewSet(viewsets.ModelViewSet):
    """The workspace's AI agents (bots answering from the knowledge base). Every member reads
    them; admins and supervisors manage them."""

    queryset = AIAgent.objects.none()
    serializer_class = s.AIAgentSerializer
    filter_backends = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.ai_agent_list()

    def get_permissions(self):
        if self.action in ("list", "retrieve"):
            return [IsTenantMember()]
        return [IsTenantStaff()]

    def perform_create(self, serializer):
        serializer.instance = services.ai_agent_save(agent=AIAgent(), **serializer.validated_data)

    def perform_update(self, serializer):
        services.ai_agent_save(agent=serializer.instance, **serializer.validated_data)
