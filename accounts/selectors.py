from django.db.models import QuerySet

from accounts.models import Invite, Membership, Role, User
from tenants.models import Tenant

STAFF_ROLES = (Role.ADMIN, Role.SUPERVISOR)


def membership_tenants_for_user(*, user: User) -> list[Tenant]:
    """Active tenants where the user has an active membership, oldest membership first.

    Spans tenants by nature (it decides which tenant a login enters), hence `all_tenants`.
    """
    memberships = (
        Membership.all_tenants.filter(user=user, is_active=True, tenant__is_active=True)
        .select_related("tenant")
        .order_by("created_at")
    )
    return [membership.tenant for membership in memberships]


def membership_get(*, user: User, tenant: Tenant) -> Membership | None:
    """The user's active membership in `tenant`, or None. Explicit tenant: used while authenticating,
    before any tenant is in context."""
    return (
        Membership.all_tenants.filter(user=user, tenant=tenant, is_active=True, tenant__is_active=True)
        .select_related("tenant")
        .first()
    )


def membership_get_by_tenant_id(*, user: User, tenant_id) -> Membership | None:
    """Like `membership_get`, from a tenant id (a token's claim) in one query."""
    if not tenant_id:
        return None
    return (
        Membership.all_tenants.filter(user=user, tenant_id=tenant_id, is_active=True, tenant__is_active=True)
        .select_related("tenant")
        .first()
    )


def membership_with_user_for_token(*, user_id, tenant_id) -> Membership | None:
    """The active membership of user `user_id` in tenant `tenant_id` (a token's claims), with its
    user and tenant, in one query; None if there is none (or a claim is missing)."""
    if not user_id or not tenant_id:
        return None
    return (
        Membership.all_tenants.filter(user_id=user_id, tenant_id=tenant_id, is_active=True, tenant__is_active=True)
        .select_related("tenant", "user")
        .first()
    )


def membership_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__name", "user__email")


def membership_get_for_user_id(*, tenant: Tenant, user_id) -> Membership | None:
    return Membership.objects.filter(tenant=tenant, user_id=user_id).select_related("user").first()


def active_seat_count(*, tenant: Tenant) -> int:
    return Membership.objects.filter(tenant=tenant, is_active=True).count()


def pending_invite_count(*, tenant: Tenant) -> int:
    from django.utils import timezone

    return Invite.objects.filter(
        tenant=tenant, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).count()


def invite_list(*, tenant: Tenant) -> QuerySet[Invite]:
    return Invite.objects.filter(tenant=tenant).select_related("invited_by", "accepted_by")


def invite_get_by_token_hash(*, token_hash: str) -> Invite | None:
    """Public lookup (no tenant yet): the token itself is the credential."""
    return Invite.all_tenants.filter(token_hash=token_hash).select_related("tenant").first()


def user_get_by_email(*, email: str) -> User | None:
    return User.objects.filter(email__iexact=email.strip()).first()
