from django.utils.translation import gettext_lazy as _

from config.errors import ProsaError


class TenantContextMissing(ProsaError):
    """A tenant-owned query ran with no tenant in context: a programming error, never user input."""

    code = "tenant_context_missing"
    default_detail = _("No tenant is active for this operation.")
    status_code = 500


class TenantMismatch(ProsaError):
    code = "tenant_mismatch"
    default_detail = _("This object belongs to another tenant.")
    status_code = 500


class PlanLimitReached(ProsaError):
    code = "plan_limit_reached"
    default_detail = _("Your plan's limit has been reached.")
    status_code = 409
