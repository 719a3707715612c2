from django.urls import re_path

from ai.api import views
from config.api.routers import OptionalSlashRouter, route

router = OptionalSlashRouter()
router.register("insights", views.TicketInsightViewSet, basename="ai-insight")
router.register("agents", views.AIAgentViewSet, basename="ai-agent")


def _on(kind: str, action: str, view, name: str):
    return re_path(rf"^{kind}/(?P<pk>\d+)/{action}/?$", view.as_view(), name=name)


urlpatterns = [
    *router.urls,
    route("settings", views.SettingsView.as_view(), name="ai-settings"),
    route("settings/test", views.SettingsTestView.as_view(), name="ai-settings-test"),
    route("usage", views.UsageView.as_view(), name="ai-usage"),
    route("compose", views.ComposeView.as_view(), name="ai-compose"),
    _on("tickets", "summarize", views.TicketSummarizeView, "ai-ticket-summarize"),
    _on("tickets", "classify", views.TicketClassifyView, "ai-ticket-classify"),
    _on("tickets", "suggest-replies", views.TicketSuggestRepliesView, "ai-ticket-suggest-replies"),
    _on("messages", "transcribe", views.MessageTranscribeView, "ai-message-transcribe"),
    _on("deals", "qualify", views.DealQualifyView, "ai-deal-qualify"),
]
