from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.models import Invite, Membership, Role, User
from tenants.models import Tenant


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "timezone", "language"]
        read_only_fields = fields


class MemberSerializer(serializers.ModelSerializer):
    """A user as seen inside one tenant: the person plus their membership there."""

    id = serializers.IntegerField(source="user.id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", max_length=150, required=False, allow_blank=True)
    avatar = serializers.ImageField(source="user.avatar", read_only=True)
    last_login = serializers.DateTimeField(source="user.last_login", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "avatar", "role", "is_active", "joined_at", "last_login"]
        read_only_fields = ["role", "is_active"]


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "avatar", "is_superuser", "date_joined", "last_login"]
        read_only_fields = ["id", "email", "is_superuser", "date_joined", "last_login"]


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = MeSerializer()
    tenant = TenantSerializer()


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    name = serializers.CharField(max_length=150)
    tenant_name = serializers.CharField(max_length=120, help_text=_("Your company's name."))


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    tenant = serializers.CharField(
        required=False, allow_blank=True, help_text=_("Workspace id or slug; needed when you belong to several.")
    )


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(write_only=True)
    new_password = serializers.CharField(write_only=True)


class PasswordResetRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField()
    token = serializers.CharField()
    new_password = serializers.CharField(write_only=True)


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ResetLinkSerializer(serializers.Serializer):
    link = serializers.URLField(
        allow_null=True,
        help_text=_("Also e-mailed. Null when the account is shared with other workspaces: only e-mailed then."),
    )


class InviteSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)
    invited_by = serializers.StringRelatedField(read_only=True)

    class Meta:
        model = Invite
        fields = [
            "id",
            "email",
            "role",
            "status",
            "invited_by",
            "expires_at",
            "accepted_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = ["expires_at", "accepted_at", "revoked_at", "created_at"]


class InviteCreatedSerializer(InviteSerializer):
    token = serializers.CharField(read_only=True, help_text=_("Shown only once."))
    accept_url = serializers.URLField(read_only=True)

    class Meta(InviteSerializer.Meta):
        fields = InviteSerializer.Meta.fields + ["token", "accept_url"]


class InvitePublicSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.name")
    existing_account = serializers.BooleanField()

    class Meta:
        model = Invite
        fields = ["email", "role", "tenant", "expires_at", "existing_account"]


class InviteAcceptSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    password = serializers.CharField(write_only=True)
