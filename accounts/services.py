"""Writes on users, memberships, invites and sessions. The API, the admin and (later) the inbox all
call these, so a rule such as the seat limit lives in exactly one place."""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import selectors
from accounts.exceptions import (
    AlreadyMember,
    CannotChangeSelf,
    EmailTaken,
    InvalidCredentials,
    InvalidPassword,
    InviteInvalid,
    InviteNotPending,
    LastAdmin,
    NoActiveMembership,
    RegistrationClosed,
    ResetLinkInvalid,
    TenantRequired,
    TokenInvalid,
    TokenNoActiveMembership,
    TokenRevoked,
    WrongPassword,
)
from accounts.models import Invite, Membership, Role, User
from accounts.throttling import login_failures
from tenants.exceptions import PlanLimitReached
from tenants.models import Tenant
from tenants.services import tenant_create

logger = logging.getLogger(__name__)

TENANT_CLAIM = "tenant_id"
# When the session began, in microseconds since the epoch. `iat` has whole seconds only, so a token
# issued in the same second as a password change would otherwise outlive it. Refreshing keeps the
# claim: every token of a session is revoked together.
AUTH_TIME_CLAIM = "auth_time_us"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    tenant: Tenant
    user: User


def _validate_password(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise InvalidPassword(" ".join(exc.messages), fields={"password": list(exc.messages)}) from exc


def _epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def tokens_issue(*, user: User, tenant: Tenant) -> TokenPair:
    """A refresh/access pair bound to one tenant (the `tenant_id` claim)."""
    refresh = RefreshToken.for_user(user)
    refresh[TENANT_CLAIM] = tenant.pk
    refresh[AUTH_TIME_CLAIM] = _epoch_us(timezone.now())
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh), tenant=tenant, user=user)


def token_is_revoked(*, user: User, token) -> bool:
    """True when the token (access or refresh) was issued before `user.tokens_valid_after`.

    Tokens without our microsecond claim fall back on `iat` and, failing closed, also count as revoked
    when issued in the same second."""
    valid_after = user.tokens_valid_after
    if valid_after is None:
        return False
    auth_time = token.get(AUTH_TIME_CLAIM)
    if auth_time is not None:
        return int(auth_time) < _epoch_us(valid_after)
    return int(token.get("iat", 0)) <= int(valid_after.timestamp())


def tokens_refresh(*, refresh_token: str) -> TokenPair:
    """Rotates a refresh token: the old one is blacklisted (usable once, even under concurrency) and
    a new pair is issued for the same session, provided the user may still enter that tenant."""
    try:
        refresh = RefreshToken(refresh_token)  # signature, expiry, type, blacklist
    except TokenError as exc:
        raise TokenInvalid(str(exc.args[0]) if exc.args else None) from exc
    user = User.objects.filter(pk=refresh.get(jwt_settings.USER_ID_CLAIM), is_active=True).first()
    if user is None:
        raise TokenInvalid(_("No active account found for the given token."))
    if token_is_revoked(user=user, token=refresh):
        raise TokenRevoked()
    membership = selectors.membership_get_by_tenant_id(user=user, tenant_id=refresh.get(TENANT_CLAIM))
    if membership is None:
        raise TokenNoActiveMembership()
    with transaction.atomic():
        _blacklisted, created = refresh.blacklist()
        if not created:  # a concurrent request used it first
            raise TokenInvalid(_("Token is blacklisted"))
        access = refresh.access_token
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh.outstand()
    return TokenPair(access=str(access), refresh=str(refresh), tenant=membership.tenant, user=user)


# --- Registration and login --------------------------------------------------


def user_register(*, email: str, password: str, name: str, tenant_name: str) -> TokenPair:
    """Creates a tenant and its first admin. The first user of an installation also becomes the
    platform superuser."""
    if not settings.ALLOW_REGISTRATION:
        raise RegistrationClosed()
    email = email.strip().lower()
    _validate_password(password, User(email=email, name=name))
    with transaction.atomic():
        if selectors.user_get_by_email(email=email):
            raise EmailTaken(fields={"email": [str(EmailTaken.default_detail)]})
        is_first_user = not User.objects.exists()
        tenant = tenant_create(name=tenant_name)
        try:
            user = User.objects.create_user(email=email, password=password, name=name, is_superuser=is_first_user)
        except IntegrityError as exc:  # a concurrent registration with the same email
            raise EmailTaken(fields={"email": [str(EmailTaken.default_detail)]}) from exc
        Membership.all_tenants.create(tenant=tenant, user=user, role=Role.ADMIN)
    logger.info("tenant registered", extra={"tenant": tenant.pk, "user": user.pk})
    return tokens_issue(user=user, tenant=tenant)


def _choose_tenant(*, user: User, tenant_ref: str | int | None) -> Tenant:
    tenants = selectors.membership_tenants_for_user(user=user)
    if not tenants:
        raise NoActiveMembership()
    if tenant_ref in (None, ""):
        if len(tenants) == 1:
            return tenants[0]
        raise TenantRequired(fields={"tenant": [t.slug for t in tenants]})
    for tenant in tenants:
        if str(tenant.pk) == str(tenant_ref) or tenant.slug == str(tenant_ref):
            return tenant
    # Not a member there: say no more than for a wrong password.
    raise InvalidCredentials()


