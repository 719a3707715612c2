from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config.api.exceptions import api_not_found
from config.health import healthz

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("tickets.api.urls")),
    path("", include("crm.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("knowledge.api.urls")),
    path("", include("flows.api.urls")),
    path("whatsapp/", include("whatsapp.api.urls")),
    path("ai/", include("ai.api.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("webhooks/whatsapp/", include("whatsapp.urls")),
    path("inbox/crm/", include("crm.urls")),
    path("inbox/knowledge/", include("knowledge.urls")),
    path("inbox/", include("tickets.urls")),
    path("", include("accounts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Anything else under /api/ answers in the API's error shape, not an HTML page.
    re_path(r"^api/", api_not_found),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler500 = "config.api.exceptions.api_server_error_or_html"
