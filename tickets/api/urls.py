from config.api.routers import OptionalSlashRouter, route
from tickets.api import views

router = OptionalSlashRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("queues", views.QueueViewSet, basename="queue")
router.register("quick-replies", views.QuickReplyViewSet, basename="quickreply")
router.register("scheduled-messages", views.ScheduledMessageViewSet, basename="scheduledmessage")

urlpatterns = [*router.urls, route("presence", views.PresenceView.as_view(), name="presence")]
