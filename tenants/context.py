"""The current tenant, carried in a context variable.

Every entry point (request, Celery task, Channels consumer, admin, management command) enters a
tenant explicitly with `tenant_context(tenant)`. Tenant-owned managers read it and refuse to run
without it, so a forgotten scope fails loudly instead of returning every tenant's rows.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tenants.exceptions import TenantContextMissing

if TYPE_CHECKING:
    from tenants.models import Tenant

_current_tenant: contextvars.ContextVar[Tenant | None] = contextvars.ContextVar("prosa_current_tenant", default=None)


def get_current_tenant() -> Tenant | None:
    return _current_tenant.get()


def require_current_tenant() -> Tenant:
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantContextMissing()
    return tenant


@contextmanager
def tenant_context(tenant: Tenant | None) -> Iterator[Tenant | None]:
    """Run the block with `tenant` as the current tenant; always restores the previous one.

    `tenant_context(None)` explicitly enters "no tenant" (tenant-owned queries then raise).
    """
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)


def set_current_tenant(tenant: Tenant | None) -> contextvars.Token:
    """Low-level setter for entry points that cannot use a `with` block (middleware, auth).

    The caller must reset the returned token, or run inside a scope that resets it.
    """
    return _current_tenant.set(tenant)


def reset_current_tenant(token: contextvars.Token) -> None:
    _current_tenant.reset(token)