def auth_login(*, email: str, password: str, ip: str, tenant_ref: str | int | None = None) -> TokenPair:
    """Checks credentials (throttled per email+IP on failures) and issues tenant-bound tokens."""
    from django.contrib.auth import authenticate

    failures = login_failures(email=email, ip=ip)
    failures.raise_if_blocked()
    user = authenticate(email=email.strip().lower(), password=password)
    if user is None:
        failures.record()
        raise InvalidCredentials()
    tenant = _choose_tenant(user=user, tenant_ref=tenant_ref)
    failures.clear()
    user.last_login = timezone.now()
    User.objects.filter(pk=user.pk).update(last_login=user.last_login)
    return tokens_issue(user=user, tenant=tenant)


def auth_logout(*, refresh_token: str) -> None:
    """Blacklists the refresh token (idempotent); its access token expires on its own soon after."""
    try:
        RefreshToken(refresh_token).blacklist()
    except TokenError:
        # Already blacklisted or expired: the session is over either way.
        pass


def _revoke_all_tokens(*, user: User) -> None:
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now())
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    # Access tokens carry an `iat`; those issued before now are refused by our authentication.
    user.tokens_valid_after = timezone.now()
    user.save(update_fields=["tokens_valid_after"])


def user_tokens_revoke(*, user: User) -> None:
    """Ends every API session of the user: refresh tokens blacklisted, access tokens issued until
    now refused. For a password set outside this module (the browser's reset form)."""
    with transaction.atomic():
        _revoke_all_tokens(user=user)


def password_change(*, user: User, current_password: str, new_password: str, tenant: Tenant) -> TokenPair:
    """Changes the password, revokes every other session, and returns fresh tokens for this one."""
    if not user.check_password(current_password):
        raise WrongPassword(fields={"current_password": [str(WrongPassword.default_detail)]})
    _validate_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        _revoke_all_tokens(user=user)
    return tokens_issue(user=user, tenant=tenant)


def user_update_profile(*, user: User, **fields) -> User:
    allowed = {"name", "avatar"}
    changed = [name for name in fields if name in allowed]
    for name in changed:
        setattr(user, name, fields[name])
    if changed:
        user.save(update_fields=changed)
    return user


# --- Password reset ----------------------------------------------------------


def password_reset_link(*, user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{settings.PUBLIC_URL}/reset-password/{uid}/{token}/"


def password_reset_send(*, user: User) -> str:
    """Makes a one-time reset link and e-mails it after commit. Returns the link (for admins)."""
    link = password_reset_link(user=user)

    def _send():
        send_mail(
            subject=_("Reset your Prosa password"),
            message=_("Use this link to choose a new password: %(link)s") % {"link": link},
            from_email=None,
            recipient_list=[user.email],
            fail_silently=True,
        )

    transaction.on_commit(_send)
    return link


def membership_password_reset(*, membership: Membership, actor: User) -> str | None:
    """An admin sends a member a reset link. The link is also returned, for the admin to pass on,
    only when the account belongs to this workspace alone: with it, an admin could otherwise take over
    the person's access to other workspaces, or the platform itself."""
    link = password_reset_send(user=membership.user)
    user = membership.user
    if user.pk == actor.pk:
        return link
    shared = (
        user.is_superuser
        or Membership.all_tenants.filter(user_id=user.pk).exclude(tenant_id=membership.tenant_id).exists()
    )
    return None if shared else link


def password_reset_request(*, email: str) -> None:
    """Self-service "forgot password": sends the link if the account exists; says nothing otherwise."""
    user = selectors.user_get_by_email(email=email)
    if user is not None and user.is_active:
        password_reset_send(user=user)


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uid)))
    except (User.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise ResetLinkInvalid() from exc
    if not default_token_generator.check_token(user, token):
        raise ResetLinkInvalid()
    _validate_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        _revoke_all_tokens(user=user)
    return user


# --- Memberships (admin actions) --------------------------------------------


def _ensure_seat_available(*, tenant: Tenant, counting_pending_invites: bool = False) -> None:
    used = selectors.active_seat_count(tenant=tenant)
    if counting_pending_invites:
        used += selectors.pending_invite_count(tenant=tenant)
    if used >= tenant.max_users:
        raise PlanLimitReached(
            _("Your plan allows %(max)d users and all seats are taken.") % {"max": tenant.max_users},
            code="seat_limit_reached",
        )


def _ensure_admin_remains(*, membership: Membership) -> None:
    """Refuses a change that would leave the tenant without an active admin."""
    if membership.role != Role.ADMIN or not membership.is_active:
        return
    others = (
        Membership.objects.filter(tenant_id=membership.tenant_id, role=Role.ADMIN, is_active=True)
        .exclude(pk=membership.pk)
        .exists()
    )
    if not others:
        raise LastAdmin()


def membership_deactivate(*, membership: Membership, actor: User) -> Membership:
    if membership.user_id == actor.pk:
        raise CannotChangeSelf()
    with transaction.atomic():
        # Locking the tenant serializes admin changes: two admins demoting each other at once
        # would otherwise both see the other one still active.
        Tenant.objects.select_for_update().get(pk=membership.tenant_id)
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        _ensure_admin_remains(membership=membership)
        membership.is_active = False
        membership.save(update_fields=["is_active"])
    return membership


def membership_activate(*, membership: Membership, actor: User) -> Membership:
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=membership.tenant_id)  # serializes seat counting
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.is_active:
            return membership
        _ensure_seat_available(tenant=tenant)
        membership.is_active = True
        membership.save(update_fields=["is_active"])
    return membership


