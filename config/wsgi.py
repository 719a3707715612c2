import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.memory import startup_objects_frozen  # noqa: E402

startup_objects_frozen()
