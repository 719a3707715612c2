from tenants.context import tenant_context


class TenantConsumerMixin:
    """For Channels consumers: refuses connections without an active membership (closing with
    4401/4403 and a reason), and handles every message inside the connection's tenant."""

    tenant = None
    membership = None

    async def connect(self):
        error = self.scope.get("auth_error")
        membership = self.scope.get("membership")
        if error or membership is None:
            code, reason = error or (4403, "no_active_membership")
            # Accept, then close: a close during the handshake reaches the client as an HTTP 403
            # (a browser sees code 1006), never as 4401/4403. Nothing is joined or sent before.
            await self.accept()
            await self.close(code=code, reason=reason)
            return
        self.membership = membership
        self.tenant = membership.tenant
        with tenant_context(self.tenant):
            await self.tenant_connect()

    async def tenant_connect(self):
        await self.accept()

    async def dispatch(self, message):
        with tenant_context(self.tenant):
            await super().dispatch(message)


def tenant_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}"


def user_group(tenant_id: int, user_id: int) -> str:
    # Users may belong to several tenants: their group is per tenant too.
    return f"tenant.{tenant_id}.user.{user_id}"
