"""Settings of the daphne process the browser tests talk to: the app's own, plus what the test
process sets in conftest.pytest_configure (static files from the apps, eager tasks, a fast hasher
that verifies the factories' passwords)."""

from config.settings import *  # noqa: F403
from config.settings import PASSWORD_HASHERS, STORAGES

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The webhook's processing and the replies' delivery run inside the request that enqueued them, so
# the test sees their effects without a worker (and nothing is left in Redis between tests).
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
