from config.api.routers import OptionalSlashRouter
from whatsapp.api import views
from whatsapp.api.templates import MessageTemplateViewSet

router = OptionalSlashRouter()
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("templates", MessageTemplateViewSet, basename="message-template")

urlpatterns = [*router.urls]
