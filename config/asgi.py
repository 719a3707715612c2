"""ASGI entry: HTTP through Django, WebSockets under /ws/ through Channels.

Production serves HTTP from a WSGI server and only /ws/ from here (see docs/ and DESIGN.md);
the development launcher serves both from this one process.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.ws_auth import JWTOrSessionAuthMiddleware  # noqa: E402
from config.ws_routing import websocket_urlpatterns  # noqa: E402
from whatsapp.intake import WebhookIntake  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Provider webhook POSTs are taken on the event loop and stored in group commits
        # (whatsapp/intake.py); every other HTTP request is Django's.
        "http": WebhookIntake(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(JWTOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

from config.memory import startup_objects_frozen  # noqa: E402

startup_objects_frozen()
