"""Background work of the contacts domain (tenant tasks: `tenant_id=` is required)."""

import logging

from config.celery import tenant_task
from crm import services

logger = logging.getLogger(__name__)


@tenant_task
def contact_import_process_task(*, contact_import_id: int, tenant_id: int) -> None:
    try:
        services.contact_import_process(contact_import_id=contact_import_id)
    except Exception:
        logger.exception("contact import failed", extra={"contact_import_id": contact_import_id})
        services.contact_import_fail(contact_import_id=contact_import_id, message="Unexpected error.")
        raise
