"""Errors of the conversation domain, each with a stable `code` (rendered as `{code, detail, fields}`)."""

from django.utils.translation import gettext_lazy as _

from config.errors import Conflict, ValidationFailed


class TicketAlreadyTaken(Conflict):
    code = "ticket_already_taken"
    default_detail = _("Another agent has already taken this ticket.")


class TicketClosed(Conflict):
    code = "ticket_closed"
    default_detail = _("The ticket is closed. Reopen it first.")


class TicketActiveExists(Conflict):
    code = "ticket_active_exists"
    default_detail = _("The contact already has an active ticket on this connection.")


class WhatsAppWindowClosed(Conflict):
    code = "whatsapp_window_closed"
    default_detail = _(
        "It has been more than 24 hours since the customer last wrote — send an approved template instead."
    )


class TransferTargetRequired(ValidationFailed):
    code = "transfer_target_required"
    default_detail = _("Choose a user or a queue to transfer the ticket to.")


class NotAMember(ValidationFailed):
    code = "not_a_member"
    default_detail = _("This user is not an active member of the workspace.")


class EmptyMessage(ValidationFailed):
    code = "empty_message"
    default_detail = _("Write a text, attach a file or choose a template.")


class MediaTooLarge(ValidationFailed):
    code = "media_too_large"
    default_detail = _("The file is too large for WhatsApp.")


class MediaTypeNotAllowed(ValidationFailed):
    code = "media_type_not_allowed"
    default_detail = _("WhatsApp does not accept files of this type.")


class SendAtInPast(ValidationFailed):
    code = "send_at_in_past"
    default_detail = _("Choose a time in the future.")


class ScheduledMessageNotCancellable(Conflict):
    code = "scheduled_message_not_cancellable"
    default_detail = _("Only a message that is still scheduled can be cancelled.")


class MediaNotFailed(Conflict):
    code = "media_not_failed"
    default_detail = _("Only a media download that failed can be tried again.")
