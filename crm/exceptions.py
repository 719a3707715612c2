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
