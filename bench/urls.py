"""Prosa's URLs plus one bench-only route: an empty view, for the baseline of each HTTP figure.
Only served under bench.settings."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import handler500  # noqa: F401
from config.urls import urlpatterns as prosa_urlpatterns


@csrf_exempt
def empty_view(request, secret=""):
    return HttpResponse(status=200)


urlpatterns = [path("bench/empty/<str:secret>/", empty_view), *prosa_urlpatterns]
