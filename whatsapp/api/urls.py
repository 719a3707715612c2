from config.api.routers import OptionalSlashRouter
from whatsapp.api import views

router = OptionalSlashRouter()
router.register("connections", views.ConnectionViewSet, basename="connection")

urlpatterns = [*router.urls]
