"""Reads of contacts, tags, custom field definitions and imports (always within one tenant)."""

import re
import unicodedata
from collections.abc import Iterable

from django.db.models import Q, QuerySet, sql

from crm.models import Contact, ContactFieldDefinition, ContactImport, Tag
from tenants.models import Tenant
from whatsapp.phone import brazil_ninth_digit_variants, normalize_phone

# Fewer digits than this in a search are not treated as (part of) a phone number.
_MIN_PHONE_DIGITS = 4


def fold(text: str) -> str:
    """Lower case without accents: what searches compare (`João` → `joao`)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


class _LoadedTags(QuerySet):
    """`obj.tags.all()` of an object whose tags were read with it: evaluated (its results are the
    tags), its query — those tags by id, or none — built only if something asks for it. Most
    readers only iterate the results; building a Query for each ticket and contact of a list page
    cost ~1 ms of it. A clone (`.filter()`…) is an ordinary queryset of that query."""

    @property
    def query(self):
        if self._query is None:
            query = sql.Query(self.model)
            if self._result_cache:
                query.add_q(Q(pk__in=[tag.pk for tag in self._result_cache]))
            else:
                query.set_empty()
            self._query = query
        return super().query

    @query.setter
    def query(self, value):
        self._query = value


def tags_set_loaded(obj, tags: list[Tag]) -> None:
    """Keeps `tags` as the tags of `obj` (a contact or a ticket) the way `prefetch_related` keeps
    its results: `obj.tags.all()` returns them without a query, and the real-time payloads read
    them directly. The queryset around them is what `obj.tags.all()` means (those tags, or none),
    its query built on demand (`_LoadedTags`); it is not read through the tenant manager (the
    tags' ids are the filter). Adding or removing tags through the object drops it, as it drops
    prefetched results."""
    loaded = _LoadedTags.__new__(_LoadedTags)
    loaded.__dict__.update(_QUERYSET_DEFAULTS, _hints={}, _known_related_objects={})
    loaded._result_cache, loaded._prefetch_done = tags, True
    obj._prefetched_objects_cache = {**getattr(obj, "_prefetched_objects_cache", {}), "tags": loaded}


# A new queryset of tags' attributes but its query (QuerySet.__init__ builds one).
_QUERYSET_DEFAULTS = {**vars(QuerySet(model=Tag)), "_query": None}


def contact_list(*, tenant: Tenant) -> QuerySet[Contact]:
    """The tenant's contacts with their tags prefetched (what the API and events render)."""
    return Contact.objects.filter(tenant=tenant).prefetch_related("tags")


def contact_search(queryset: QuerySet[Contact], query: str) -> QuerySet[Contact]:
    """Name and profile name (case- and accent-insensitive) or number (formatting-insensitive:
    `+55 (11) 98765-4321` finds `5511987654321`, and both Brazilian ninth-digit forms match)."""
    query = query.strip()
    if not query:
        return queryset
    condition = Q(search_text__contains=fold(query))
    digits = re.sub(r"\D", "", query)
    if len(digits) >= _MIN_PHONE_DIGITS:
        condition |= Q(phone__contains=digits) | Q(wa_id__contains=digits)
        variants = brazil_ninth_digit_variants(normalize_phone(query))
        if variants:
            condition |= Q(phone__in=variants) | Q(wa_id__in=variants)
    return queryset.filter(condition)


def contact_get_by_phone(*, tenant: Tenant, phone: str, exclude_id: int | None = None) -> Contact | None:
    """The contact with this number in either Brazilian ninth-digit form, if any."""
    variants = brazil_ninth_digit_variants(phone) or (phone,)
    contacts = Contact.objects.filter(tenant=tenant, phone__in=variants)
    if exclude_id is not None:
        contacts = contacts.exclude(pk=exclude_id)
    return contacts.order_by("pk").first()


def contacts_by_phone(*, tenant: Tenant, phones: Iterable[str]) -> dict[str, Contact]:
    """{number variant: contact} for every contact whose number is one of `phones` in either
    ninth-digit form, in one query (tags prefetched)."""
    wanted = {variant for phone in phones for variant in (brazil_ninth_digit_variants(phone) or (phone,))}
    found: dict[str, Contact] = {}
    for contact in Contact.objects.filter(tenant=tenant, phone__in=wanted).prefetch_related("tags"):
        for variant in brazil_ninth_digit_variants(contact.phone) or (contact.phone,):
            found.setdefault(variant, contact)
    return found


def tag_list(*, tenant: Tenant) -> QuerySet[Tag]:
    return Tag.objects.filter(tenant=tenant)


def contact_field_list(*, tenant: Tenant) -> QuerySet[ContactFieldDefinition]:
    return ContactFieldDefinition.objects.filter(tenant=tenant)


def contact_import_list(*, tenant: Tenant) -> QuerySet[ContactImport]:
    return ContactImport.objects.filter(tenant=tenant).select_related("created_by")
