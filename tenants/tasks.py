"""Celery base task for tenant work: every task takes `tenant_id` and runs inside that tenant."""

import logging

from celery import Task

from tenants.context import tenant_context
from tenants.exceptions import TenantContextMissing

logger = logging.getLogger(__name__)


class TenantTask(Task):
    """Refuses to be enqueued or run without `tenant_id`; always enters and leaves the tenant.

    Use through `@tenant_task` (config.celery). The task function receives `tenant_id` too.
    Work queued for a tenant that has since been deactivated is skipped (logged), not run: a
    suspended company's data stays as it is until it is active again.
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
        if not tenant.is_active:
            logger.info("task skipped: tenant inactive", extra={"task": self.name, "tenant": tenant.pk})
            return None
        with tenant_context(tenant):
            return super().__call__(*args, **kwargs)
