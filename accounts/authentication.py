"""DRF authentication that also resolves and enters the request's tenant.

The tenant comes from the JWT's `tenant_id` claim (or the browser session) and is accepted only
while the user still has an active membership there; otherwise the request is unauthenticated.
TenantMiddleware, which wraps every request, restores the previous context afterwards.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.selectors import membership_get, membership_with_user_for_token
from accounts.services import TENANT_CLAIM, token_is_revoked
from tenants.context import set_current_tenant


def _enter_membership(request, membership) -> None:
    request.membership = membership
    request.tenant = membership.tenant
    request._request.membership = membership
    request._request.tenant = membership.tenant
    set_current_tenant(membership.tenant)


class TenantJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        """The token's user read together with their active membership of the token's tenant, in
        one query (two before: every API request paid both). Without such a membership, simplejwt's
        own lookup (and its errors); `authenticate` then refuses the missing membership."""
        membership = membership_with_user_for_token(
            user_id=validated_token.get(jwt_settings.USER_ID_CLAIM), tenant_id=validated_token.get(TENANT_CLAIM)
        )
        if membership is None:
            return super().get_user(validated_token)
        user = membership.user
        if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise exceptions.AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if jwt_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            jwt_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise exceptions.AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        user.token_membership = membership
        return user

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        if token_is_revoked(user=user, token=token):
            raise InvalidToken({"detail": _("Token has been revoked."), "code": "token_revoked"})
        membership = getattr(user, "token_membership", None)
        if membership is None:
            raise exceptions.AuthenticationFailed(
                _("No active membership in this workspace."), code="no_active_membership"
            )
        _enter_membership(request, membership)
        return user, token


class TenantSessionAuthentication(SessionAuthentication):
    """Browser sessions (inbox, Swagger UI): the tenant chosen by TenantMiddleware."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _auth = result
        tenant = getattr(request._request, "tenant", None)
        membership = membership_get(user=user, tenant=tenant) if tenant else None
        if membership is None:
            return None
        _enter_membership(request, membership)
        return result
