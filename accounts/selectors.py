import functools

from django.db import connection
from django.db.models import QuerySet

from accounts.models import Invite, Membership, Role, User
from config import sql
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
    """Like `membership_get`, from a tenant id (a token's claim, a form's field) in one query."""
    return membership_with_user_for_token(user_id=user.pk, tenant_id=tenant_id)


@functools.cache
def _membership_for_token_sql() -> str:
    return (
        f"SELECT {sql.columns(Membership, 'm')}, {sql.columns(Tenant, 't')}, {sql.columns(User, 'u')} "
        f"FROM {Membership._meta.db_table} m JOIN {Tenant._meta.db_table} t ON t.id = m.tenant_id "
        f"JOIN {User._meta.db_table} u ON u.id = m.user_id "
        "WHERE m.tenant_id = %s AND m.user_id = %s AND m.is_active AND t.is_active"
    )


def membership_with_user_for_token(*, user_id, tenant_id) -> Membership | None:
    """The active membership of user `user_id` in active tenant `tenant_id` (a token's claims), with
    its user and tenant, in one query; None if there is none (or a claim is missing or no id).

    Every API request asks this first: the statement is written once (`config.sql`) instead of
    being built by the ORM each time (1.5 ms of ORM for a 0.2 ms query)."""
    if not str(user_id).isdigit() or not str(tenant_id).isdigit():
        return None
    with sql.prepared_statements(), connection.cursor() as cursor:
        cursor.execute(_membership_for_token_sql(), [int(tenant_id), int(user_id)])
        row = cursor.fetchone()
    if row is None:
        return None
    membership = sql.instance(Membership, row)
    membership.tenant = sql.instance(Tenant, row, sql.width(Membership))
    membership.user = sql.instance(User, row, sql.width(Membership) + sql.width(Tenant))
    return membership


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
