"""Who wrote: resolving a WhatsApp sender to exactly one Contact of the tenant.

The identity is the provider's id (`wa_id`), kept verbatim. Brazilian mobiles reach us with and
without the ninth digit (`5511987654321` / `551187654321`), and a contact created by hand or by an
import may carry only its `phone`: both forms are matched against both columns, so one person never
becomes two contacts. The contact row comes back locked (`SELECT … FOR UPDATE`) for the rest of the
caller's transaction: every message of one contact is applied one at a time, which is what keeps
two simultaneous first messages from opening two tickets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError
from django.db import connection as db_connection
from django.db.models import Q

from config import sql
from crm.models import Contact
from tenants.models import Tenant
from whatsapp.phone import brazil_ninth_digit_variants

logger = logging.getLogger("crm.identity")


@dataclass(frozen=True, slots=True)
class ResolvedContact:
    contact: Contact
    created: bool
    changed: bool  # an existing contact's profile name, wa_id or phone was updated


def _lookup(*, wa_id: str, variants: tuple[str, ...]) -> Q:
    query = Q(wa_id=wa_id)
    if variants:
        query |= Q(wa_id__in=variants) | Q(phone__in=variants)
    return query


def _best(candidates: list[Contact], wa_id: str) -> Contact | None:
    """The exact wa_id first, then any wa_id variant, then a phone match; oldest first."""
    if not candidates:
        return None
    return sorted(candidates, key=lambda c: (c.wa_id != wa_id, not c.wa_id, c.pk))[0]


# The matches by wa_id and by phone are two lookups of the partial unique (tenant, wa_id) and
# (tenant, phone) indexes, with a fixed number of values (a sender has at most two phone forms;
# the lists are padded): so the prepared statement's generic plan is as good as a fresh one and
# PostgreSQL stops planning it for every message. Written as one OR over arrays, its generic plan
# read every contact of the tenant, and each message paid 0.2–0.35 ms of planning instead.
_CANDIDATES_SQL = (
    f"SELECT {sql.columns(Contact, 'c')}, "  # noqa: S608 — no value is interpolated
    f"EXISTS (SELECT 1 FROM {Contact.tags.through._meta.db_table} ct WHERE ct.contact_id = c.id) AS has_tags "
    f"FROM {Contact._meta.db_table} c WHERE c.tenant_id = %s AND c.id IN ("
    f"SELECT id FROM {Contact._meta.db_table} WHERE tenant_id = %s AND wa_id IN (%s, %s, %s) AND wa_id <> '' "
    f"UNION ALL SELECT id FROM {Contact._meta.db_table} WHERE tenant_id = %s AND phone IN (%s, %s) AND phone <> '') "
    "FOR UPDATE OF c"
)


def _padded(values: list[str], size: int) -> list[str]:
    return (values + [values[0] if values else ""] * size)[:size]


@dataclass(frozen=True, slots=True)
class SenderLookup:
    """The locked SELECT of the contacts a WhatsApp sender may be (see `_lookup`): `sql` returns
    Contact's columns (config.sql.columns order) and `has_tags`; a caller may run it inside a
    statement of its own (a CTE) and hand the rows to `contact_resolve_whatsapp(candidates=…)`."""

    wa_id: str
    phone: str | None
    variants: tuple[str, ...]
    sql: str
    params: list


def whatsapp_sender_lookup(*, tenant_id: int, wa_id: str, phone: str | None) -> SenderLookup:
    variants = brazil_ninth_digit_variants(phone) if phone else ()
    params = [tenant_id, tenant_id, *_padded([wa_id, *variants], 3), tenant_id, *_padded(list(variants), 2)]
    return SenderLookup(wa_id, phone, variants, _CANDIDATES_SQL, params)


def contacts_from_rows(rows: list[tuple]) -> list[Contact]:
    """The contacts of `SenderLookup.sql`'s rows (its columns first in each row), with `has_tags` —
    which lets the caller's real-time payloads skip a tag query for the (usual) untagged contact."""
    found = []
    for row in rows:
        contact = sql.instance(Contact, row)
        contact.has_tags = row[sql.width(Contact)]
        found.append(contact)
    return found


def _candidates_locked(lookup: SenderLookup) -> list[Contact]:
    """The tenant's contacts matching the sender, locked. Plain SQL: it runs once per received
    message, and building the ORM query cost more than running it."""
    with db_connection.cursor() as cursor:
        cursor.execute(lookup.sql, lookup.params)
        return contacts_from_rows(cursor.fetchall())


def contact_resolve_whatsapp(
    *,
    tenant: Tenant,
    wa_id: str,
    phone: str | None = None,
    profile_name: str = "",
    lookup: SenderLookup | None = None,
    candidates: list[Contact] | None = None,
) -> ResolvedContact:
    """The tenant's contact for this WhatsApp sender, created if new, locked until the transaction ends.

    `wa_id` is the provider's chat identity (digits for a phone, or a business-scoped user id / LID
    when the phone is withheld); `phone` E.164 digits only when the provider gave one.
    `profile_name` is the name the customer set — pass "" for messages the business sent itself
    (they carry the business's name), it then never renames the contact.
    `lookup` and `candidates`: the sender's lookup (`whatsapp_sender_lookup`) and the contacts it
    found, already locked, when the caller ran it inside a statement of its own.
    Must run inside a transaction.
    """
    lookup = lookup or whatsapp_sender_lookup(tenant_id=tenant.pk, wa_id=wa_id, phone=phone)
    variants = lookup.variants
    contact = _best(_candidates_locked(lookup) if candidates is None else candidates, wa_id)
    if contact is None:
        contact = Contact(tenant=tenant, wa_id=wa_id, phone=phone or "", profile_name=profile_name[:200])
        if sql.insert(contact):
            return ResolvedContact(contact, created=True, changed=False)
        # Another transaction created them a moment ago (the unique index made us wait for it).
        query = _lookup(wa_id=wa_id, variants=variants)
        contact = _best(list(Contact.objects.select_for_update().filter(query)), wa_id)
        if contact is None:
            raise IntegrityError(f"contact {wa_id} refused by a unique index, yet not found")

    changed: list[str] = []
    if profile_name and contact.profile_name != profile_name[:200]:
        contact.profile_name = profile_name[:200]
        changed.append("profile_name")
    if not contact.wa_id:
        contact.wa_id = wa_id
        changed.append("wa_id")
    if phone and not contact.phone and not Contact.objects.filter(phone=phone).exists():
        contact.phone = phone
        changed.append("phone")
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    return ResolvedContact(contact, created=False, changed=bool(changed))


def contact_rekey_whatsapp(*, contact: Contact, new_wa_id: str) -> bool:
    """The customer moved to a new number (WhatsApp's "user changed number" system message):
    the contact follows it, keeping its history. If another contact already has the new number
    they are two records of one person; merging is a human decision, so nothing changes.
    Returns whether the contact changed. The contact must be locked (contact_resolve_whatsapp)."""
    new_wa_id = "".join(ch for ch in new_wa_id if ch.isdigit())
    if not new_wa_id or new_wa_id == contact.wa_id:
        return False
    variants = brazil_ninth_digit_variants(new_wa_id) or (new_wa_id,)
    taken = Contact.objects.filter(Q(wa_id__in=variants) | Q(phone__in=variants)).exclude(pk=contact.pk).exists()
    if taken:
        logger.warning("changed number already belongs to another contact", extra={"contact": contact.pk})
        return False
    contact.wa_id = new_wa_id
    contact.phone = new_wa_id
    contact.save(update_fields=["wa_id", "phone", "updated_at"])
    return True
