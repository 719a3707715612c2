from config.api.routers import OptionalSlashRouter
from flows.api import views

router = OptionalSlashRouter()
router.register("flows/runs", views.FlowRunViewSet, basename="flow-run")
router.register("flows", views.FlowViewSet, basename="flow")

urlpatterns = [*router.urls]
