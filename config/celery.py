import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("prosa")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def tenant_task(*args, **options):
    """Declare a task that runs inside one tenant: it must be called with `tenant_id=`."""
    from tenants.tasks import TenantTask

    options.setdefault("base", TenantTask)
    return app.task(*args, **options)


@before_task_publish.connect
def _carry_request_id(headers=None, **kwargs):
    from config.request_id import get_request_id

    if headers is not None and get_request_id():
        headers.setdefault("prosa_request_id", get_request_id())


@task_prerun.connect
def _enter_request_id(task=None, task_id=None, **kwargs):
    from config.request_id import set_request_id

    request_id = getattr(task.request, "prosa_request_id", None) if task else None
    task._prosa_request_token = set_request_id(request_id or task_id)


@task_prerun.connect
def _close_old_connections(task=None, **kwargs):
    """What Django does at each request: close the connections that are broken or older than
    CONN_MAX_AGE (every time with 0), so a reused one is never a dead one. Not for eager tasks,
    which run inside their caller's transaction."""
    if task is not None and not getattr(task.request, "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()


@task_postrun.connect
def _leave_request_id(task=None, **kwargs):
    from config.request_id import reset_request_id

    token = getattr(task, "_prosa_request_token", None)
    if token is not None:
        reset_request_id(token)
        task._prosa_request_token = None


@worker_init.connect
def _freeze_startup_objects(**kwargs):
    """In the worker's main process, before it forks its pool (config.memory)."""
    from config.memory import startup_objects_frozen

    startup_objects_frozen()
