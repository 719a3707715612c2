from config.api.routers import OptionalSlashRouter
from crm.api import sales_views, views

router = OptionalSlashRouter()
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("tags", views.TagViewSet, basename="tag")
router.register("contact-fields", views.ContactFieldDefinitionViewSet, basename="contact-field")
router.register("contact-imports", views.ContactImportViewSet, basename="contact-import")
router.register("crm/pipelines", sales_views.PipelineViewSet, basename="pipeline")
router.register("crm/stages", sales_views.StageViewSet, basename="stage")
router.register("crm/deals", sales_views.DealViewSet, basename="deal")
router.register("crm/activities", sales_views.ActivityViewSet, basename="activity")
router.register("crm/labels", sales_views.DealLabelViewSet, basename="deal-label")
router.register("tasks", sales_views.TaskViewSet, basename="task")
router.register("meetings", sales_views.MeetingViewSet, basename="meeting")
router.register("escalations", sales_views.EscalationViewSet, basename="escalation")

urlpatterns = [*router.urls]
