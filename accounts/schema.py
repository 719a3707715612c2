"""OpenAPI descriptions of our authentication classes (drf-spectacular extensions)."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class TenantJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.TenantJWTAuthentication"
    name = "jwtAuth"


class TenantSessionScheme(SessionScheme):
    target_class = "accounts.authentication.TenantSessionAuthentication"
    name = "cookieAuth"
