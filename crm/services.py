"""Writes on contacts, tags, custom field definitions and CSV imports.

The API, the admin and the import task all go through these functions, so the rules (one contact per
number — ninth-digit forms included —, custom fields typed by their definitions, tags by id or name)
live in one place.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Func, JSONField, ProtectedError, Value
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from crm import selectors
from crm.exceptions import (
    ContactExists,
    ContactFieldExists,
    ContactInUse,
    InvalidContactField,
    InvalidCustomFields,
    InvalidImportFile,
    InvalidPhone,
    InvalidTags,
    TagExists,
)
from crm.models import Contact, ContactFieldDefinition, ContactImport, Tag
from tenants.context import tenant_context
from tenants.models import Tenant
from tickets import events
from whatsapp.phone import brazil_ninth_digit_variants, normalize_phone

logger = logging.getLogger(__name__)

FieldType = ContactFieldDefinition.FieldType
TagRef = int | str

CONTACT_FIELDS = frozenset({"name", "phone", "email", "custom_fields", "tags", "opted_out", "notes"})


# --- Phones -----------------------------------------------------------------------------------


def phone_clean(raw: str | None) -> str:
    """Any written form of a number → E.164 digits (default region BR), or InvalidPhone."""
    phone = normalize_phone(raw or "")
    if phone is None:
        raise InvalidPhone(fields={"phone": [str(InvalidPhone.default_detail)]})
    return phone


def _ensure_phone_free(*, tenant: Tenant, phone: str, exclude_id: int | None = None) -> None:
    existing = selectors.contact_get_by_phone(tenant=tenant, phone=phone, exclude_id=exclude_id)
    if existing is not None:
        raise ContactExists(fields={"phone": [str(ContactExists.default_detail)], "existing_id": existing.pk})


# --- Custom fields ----------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "y", "sim", "s", "x"}
_FALSE = {"false", "0", "no", "n", "não", "nao"}


def _coerce(definition: ContactFieldDefinition, value: Any) -> Any:
    """A value for a custom field (JSON from the API, text from a CSV) → its stored JSON form.
    Raises ValueError with the message people read."""
    kind = definition.field_type
    if kind == FieldType.TEXT:
        if not isinstance(value, str):
            raise ValueError(_("Must be text."))
        return value.strip()
    if kind == FieldType.NUMBER:
        if isinstance(value, bool):
            raise ValueError(_("Must be a number."))
        if isinstance(value, int | float):
            return value
        if isinstance(value, str):
            text = value.strip().replace(" ", "")
            if "," in text and "." not in text:
                text = text.replace(",", ".")  # Brazilian decimal comma
            try:
                number = float(text)
            except ValueError:
                raise ValueError(_("Must be a number.")) from None
            return int(number) if number.is_integer() and "." not in text else number
        raise ValueError(_("Must be a number."))
    if kind == FieldType.DATE:
        if isinstance(value, str):
            text = value.strip()
            for parse in (date.fromisoformat, lambda t: datetime.strptime(t, "%d/%m/%Y").date()):
                try:
                    return parse(text).isoformat()
                except ValueError:
                    continue
        raise ValueError(_("Must be a date (YYYY-MM-DD or DD/MM/YYYY)."))
    if kind == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(_("Must be true or false."))
    if kind == FieldType.CHOICE:
        options = [str(option) for option in definition.choices or []]
        if isinstance(value, str) and value.strip() in options:
            return value.strip()
        raise ValueError(_("Must be one of: %(choices)s.") % {"choices": ", ".join(options)})
    raise ValueError(_("Unknown field type."))


def custom_fields_clean(
    *,
    tenant: Tenant,
    values: dict[str, Any],
    definitions: Iterable[ContactFieldDefinition] | None = None,
    enforce_required: bool = True,
) -> dict[str, Any]:
    """Validates custom field values against the tenant's definitions: unknown keys and wrong types
    are refused (InvalidCustomFields, `fields={"custom_fields": {key: [message]}}`); empty values
    (None, "") are dropped; required fields must be present when `enforce_required`."""
    if not isinstance(values, dict):
        raise InvalidCustomFields(fields={"custom_fields": [_("Must be an object of field keys and values.")]})
    if definitions is None:
        definitions = selectors.contact_field_list(tenant=tenant)
    by_key = {definition.key: definition for definition in definitions}
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        definition = by_key.get(key)
        if definition is None:
            errors[key] = [_("Unknown field.")]
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            cleaned[key] = _coerce(definition, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    if enforce_required:
        for key, definition in by_key.items():
            if definition.required and key not in cleaned and key not in errors:
                errors[key] = [_("This field is required.")]
    if errors:
        raise InvalidCustomFields(fields={"custom_fields": errors})
    return cleaned


# --- Tags -------------------------------------------------------------------------------------


def tags_resolve(*, tenant: Tenant, refs: Iterable[TagRef]) -> list[Tag]:
    """Tags from ids (which must exist in the tenant) and names (matched case-insensitively;
    missing ones are created)."""
    ids: list[int] = []
    names: dict[str, str] = {}  # lower → as written
    for ref in refs:
        if isinstance(ref, int):
            ids.append(ref)
        elif name := str(ref).strip()[: Tag._meta.get_field("name").max_length]:
            names.setdefault(name.lower(), name)
    tags: dict[int, Tag] = {}
    if ids:
        found = {tag.pk: tag for tag in selectors.tag_list(tenant=tenant).filter(pk__in=ids)}
        missing = sorted(set(ids) - found.keys())
        if missing:
            raise InvalidTags(fields={"tags": [_("Unknown tag ids: %(ids)s.") % {"ids": missing}]})
        tags.update(found)
    if names:
        tags.update({tag.pk: tag for tag in _tags_by_name(tenant=tenant, names=names)})
    return list(tags.values())


def _tags_by_name(*, tenant: Tenant, names: dict[str, str]) -> list[Tag]:
    def lookup():
        return list(selectors.tag_list(tenant=tenant).annotate(_lower=Lower("name")).filter(_lower__in=list(names)))

    found = lookup()
    missing = names.keys() - {tag.name.lower() for tag in found}
    if missing:
        Tag.objects.bulk_create([Tag(tenant=tenant, name=names[key]) for key in missing], ignore_conflicts=True)
        found = lookup()
    return found


def tag_create(*, tenant: Tenant, name: str, color: str | None = None) -> Tag:
    tag = Tag(tenant=tenant, name=name.strip())
    if color:
        tag.color = color
    return _tag_save(tag)


def tag_update(*, tag: Tag, **changes: Any) -> Tag:
    for field in ("name", "color"):
        if field in changes:
            setattr(tag, field, changes[field].strip() if field == "name" else changes[field])
    return _tag_save(tag)


def _tag_save(tag: Tag) -> Tag:
    duplicate = selectors.tag_list(tenant=tag.tenant).filter(name__iexact=tag.name).exclude(pk=tag.pk).exists()
    if duplicate:
        raise TagExists(fields={"name": [str(TagExists.default_detail)]})
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError:
        raise TagExists(fields={"name": [str(TagExists.default_detail)]}) from None
    return tag


def tag_delete(*, tag: Tag) -> None:
    tag.delete()


# --- Custom field definitions -----------------------------------------------------------------


def _check_definition(definition: ContactFieldDefinition) -> None:
    if definition.field_type == FieldType.CHOICE:
        choices = definition.choices
        if (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(choice, str) and choice.strip() for choice in choices)
            or len(set(choices)) != len(choices)
        ):
            raise InvalidContactField(fields={"choices": [_("A choice field needs a list of distinct texts.")]})
    elif definition.choices:
        raise InvalidContactField(fields={"choices": [_("Only choice fields have choices.")]})


def contact_field_create(*, tenant: Tenant, **values: Any) -> ContactFieldDefinition:
    definition = ContactFieldDefinition(tenant=tenant, **values)
    return _contact_field_save(definition)


def contact_field_update(*, definition: ContactFieldDefinition, **changes: Any) -> ContactFieldDefinition:
    """Every attribute but `key` may change (values are stored under the key)."""
    if "key" in changes and changes["key"] != definition.key:
        raise InvalidContactField(fields={"key": [_("The key of a field cannot change.")]})
    for field, value in changes.items():
        setattr(definition, field, value)
    return _contact_field_save(definition)


def _contact_field_save(definition: ContactFieldDefinition) -> ContactFieldDefinition:
    _check_definition(definition)
    try:
        with transaction.atomic():
            definition.save()
    except IntegrityError:
        raise ContactFieldExists(fields={"key": [str(ContactFieldExists.default_detail)]}) from None
    return definition


@transaction.atomic
def contact_field_delete(*, definition: ContactFieldDefinition) -> None:
    """Deletes the definition and its values on every contact (jsonb `-` key, one UPDATE)."""
    key = definition.key
    Contact.objects.filter(tenant_id=definition.tenant_id, custom_fields__has_key=key).update(
        custom_fields=Func(F("custom_fields"), Value(key), arg_joiner=" - ", template="(%(expressions)s)",
                           output_field=JSONField())
    )  # fmt: skip
    definition.delete()


# --- Contacts ---------------------------------------------------------------------------------


def _refreshed(contact: Contact) -> Contact:
    """The contact as the API renders it (tags prefetched)."""
    return selectors.contact_list(tenant=contact.tenant).get(pk=contact.pk)


@transaction.atomic
def contact_create(
    *,
    tenant: Tenant,
    phone: str,
    name: str = "",
    email: str = "",
    custom_fields: dict[str, Any] | None = None,
    tags: Iterable[TagRef] | None = None,
    opted_out: bool = False,
    notes: str = "",
) -> Contact:
    phone = phone_clean(phone)
    _ensure_phone_free(tenant=tenant, phone=phone)
    contact = Contact(
        tenant=tenant,
        phone=phone,
        name=name.strip(),
        email=email,
        custom_fields=custom_fields_clean(tenant=tenant, values=custom_fields or {}),
        opted_out=opted_out,
        notes=notes,
    )
    resolved_tags = tags_resolve(tenant=tenant, refs=tags) if tags else []
    _contact_save(contact)
    if resolved_tags:
        contact.tags.set(resolved_tags)
    contact = _refreshed(contact)
    events.contact_updated(contact)
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, **changes: Any) -> Contact:
    """Changes any of CONTACT_FIELDS; `tags` replaces the tag set, `custom_fields` the values."""
    unknown = changes.keys() - CONTACT_FIELDS
    if unknown:
        raise TypeError(f"contact_update() got unexpected fields {sorted(unknown)}")
    tenant = contact.tenant
    if "phone" in changes:
        phone = phone_clean(changes.pop("phone"))
        if phone != contact.phone:
            _ensure_phone_free(tenant=tenant, phone=phone, exclude_id=contact.pk)
            contact.phone = phone
    if "custom_fields" in changes:
        contact.custom_fields = custom_fields_clean(tenant=tenant, values=changes.pop("custom_fields") or {})
    tags = changes.pop("tags", None)
    resolved_tags = tags_resolve(tenant=tenant, refs=tags) if tags is not None else None
    for field, value in changes.items():
        setattr(contact, field, value.strip() if field == "name" else value)
    _contact_save(contact)
    if resolved_tags is not None:
        contact.tags.set(resolved_tags)
    contact = _refreshed(contact)
    events.contact_updated(contact)
    return contact


def _contact_save(contact: Contact) -> None:
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        # Lost a race with another writer of the same number (the unique constraint caught it).
        existing = selectors.contact_get_by_phone(tenant=contact.tenant, phone=contact.phone, exclude_id=contact.pk)
        raise ContactExists(
            fields={"phone": [str(ContactExists.default_detail)], "existing_id": existing.pk if existing else None}
        ) from None


def contact_delete(*, contact: Contact) -> None:
    try:
        with transaction.atomic():
            contact.delete()
    except ProtectedError:
        raise ContactInUse() from None


# --- CSV import -------------------------------------------------------------------------------

IMPORT_BATCH_SIZE = 200
IMPORT_MAX_BYTES = 20 * 1024 * 1024
IMPORT_MAX_ERRORS = 1000  # errors kept on the import (the count goes on)
_BASE_COLUMNS = {"name", "phone", "email", "tags"}


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")  # spreadsheets saved as "CSV (Windows)"


def _read_csv(raw: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """(normalized header, rows). The delimiter (`;`, `,` or tab) is the one the header uses most."""
    text = _decode(raw)
    header_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [column.strip().lower() for column in next(reader)]
    except (StopIteration, csv.Error):
        raise InvalidImportFile() from None
    if "phone" not in header:
        raise InvalidImportFile(_("The file needs a “phone” column."), fields={"file": [_("Missing column: phone.")]})
    rows = []
    try:
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            rows.append(dict(zip(header, values, strict=False)))
    except csv.Error as exc:
        raise InvalidImportFile(fields={"file": [str(exc)]}) from None
    return header, rows


def contact_import_start(*, tenant: Tenant, file, actor: User | None) -> ContactImport:
    """Checks that the file is a readable CSV with a phone column, stores it and enqueues its
    processing (after commit)."""
    from crm.tasks import contact_import_process_task

    if file.size > IMPORT_MAX_BYTES:
        raise InvalidImportFile(_("The file is too large (at most 20 MB)."))
    _read_csv(file.read())
    file.seek(0)
    contact_import = ContactImport.objects.create(tenant=tenant, file=file, created_by=actor)
    transaction.on_commit(
        lambda: contact_import_process_task.delay(contact_import_id=contact_import.pk, tenant_id=tenant.pk)
    )
    return contact_import


def _publish_import(contact_import: ContactImport) -> None:
    # The same serializer as the REST API renders (like tickets.events does for tickets).
    from crm.api.serializers import ContactImportSerializer

    events.publish(
        {events.everyone_group(contact_import.tenant_id)},
        "contact_import.updated",
        ContactImportSerializer(contact_import).data,
    )


def _batches(rows: list, size: int) -> Iterator[tuple[int, list]]:
    for start in range(0, len(rows), size):
        yield start, rows[start : start + size]


def contact_import_process(*, contact_import_id: int, batch_size: int | None = None) -> ContactImport | None:
    """Processes a pending import: rows in batches (one transaction each), duplicates merged into
    the existing contact by number, per-row errors recorded, progress saved and published after
    every batch. A second delivery of the task finds the import no longer pending and does nothing."""
    claimed = ContactImport.objects.filter(pk=contact_import_id, status=ContactImport.Status.PENDING).update(
        status=ContactImport.Status.RUNNING
    )
    if not claimed:
        return None
    contact_import = ContactImport.objects.get(pk=contact_import_id)
    try:
        with contact_import.file.open("rb") as handle:
            header, rows = _read_csv(handle.read())
    except InvalidImportFile as exc:
        contact_import.status = ContactImport.Status.FAILED
        contact_import.errors = [{"row": 1, "message": str(exc.detail)}]
        contact_import.error_count = 1
        contact_import.finished_at = timezone.now()
        contact_import.save(update_fields=["status", "errors", "error_count", "finished_at"])
        _publish_import(contact_import)
        return contact_import

    tenant = contact_import.tenant
    definitions = list(selectors.contact_field_list(tenant=tenant))
    custom_keys = [column for column in header if column in {d.key for d in definitions}]
    contact_import.total_rows = len(rows)
    contact_import.save(update_fields=["total_rows"])
    _publish_import(contact_import)

    for start, batch in _batches(rows, batch_size or IMPORT_BATCH_SIZE):
        with transaction.atomic():
            created, updated, errors = _import_batch(
                tenant=tenant, rows=batch, first_row=start + 2, definitions=definitions, custom_keys=custom_keys
            )
            contact_import.processed_rows += len(batch)
            contact_import.created_count += created
            contact_import.updated_count += updated
            contact_import.error_count += len(errors)
            room = IMPORT_MAX_ERRORS - len(contact_import.errors)
            contact_import.errors = [*contact_import.errors, *errors[: max(room, 0)]]
            contact_import.save(
                update_fields=["processed_rows", "created_count", "updated_count", "error_count", "errors"]
            )
            _publish_import(contact_import)

    contact_import.status = ContactImport.Status.COMPLETED
    contact_import.finished_at = timezone.now()
    contact_import.save(update_fields=["status", "finished_at"])
    _publish_import(contact_import)
    return contact_import


def contact_import_fail(*, contact_import_id: int, message: str) -> None:
    """Marks an import failed after an unexpected error (the task calls this)."""
    contact_import = ContactImport.objects.filter(pk=contact_import_id).first()
    if contact_import is None:
        return
    contact_import.status = ContactImport.Status.FAILED
    contact_import.finished_at = timezone.now()
    contact_import.errors = [*contact_import.errors, {"row": None, "message": message}][:IMPORT_MAX_ERRORS]
    contact_import.save(update_fields=["status", "finished_at", "errors"])
    _publish_import(contact_import)


def _split_tags(value: str) -> list[str]:
    return [name.strip() for name in re.split(r"[;,|]", value or "") if name.strip()]


def _import_batch(
    *, tenant: Tenant, rows: list[dict[str, str]], first_row: int, definitions, custom_keys: list[str]
) -> tuple[int, int, list[dict]]:
    """(created, updated, errors) for one batch. Queries: one for the contacts of the batch's
    numbers, one or two for its tags, then a savepoint + write per row."""
    phones = {normalize_phone(row.get("phone", "")) for row in rows} - {None}
    known = selectors.contacts_by_phone(tenant=tenant, phones=phones)
    tag_names = {name for row in rows for name in _split_tags(row.get("tags", ""))}
    tags_by_name = {tag.name.lower(): tag for tag in tags_resolve(tenant=tenant, refs=tag_names)} if tag_names else {}
    through = Contact.tags.through
    links: list = []
    created = updated = 0
    errors: list[dict] = []

    for offset, row in enumerate(rows):
        number = first_row + offset
        try:
            phone = phone_clean(row.get("phone", ""))
            email = (row.get("email") or "").strip()
            if email:
                validate_email(email)
            existing = known.get(phone)
            custom = custom_fields_clean(
                tenant=tenant,
                values={key: row.get(key, "") for key in custom_keys},
                definitions=definitions,
                enforce_required=existing is None,
            )
        except InvalidPhone:
            errors.append({"row": number, "message": _("Invalid phone number: “%s”.") % row.get("phone", "")})
            continue
        except DjangoValidationError:
            errors.append({"row": number, "message": _("Invalid email: “%s”.") % row.get("email", "")})
            continue
        except InvalidCustomFields as exc:
            problems = "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in exc.fields["custom_fields"].items())
            errors.append({"row": number, "message": problems})
            continue

        name = (row.get("name") or "").strip()[:200]
        contact = existing or Contact(tenant=tenant, phone=phone)
        if name:
            contact.name = name
        if email:
            contact.email = email
        contact.custom_fields = {**(contact.custom_fields or {}), **custom}
        try:
            with transaction.atomic():
                contact.save()
        except IntegrityError:
            errors.append({"row": number, "message": _("Another contact took this number meanwhile.")})
            continue
        if existing is None:
            created += 1
            for variant in brazil_ninth_digit_variants(phone) or (phone,):
                known[variant] = contact
        else:
            updated += 1
        links.extend(
            through(contact_id=contact.pk, tag_id=tags_by_name[tag.lower()].pk)
            for tag in _split_tags(row.get("tags", ""))
            if tag.lower() in tags_by_name
        )
    if links:
        through.objects.bulk_create(links, ignore_conflicts=True)
    return created, updated, errors


# --- CSV export -------------------------------------------------------------------------------

EXPORT_CHUNK_SIZE = 500


class _Echo:
    def write(self, value: str) -> str:
        return value


def contacts_csv_rows(*, tenant: Tenant, queryset, definitions: list[ContactFieldDefinition]) -> Iterator[str]:
    """CSV text (header first) for the contacts of `queryset`, read in chunks with their tags
    (prefetch_related works with iterator(chunk_size): two queries a chunk). A streaming response
    consumes this after the view has left the tenant, so each chunk is read inside it again."""
    writer = csv.writer(_Echo())
    keys = [definition.key for definition in definitions]
    yield "\ufeff" + writer.writerow(["name", "phone", "email", "tags", "opted_out", "notes", "created_at", *keys])
    contacts = queryset.prefetch_related("tags").iterator(chunk_size=EXPORT_CHUNK_SIZE)
    while True:
        with tenant_context(tenant):
            chunk = list(itertools.islice(contacts, EXPORT_CHUNK_SIZE))
        if not chunk:
            return
        yield "".join(writer.writerow(_csv_row(contact, keys)) for contact in chunk)


def _csv_row(contact: Contact, keys: list[str]) -> list[str]:
    custom = contact.custom_fields or {}
    return [
        contact.name,
        contact.phone,
        contact.email,
        ";".join(sorted(tag.name for tag in contact.tags.all())),
        "true" if contact.opted_out else "false",
        contact.notes,
        contact.created_at.isoformat(),
        *(_csv_value(custom.get(key)) for key in keys),
    ]


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
