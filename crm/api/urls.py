from config.api.routers import OptionalSlashRouter
from crm.api import views

router = OptionalSlashRouter()
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("tags", views.TagViewSet, basename="tag")
router.register("contact-fields", views.ContactFieldDefinitionViewSet, basename="contact-field")
router.register("contact-imports", views.ContactImportViewSet, basename="contact-import")

urlpatterns = [*router.urls]