def membership_set_role(*, membership: Membership, role: str, actor: User) -> Membership:
    if role not in Role.values:
        raise ValueError(role)
    if membership.user_id == actor.pk and role != membership.role:
        raise CannotChangeSelf()
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=membership.tenant_id)  # see membership_deactivate
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if role != Role.ADMIN:
            _ensure_admin_remains(membership=membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


# --- Invites -----------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_accept_url(token: str) -> str:
    return f"{settings.PUBLIC_URL}/invite/{token}/"


def invite_create(*, tenant: Tenant, email: str, role: str, invited_by: User | None) -> tuple[Invite, str]:
    """Creates an invite and e-mails its link after commit. Returns the invite and the raw token,
    which is not stored (only its hash) and so can be shown only now."""
    email = email.strip().lower()
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)  # serializes seat counting
        if Membership.objects.filter(tenant=tenant, user__email__iexact=email, is_active=True).exists():
            raise AlreadyMember(fields={"email": [str(AlreadyMember.default_detail)]})
        # Inviting the same address again replaces its pending invite (a lost link is re-sent this
        # way) rather than holding a second seat.
        Invite.objects.filter(
            tenant=tenant,
            email__iexact=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).update(revoked_at=timezone.now())
        _ensure_seat_available(tenant=tenant, counting_pending_invites=True)
        token = secrets.token_urlsafe(32)
        invite = Invite.objects.create(
            tenant=tenant,
            email=email,
            role=role,
            invited_by=invited_by,
            token_hash=_hash_token(token),
            expires_at=timezone.now() + timedelta(days=settings.INVITE_LIFETIME_DAYS),
        )
    link = invite_accept_url(token)
    transaction.on_commit(
        lambda: send_mail(
            subject=_("You are invited to %(tenant)s on Prosa") % {"tenant": tenant.name},
            message=_("Accept the invitation here: %(link)s") % {"link": link},
            from_email=None,
            recipient_list=[email],
            fail_silently=True,
        )
    )
    return invite, token


def invite_revoke(*, invite: Invite) -> Invite:
    if invite.status != Invite.Status.PENDING:
        raise InviteNotPending()
    invite.revoked_at = timezone.now()
    invite.save(update_fields=["revoked_at"])
    return invite


def invite_get_pending(*, token: str) -> Invite:
    invite = selectors.invite_get_by_token_hash(token_hash=_hash_token(token))
    if invite is None or not invite.tenant.is_active:
        raise InviteInvalid()
    if invite.status != Invite.Status.PENDING:
        raise InviteNotPending()
    return invite


def invite_accept(*, token: str, password: str, name: str = "", ip: str = "") -> TokenPair:
    """Joins the invite's tenant: creates the account, or attaches an existing one whose password
    matches (the password proves the invitee owns that account).

    Whoever creates an invite gets its token, so for an existing account this is a password check like
    a login, and shares the login's failure throttle (per email and IP)."""
    from tenants.context import tenant_context

    invite = invite_get_pending(token=token)
    failures = login_failures(email=invite.email, ip=ip)
    failures.raise_if_blocked()
    with tenant_context(invite.tenant), transaction.atomic():
        invite = Invite.objects.select_for_update().get(pk=invite.pk)
        if invite.status != Invite.Status.PENDING:
            raise InviteNotPending()
        Tenant.objects.select_for_update().get(pk=invite.tenant_id)
        user = selectors.user_get_by_email(email=invite.email)
        if user is None:
            _validate_password(password, User(email=invite.email, name=name))
            user = User.objects.create_user(email=invite.email, password=password, name=name)
        elif not user.check_password(password) or not user.is_active:
            failures.record()
            raise InvalidCredentials()
        else:
            failures.clear()
        membership = Membership.objects.filter(tenant=invite.tenant, user=user).first()
        if membership is not None and membership.is_active:
            raise AlreadyMember()
        _ensure_seat_available(tenant=invite.tenant)
        if membership is None:
            Membership.objects.create(tenant=invite.tenant, user=user, role=invite.role)
        else:
            membership.is_active, membership.role = True, invite.role
            membership.save(update_fields=["is_active", "role"])
        invite.accepted_at = timezone.now()
        invite.accepted_by = user
        invite.save(update_fields=["accepted_at", "accepted_by"])
        return tokens_issue(user=user, tenant=invite.tenant)
