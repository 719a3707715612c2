"""Webhook views: placeholder until the inbound pipeline lands (answers 404 meanwhile)."""

from django.http import Http404
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def cloud_webhook(request, secret):
    raise Http404


@csrf_exempt
def evolution_webhook(request, secret):
    raise Http404
