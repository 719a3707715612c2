"""Celery base task for tenant work: every task takes `tenant_id` and runs inside that tenant."""

from celery import Task

from tenants.context import tenant_context
from tenants.exceptions import TenantContextMissing


class TenantTask(Task):
    """Refuses to be enqueued or run without `tenant_id`; always enters and leaves the tenant.

    Use through `@tenant_task` (config.celery). The task function receives `tenant_id` too.
    """

    abstract = True

    def apply_async(self, args=None, kwargs=None, **options):
        if not (kwargs or {}).get("tenant_id"):
            raise TenantContextMissing("Tenant tasks must be called with tenant_id=<id>.")
        return super().apply_async(args=args, kwargs=kwargs, **options)

    def __call__(self, *args, **kwargs):
        from tenants.models import Tenant

        tenant_id = kwargs.get("tenant_id")
        if not tenant_id:
            raise TenantContextMissing("Tenant tasks must be called with tenant_id=<id>.")
        tenant = Tenant.objects.get(pk=tenant_id)
        with tenant_context(tenant):
            return super().__call__(*args, **kwargs)
