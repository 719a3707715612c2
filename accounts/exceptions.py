from django.utils.translation import gettext_lazy as _

from config.errors import Conflict, NotFound, PermissionDenied, ProsaError, ValidationFailed


class InvalidCredentials(ProsaError):
    code = "invalid_credentials"
    default_detail = _("Email or password is incorrect.")
    status_code = 401


class LoginThrottled(ProsaError):
    code = "login_throttled"
    default_detail = _("Too many failed login attempts. Try again later.")
    status_code = 429

    def __init__(self, retry_after: int):
        super().__init__()
        self.retry_after = retry_after


class TenantRequired(ValidationFailed):
    code = "tenant_required"
    default_detail = _("You belong to several workspaces: choose one with the `tenant` field.")


class NoActiveMembership(PermissionDenied):
    code = "no_active_membership"
    default_detail = _("This account has no active workspace.")


class RegistrationClosed(PermissionDenied):
    code = "registration_closed"
    default_detail = _("Registration is closed on this installation.")


class EmailTaken(Conflict):
    code = "email_taken"
    default_detail = _("An account with this email already exists.")


class WrongPassword(ValidationFailed):
    code = "wrong_password"
    default_detail = _("The current password is incorrect.")


class InvalidPassword(ValidationFailed):
    code = "invalid_password"
    default_detail = _("This password is not allowed.")


class InviteInvalid(NotFound):
    code = "invite_invalid"
    default_detail = _("This invitation link is invalid.")


class InviteNotPending(Conflict):
    code = "invite_not_pending"
    default_detail = _("This invitation was already used, revoked or has expired.")


class AlreadyMember(Conflict):
    code = "already_member"
    default_detail = _("This person is already a member of the workspace.")


class CannotChangeSelf(Conflict):
    code = "cannot_change_self"
    default_detail = _("You cannot deactivate yourself or change your own role.")


class LastAdmin(Conflict):
    code = "last_admin"
    default_detail = _("The workspace must keep at least one active admin.")


class ResetLinkInvalid(ValidationFailed):
    code = "reset_link_invalid"
    default_detail = _("This password reset link is invalid or has expired.")


class TokenInvalid(ProsaError):
    """A token that is malformed, expired, blacklisted or of the wrong kind (same code as simplejwt's)."""

    code = "token_not_valid"
    default_detail = _("Token is invalid or expired.")
    status_code = 401


class TokenRevoked(TokenInvalid):
    code = "token_revoked"
    default_detail = _("Token has been revoked.")


class TokenNoActiveMembership(TokenInvalid):
    """The token's workspace no longer admits its user (membership or workspace deactivated)."""

    code = "no_active_membership"
    default_detail = _("No active membership in this workspace.")
