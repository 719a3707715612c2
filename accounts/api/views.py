from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts import selectors, services
from accounts.api import serializers as s
from accounts.models import Role
from accounts.permissions import IsTenantAdmin, IsTenantMember
from accounts.throttling import client_ip
from tenants.context import require_current_tenant


def _token_response(pair: services.TokenPair, status_code=status.HTTP_200_OK) -> Response:
    data = s.TokenPairSerializer(
        {"access": pair.access, "refresh": pair.refresh, "user": pair.user, "tenant": pair.tenant}
    ).data
    return Response(data, status=status_code)


class _PublicView(GenericAPIView):
    """Reachable without a token; a stale Authorization header must not get in the way."""

    authentication_classes = []
    permission_classes = [AllowAny]


class RegisterView(_PublicView):
    serializer_class = s.RegisterSerializer

    @extend_schema(responses={201: s.TokenPairSerializer})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = services.user_register(**serializer.validated_data)
        return _token_response(pair, status.HTTP_201_CREATED)


class LoginView(_PublicView):
    serializer_class = s.LoginSerializer

    @extend_schema(responses={200: s.TokenPairSerializer})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        pair = services.auth_login(
            email=data["email"],
            password=data["password"],
            tenant_ref=data.get("tenant"),
            ip=client_ip(request),
        )
        return _token_response(pair)


class RefreshView(_PublicView):
    """Exchanges a refresh token for a new pair; the old refresh token is blacklisted (rotation)."""

    serializer_class = s.RefreshSerializer

    @extend_schema(responses={200: s.TokenPairSerializer})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _token_response(services.tokens_refresh(refresh_token=serializer.validated_data["refresh"]))


class LogoutView(_PublicView):
    """The refresh token is the credential: an expired access token must not prevent logging out."""

    serializer_class = s.RefreshSerializer

    @extend_schema(responses={204: None})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.auth_logout(refresh_token=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(GenericAPIView):
    serializer_class = s.MeSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def _body(self, request):
        return {
            "user": s.MeSerializer(request.user).data,
            "tenant": s.TenantSerializer(request.tenant).data,
            "role": request.membership.role,
            "tenants": s.TenantSerializer(selectors.membership_tenants_for_user(user=request.user), many=True).data,
        }

    def get(self, request):
        return Response(self._body(request))

    def patch(self, request):
        serializer = self.get_serializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.user_update_profile(user=request.user, **serializer.validated_data)
        return Response(self._body(request))


class PasswordChangeView(GenericAPIView):
    serializer_class = s.PasswordChangeSerializer

    @extend_schema(responses={200: s.TokenPairSerializer})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = services.password_change(
            user=request.user,
            current_password=serializer.validated_data["current_password"],
            new_password=serializer.validated_data["new_password"],
            tenant=request.tenant,
        )
        return _token_response(pair)


class PasswordResetRequestView(_PublicView):
    serializer_class = s.PasswordResetRequestSerializer

    @extend_schema(responses={202: None})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(email=serializer.validated_data["email"])
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(_PublicView):
    serializer_class = s.PasswordResetConfirmSerializer

    @extend_schema(responses={204: None})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_confirm(**serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Members of the current workspace. Everyone may list them (to transfer tickets); admins manage
    them; anyone may update their own name."""

    serializer_class = s.MemberSerializer
    lookup_field = "user_id"
    lookup_url_kwarg = "pk"
    lookup_value_regex = r"\d+"
    search_fields = ["user__name", "user__email"]
    ordering_fields = ["user__name", "user__email", "created_at"]
    filterset_fields = ["role", "is_active"]

    def get_queryset(self):
        return selectors.membership_list(tenant=require_current_tenant())

    def get_permissions(self):
        if self.action in ("list", "retrieve"):
            return [IsTenantMember()]
        if self.action in ("update", "partial_update"):
            return [IsTenantMember()]
        return [IsTenantAdmin()]

    def perform_update(self, serializer):
        membership = serializer.instance
        if membership.user_id != self.request.user.pk and not IsTenantAdmin().has_permission(self.request, self):
            from config.errors import PermissionDenied

            raise PermissionDenied()
        fields = serializer.validated_data.get("user", {})
        services.user_update_profile(user=membership.user, **fields)

    def _membership_response(self, membership):
        return Response(s.MemberSerializer(membership).data)

    @extend_schema(request=None, responses=s.MemberSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        return self._membership_response(
            services.membership_deactivate(membership=self.get_object(), actor=request.user)
        )

    @extend_schema(request=None, responses=s.MemberSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        return self._membership_response(services.membership_activate(membership=self.get_object(), actor=request.user))

    @extend_schema(request=s.RoleSerializer, responses=s.MemberSerializer)
    @action(detail=True, methods=["post"])
    def role(self, request, pk=None):
        membership = self.get_object()  # another tenant's member is a 404 before any body check
        serializer = s.RoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._membership_response(
            services.membership_set_role(
                membership=membership, role=serializer.validated_data["role"], actor=request.user
            )
        )

    @extend_schema(request=None, responses=s.ResetLinkSerializer)
    @action(detail=True, methods=["post"], url_path="reset-password")
    def reset_password(self, request, pk=None):
        with transaction.atomic():
            link = services.membership_password_reset(membership=self.get_object(), actor=request.user)
        return Response(s.ResetLinkSerializer({"link": link}).data)


class InviteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.InviteSerializer
    permission_classes = [IsTenantAdmin]
    lookup_value_regex = r"\d+"
    search_fields = ["email"]

    def get_queryset(self):
        return selectors.invite_list(tenant=require_current_tenant())

    @extend_schema(responses={201: s.InviteCreatedSerializer})
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invite, token = services.invite_create(
            tenant=request.tenant,
            email=serializer.validated_data["email"],
            role=serializer.validated_data.get("role", Role.AGENT),
            invited_by=request.user,
        )
        invite.token = token
        invite.accept_url = services.invite_accept_url(token)
        return Response(s.InviteCreatedSerializer(invite).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.InviteSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return Response(s.InviteSerializer(services.invite_revoke(invite=self.get_object())).data)


class InviteAcceptView(_PublicView):
    serializer_class = s.InviteAcceptSerializer

    @extend_schema(responses={200: s.InvitePublicSerializer})
    def get(self, request, token):
        invite = services.invite_get_pending(token=token)
        invite.existing_account = selectors.user_get_by_email(email=invite.email) is not None
        return Response(s.InvitePublicSerializer(invite).data)

    @extend_schema(responses={200: s.TokenPairSerializer})
    def post(self, request, token):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = services.invite_accept(token=token, ip=client_ip(request), **serializer.validated_data)
        return _token_response(pair)
