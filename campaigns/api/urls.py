from campaigns.api import views
from config.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("campaigns", views.CampaignViewSet, basename="campaign")

urlpatterns = [*router.urls]
