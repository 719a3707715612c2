"""Provider webhooks (outside /api/: called by Meta and Evolution, not by API clients).
The secret in the path identifies the connection; signatures are still checked."""

from django.urls import path

from whatsapp import webhooks

urlpatterns = [
    path("cloud/<str:secret>/", webhooks.cloud_webhook, name="whatsapp-webhook-cloud"),
    path("evolution/<str:secret>/", webhooks.evolution_webhook, name="whatsapp-webhook-evolution"),
]
