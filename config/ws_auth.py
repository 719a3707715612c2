"""WebSocket authentication: a browser session cookie, or `?token=<JWT access>` for API clients.

Sets scope["user"], scope["membership"] (active membership in the tenant, or None) and, when the
connection must be refused, scope["auth_error"] = (close code, reason). Consumers decide in
connect(); see tenants.consumers.TenantConsumerMixin.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _from_token(raw: str):
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from accounts.selectors import membership_get
    from accounts.services import TENANT_CLAIM, token_is_revoked
    from tenants.models import Tenant

    try:
        token = AccessToken(raw)
    except TokenError:
        return AnonymousUser(), None, (CLOSE_UNAUTHENTICATED, "invalid_or_expired_token")
    user = User.objects.filter(pk=token.get("user_id"), is_active=True).first()
    if user is None:
        return AnonymousUser(), None, (CLOSE_UNAUTHENTICATED, "user_inactive")
    if token_is_revoked(user=user, token=token):
        return AnonymousUser(), None, (CLOSE_UNAUTHENTICATED, "token_revoked")
    tenant = Tenant.objects.filter(pk=token.get(TENANT_CLAIM)).first()
    membership = membership_get(user=user, tenant=tenant) if tenant else None
    if membership is None:
        return user, None, (CLOSE_FORBIDDEN, "no_active_membership")
    return user, membership, None


@database_sync_to_async
def _from_session(user, session):
    from accounts.selectors import membership_get
    from tenants.selectors import tenant_for_session

    if not user.is_authenticated:
        return None, (CLOSE_UNAUTHENTICATED, "not_authenticated")
    tenant = tenant_for_session(user=user, session=session)
    membership = membership_get(user=user, tenant=tenant) if tenant else None
    if membership is None:
        return None, (CLOSE_FORBIDDEN, "no_active_membership")
    return membership, None


class _TenantAuth:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        token = parse_qs(scope.get("query_string", b"").decode()).get("token", [None])[0]
        if token:
            scope["user"], scope["membership"], scope["auth_error"] = await _from_token(token)
        else:
            # Channels' AuthMiddleware has already resolved its lazy user object: unwrap it.
            user = getattr(scope.get("user"), "_wrapped", None) or AnonymousUser()
            scope["user"] = user
            scope["membership"], scope["auth_error"] = await _from_session(user, scope.get("session") or {})
        return await self.inner(scope, receive, send)


def JWTOrSessionAuthMiddleware(inner):
    return AuthMiddlewareStack(_TenantAuth(inner))
