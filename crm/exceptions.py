"""Errors of the contacts domain, each with a stable `code` (rendered as `{code, detail, fields}`)."""

from django.utils.translation import gettext_lazy as _

from config.errors import Conflict, ValidationFailed


class InvalidPhone(ValidationFailed):
    code = "invalid_phone"
    default_detail = _("This is not a valid phone number.")


class ContactExists(Conflict):
    """`fields` carries `existing_id`: the contact that already has this number."""

    code = "contact_exists"
    default_detail = _("A contact with this phone number already exists.")


class ContactInUse(Conflict):
    code = "contact_in_use"
    default_detail = _("This contact has conversations and cannot be deleted.")


class InvalidCustomFields(ValidationFailed):
    code = "invalid_custom_fields"
    default_detail = _("Some custom fields are invalid.")


class InvalidTags(ValidationFailed):
    code = "invalid_tags"
    default_detail = _("Some tags do not exist.")


class TagExists(Conflict):
    code = "tag_exists"
    default_detail = _("A tag with this name already exists.")


class ContactFieldExists(Conflict):
    code = "contact_field_exists"
    default_detail = _("A contact field with this key already exists.")


class InvalidContactField(ValidationFailed):
    code = "invalid_contact_field"
    default_detail = _("This contact field definition is invalid.")


class InvalidImportFile(ValidationFailed):
    code = "invalid_import_file"
    default_detail = _("The file is not a CSV file Prosa can read.")


# --- Sales, agenda, escalations -----------------------------------------------------------------


class InvalidStage(ValidationFailed):
    code = "invalid_stage"
    default_detail = _("This stage does not exist.")


class PipelineInUse(Conflict):
    code = "pipeline_in_use"
    default_detail = _("This pipeline or stage still has deals; move them first.")


class DefaultPipelineRequired(Conflict):
    code = "default_pipeline_required"
    default_detail = _("The default pipeline cannot be deleted.")


class DealLabelExists(Conflict):
    code = "deal_label_exists"
    default_detail = _("A label with this name already exists.")


class InvalidDealLabels(ValidationFailed):
    code = "invalid_labels"
    default_detail = _("Some labels do not exist.")


class DealClosed(Conflict):
    code = "deal_closed"
    default_detail = _("This deal is already won or lost; reopen it first.")


class DealNotClosed(Conflict):
    code = "deal_not_closed"
    default_detail = _("This deal is open.")


class LostReasonRequired(ValidationFailed):
    code = "lost_reason_required"
    default_detail = _("Say why the deal was lost.")


class InvalidActivityType(ValidationFailed):
    code = "invalid_activity_type"
    default_detail = _("Only notes, calls and meetings can be added by hand.")


class InvalidReference(ValidationFailed):
    """A related contact, deal, ticket or member that does not exist (in this tenant)."""

    code = "invalid_reference"
    default_detail = _("A related record does not exist.")


class TaskAlreadyDone(Conflict):
    code = "task_already_done"
    default_detail = _("This task is already done.")


class MeetingCancelled(Conflict):
    code = "meeting_cancelled"
    default_detail = _("This meeting was cancelled.")


class MeetingInPast(ValidationFailed):
    code = "meeting_in_past"
    default_detail = _("A meeting must start in the future.")


class EscalationExists(Conflict):
    code = "escalation_exists"
    default_detail = _("This ticket is already escalated.")


class EscalationResolved(Conflict):
    code = "escalation_resolved"
    default_detail = _("This escalation is already resolved.")


class EscalationAlreadyTaken(Conflict):
    code = "escalation_already_taken"
    default_detail = _("Another supervisor took this escalation.")
